"""The digitgan command: its parser, the flags of train (derived from TrainConfig's fields),
and one function per command.
"""
