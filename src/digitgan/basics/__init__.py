"""The bottom layer: errors, file writes, image conversion, output-path rules, the device and
its random number generators, and torch.distributed's helpers. Imports nothing above it.
"""
