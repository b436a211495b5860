"""The one training loop and the GAN family it trains: the Family protocol, preparing a run,
its saves, the state both families pack the same way, and which runs take the hand-written
step.
"""
