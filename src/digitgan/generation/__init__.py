"""Using a trained generator: sample and interpolate, ONNX export, and synthetic data sets in
MNIST's format.
"""
