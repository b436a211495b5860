"""Comparing two float32 computations of the same thing, on any CPU.

Two kernels for the same product (a different blocking, vector width or summation order:
AVX2 vs AVX-512, oneDNN vs ATen, one 200-row product vs two 100-row ones) round
differently, and a GAN trajectory amplifies those differences step after step. So a
comparison starts both paths from the *same* state, takes one step with each, and allows
what float32 rounding of that one step can produce:

- a sum of K products, with rounding errors of random sign, is off by about sqrt(K) units
  in the last place, norm-wise (Higham, Accuracy and Stability of Numerical Algorithms,
  2nd ed., ch. 3); the tutorial's widest product has K = 784, and a gradient passes
  through up to six products on its way back (D's three layers, then G's three);
- so two float32 paths may differ by 6 * sqrt(784) * eps ~ 2e-5 of a tensor's norm. What
  was measured from the same state: at most 3.1 eps ~ 4e-7, on an AMD EPYC (Zen 4) with
  every kernel path (ATEN_CPU_CAPABILITY default, avx2, avx512; ONEDNN_MAX_CPU_ISA=AVX2),
  so the bound has a 50x margin, while a real error (a 1% wrong gradient) is 500x over it.
"""

from __future__ import annotations

import math

import torch

EPS = torch.finfo(torch.float32).eps
ROUNDING = 6 * math.sqrt(784) * EPS  # ~2.0e-5: relative, norm-wise


def assert_rounding_close(actual: torch.Tensor, expected: torch.Tensor, what: str, ord: int = 2) -> None:
    """``||actual - expected|| <= ROUNDING * ||expected||`` in the ``ord`` norm. L1 for Adam
    updates: an update is about lr * sign(g), and a gradient element within rounding of
    zero may flip its sign, which L1 spreads over the tensor instead of letting one element
    dominate."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} vs {expected.shape}"
    a, e = actual.detach().double().reshape(-1), expected.detach().double().reshape(-1)
    diff, scale = torch.linalg.vector_norm(a - e, ord), torch.linalg.vector_norm(e, ord)
    assert diff <= ROUNDING * scale, (
        f"{what}: differs by {float(diff / scale):.3g} of its norm (rounding allows {ROUNDING:.3g})"
    )
