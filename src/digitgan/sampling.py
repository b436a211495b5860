"""Seeded generation and image grids, shared by the CLI, evaluation and (later) the web demo.

digitgan sample runs/00001-seed --n 100 --seed 0 --out digits.png
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.utils import save_image

from digitgan.checkpoint import atomic_write_bytes
from digitgan.data import to_uint8
from digitgan.errors import UserError

MAX_PNG = 10_000  # a 100 x 100 grid; more is not something a person looks at
MAX_NPZ = 1_000_000
CHUNK = 10_000


def denorm(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the tutorial's ``denorm``."""
    return ((x + 1) / 2).clamp(0, 1)


@torch.no_grad()
def generate(
    G: nn.Module, n: int, seed: int, latent_dim: int, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """``n`` images (n, 1, 28, 28) in [-1, 1] on the CPU, of the digits ``labels`` (n,) for a
    conditional G. The noise is drawn on the CPU from its own generator, so the same seed
    gives the same digits on any device. G is used as it is (call ``.eval()`` first)."""
    device = next(G.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    label_chunks = labels.split(CHUNK) if labels is not None else [None] * len(z.split(CHUNK))
    return torch.cat(
        [
            G(chunk.to(device), None if y is None else y.to(device)).float().cpu()
            for chunk, y in zip(z.split(CHUNK), label_chunks, strict=True)
        ]
    )


def grid_png_bytes(images: torch.Tensor, nrow: int | None = None) -> bytes:
    """A PNG grid of ``images`` (B, 1, 28, 28) in [-1, 1]; square-ish unless ``nrow`` is given."""
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    buffer = io.BytesIO()
    save_image(denorm(images), buffer, format="png", nrow=nrow)
    return buffer.getvalue()


def write_samples(
    images: torch.Tensor, out: Path, labels: torch.Tensor | None = None, nrow: int | None = None
) -> None:
    """Write ``images`` as a PNG grid or as an ``.npz`` with ``images`` (N, 28, 28) uint8 and,
    for conditional samples, ``labels`` (N,)."""
    out = Path(out)
    if out.suffix == ".png":
        atomic_write_bytes(out, grid_png_bytes(images, nrow))
    else:
        arrays = {"images": to_uint8(images)[:, 0].numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy().astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(out, buffer.getvalue())


def check_sample_request(n: int, out: Path) -> None:
    """Validate before anything is generated or written."""
    out = Path(out)
    if out.suffix not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a grid) or .npz (an array), got {out}")
    limit = MAX_PNG if out.suffix == ".png" else MAX_NPZ
    if not 1 <= n <= limit:
        raise UserError(f"--n must be between 1 and {limit:,} for a {out.suffix} file, got {n}")
    if not out.parent.is_dir():
        raise UserError(f"folder {out.parent} does not exist; create it or choose another --out")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in .png or .npz")
