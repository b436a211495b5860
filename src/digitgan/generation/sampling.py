"""What ``digitgan sample`` and ``interpolate`` make of a generator's digits (models/draw.py draws
them): the request checked, .png grids and .npz arrays written, latent walks, the labels a
request asks for. Shared by the CLI and the web server.

digitgan sample runs/00001-seed --n 100 --seed 0 --out digits.png
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from torch import nn

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.images import grid_png_bytes, to_uint8, walk_gif_bytes
from digitgan.basics.safe_output import check_output_file
from digitgan.config.train_config import TrainConfig
from digitgan.models.draw import sample_labels

MAX_PNG = 10_000  # a 100 x 100 grid; more is not something a person looks at
MAX_NPZ = 100_000  # 78 MB of uint8 digits, generated chunk by chunk: bounded memory


def write_samples(
    images: torch.Tensor, out: Path, labels: torch.Tensor | None = None, nrow: int | None = None
) -> None:
    """Write ``images`` as a PNG grid or as an ``.npz`` with ``images`` (N, 28, 28) uint8 and,
    for conditional samples, ``labels`` (N,)."""
    out = Path(out)
    if out.suffix == ".png":
        atomic_write_bytes(out, grid_png_bytes(images, nrow))
    else:
        arrays = {"images": (images if images.dtype == torch.uint8 else to_uint8(images))[:, 0].numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy().astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        atomic_write_bytes(out, buffer.getvalue())


def check_sample_request(n: int, out: Path, per_digit: bool = False, force: bool = False) -> None:
    """Validate before anything is generated or written: ``n`` digits (rows of ``n`` for
    each digit with ``per_digit``) into ``out``, an existing one only with ``force``."""
    out = check_output_file(out, "--out", (".png", ".npz"), force)
    limit = MAX_PNG if out.suffix == ".png" else MAX_NPZ
    rows = 10 if per_digit else 1
    if not 1 <= n * rows <= limit:
        each = " with --per-digit (a row of N for each of the 10 digits)" if per_digit else ""
        raise UserError(f"--n must be between 1 and {limit // rows:,}{each} for a {out.suffix} file, got {n}")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between vectors ``a`` and ``b`` (D,) at fractions ``t`` (S,):
    (S, D). Gaussian latents concentrate near a sphere, where a straight line would cut
    through the low-density interior (White 2016)."""
    cos = torch.dot(a / a.norm(), b / b.norm()).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-6:  # (anti)parallel: the straight line is the arc
        return torch.lerp(a, b, t[:, None])
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so)[:, None] * a + (torch.sin(t * omega) / so)[:, None] * b


@torch.no_grad()
def interpolate(
    G: nn.Module,
    latent_dim: int,
    steps: int,
    seeds: tuple[int, int] | None = None,
    digits: tuple[int, int] | None = None,
    seed: int = 0,
    digit: int = 0,
) -> torch.Tensor:
    """A latent walk, (steps, 1, 28, 28): between the noise of ``seeds`` (slerp), holding the
    digit fixed for conditional models and moving between the two ends' cluster embeddings
    for self-conditioned ones (so the walk is smooth; within the digit when conditional with
    clusters); or between two ``digits``' label
    embeddings (linear), holding the noise of ``seed`` fixed."""
    t = torch.linspace(0, 1, steps)
    device = next(G.parameters()).device
    conditional = getattr(G, "conditional", False)
    if digits is not None:
        z = torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(seed)).expand(steps, -1)
        classes = G.classes_of(z[:2].to(device), torch.tensor(digits, device=device))  # (2,)
        ends = G.embed(classes).cpu()  # (2, E)
        vectors = torch.lerp(ends[0], ends[1], t[:, None])
        return G.decode(G.truncated(z.to(device)), vectors.to(device)).cpu()
    assert seeds is not None
    a, b = (torch.randn(latent_dim, generator=torch.Generator().manual_seed(s)) for s in seeds)
    z = slerp(a, b, t)
    if getattr(G, "cluster_cdf", None) is not None:
        ends_digit = torch.full((2,), digit, device=device) if conditional else None
        ends = G.embed(G.classes_of(torch.stack([a, b]).to(device), ends_digit)).cpu()  # (2, E)
        return G.decode(G.truncated(z.to(device)), torch.lerp(ends[0], ends[1], t[:, None]).to(device)).cpu()
    labels = torch.full((steps,), digit, device=device) if conditional else None
    return G(z.to(device), labels).cpu()


def check_walk(cfg: TrainConfig, digits: tuple[int, int] | None, name: str) -> None:
    """A walk between digits needs a conditional run: for ``digitgan interpolate`` and the server."""
    if digits is not None and not cfg.conditional:
        raise UserError(
            f"{name} is an unconditional run ({cfg.preset}): a walk between digits needs cgan or cdcgan"
        )


def strip_and_gif(images: torch.Tensor, png: Path, gif: Path) -> None:
    """Write a walk as a one-row PNG strip and as a GIF that goes there and back."""
    atomic_write_bytes(png, grid_png_bytes(images, nrow=images.shape[0]))
    atomic_write_bytes(gif, walk_gif_bytes(images))


def requested_labels(
    cfg: TrainConfig, n: int, digit: int | None = None, per_digit: bool = False, name: str = "this run"
) -> tuple[torch.Tensor | None, int]:
    """What a request for ``n`` digits draws, for ``digitgan sample`` and the server alike:
    (labels or None, grid columns or 0 for square-ish). ``digit``: n of that digit;
    ``per_digit``: one row of n per digit 0-9; neither: balanced digits (conditional runs)."""
    if digit is not None and (isinstance(digit, bool) or digit not in range(10)):
        raise UserError(f"the digit must be a whole number 0-9, got {digit!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UserError(f"n must be a whole number of digits, 1 or more, got {n!r}")
    if (digit is not None or per_digit) and not cfg.conditional:
        raise UserError(
            f"{name} is an unconditional run ({cfg.preset}): it cannot choose digits; "
            "train a conditional preset such as cgan or cdcgan"
        )
    if digit is not None:
        return torch.full((n,), digit), 0
    if per_digit:
        return torch.arange(10).repeat_interleave(n), n  # row d holds digit d
    return sample_labels(cfg, n), 0
