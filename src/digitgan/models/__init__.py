"""The GAN networks (MLP and convolutional, conditional or not), the EMA of G, and drawing
digits from a generator with a seed.
"""
