"""Hand-written CPU fast paths, importing only PyTorch: fused layers, minibatch standard
deviation, the tutorial GAN's step with its backward written out, Adam with less
bookkeeping, and the arithmetic (bf16, channels_last) a step runs in. Each is held equal to
PyTorch's own op by a test in tests/fast/.
"""
