"""The digits a run trains and is scored on: the data set registry, MNIST-format IDX files read
and written, and typed digits rendered from fonts.
"""
