"""digitgan: generative adversarial networks that draw handwritten digits."""

__version__ = "0.1.0"
