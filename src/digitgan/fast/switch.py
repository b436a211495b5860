"""The one switch of the fast paths. On by default; ``DIGITGAN_FAST=0`` in the environment
(or :func:`set_enabled`) makes every one of them fall back to PyTorch's own op, with the
same weights and the same function: the transposed convolutions and the flatten to their
``nn`` parent's forward, the minibatch spread to ``torch.std`` through autograd, and the
tutorial GAN's step to autograd (training/seed_step.py asks here).

    DIGITGAN_FAST=0 digitgan train --preset dcgan --epochs 1    # is it the kernels?

A run trained either way loads and continues the other way: the weights are the same
tensors. Only the speed, and float rounding, differ.
"""

from __future__ import annotations

import os

_enabled = os.environ.get("DIGITGAN_FAST", "1") != "0"


def enabled() -> bool:
    return _enabled


def set_enabled(flag: bool) -> bool:
    """Switch the fast paths on or off for this process; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous
