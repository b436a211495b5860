"""Images between their forms: uint8 digits (0 = background, as MNIST stores them), the
models' range [-1, 1], and the PNG grids and GIFs that people look at. One place for every
conversion, below everything that reads, draws or serves digits.

    python -c "import torch; from digitgan.basics.images import to_uint8; print(to_uint8(torch.tensor([-1., 0., 1.])))"
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from PIL import Image


def check_digits(images: np.ndarray, what: str = "digits") -> np.ndarray:
    """``images`` as MNIST's files hold digits, uint8 (N, 28, 28) with 0 the background, or
    the one-line error naming what they are instead."""
    from digitgan.basics.errors import UserError

    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(
            f"{what} must be uint8 N x 28 x 28 (0 = background), got {images.dtype} {images.shape}"
        )
    return images


def to_model_range(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B, ...) -> float32 in [-1, 1], the same arithmetic as the tutorial's
    ``ToTensor()`` (x / 255) followed by ``Normalize(mean=0.5, std=0.5)`` ((x - 0.5) / 0.5)."""
    return batch_u8.float().div_(255).sub_(0.5).div_(0.5)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Model output in [-1, 1] -> uint8 with 0 = background, rounded as ``save_image`` does."""
    x = (images.detach().float() + 1) / 2  # the tutorial's denorm
    return x.clamp_(0, 1).mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)


def denorm(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], the tutorial's ``denorm``."""
    return ((x + 1) / 2).clamp(0, 1)


def grid_png_bytes(images: torch.Tensor, nrow: int | None = None) -> bytes:
    """A one-channel PNG grid of ``images`` (B, 1, 28, 28) in [-1, 1], laid out and rounded as
    torchvision's ``save_image`` does (2 px padding); square-ish unless ``nrow`` is given."""
    nrow = nrow or max(1, math.ceil(math.sqrt(images.shape[0])))
    grid = tile(denorm(images)[:, 0], nrow)
    return png_bytes(grid.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8).numpy())


def tile(images: torch.Tensor, nrow: int, padding: int = 2) -> torch.Tensor:
    """(B, H, W) -> one (H', W') picture, ``nrow`` images a row with ``padding`` zeros around
    each: torchvision's ``make_grid`` for one channel (tests/basics hold them equal). Written
    here because importing torchvision costs every command 2.6 s (it imports torch._dynamo)."""
    count, height, width = images.shape
    if count == 1:
        return images[0]  # make_grid's one image: no padding
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    step_y, step_x = height + padding, width + padding
    grid = images.new_zeros(rows * step_y + padding, cols * step_x + padding)
    for i, image in enumerate(images):
        y, x = padding + (i // cols) * step_y, padding + (i % cols) * step_x
        grid[y : y + height, x : x + width] = image
    return grid


def png_bytes(pixels: np.ndarray) -> bytes:
    """A one-channel PNG of uint8 ``pixels`` (H, W)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="png")
    return buffer.getvalue()


def walk_gif_bytes(images: torch.Tensor) -> bytes:
    """A walk (S, 1, 28, 28) in [-1, 1] as a GIF at 4x that goes there and back."""
    frames = [Image.fromarray(f.numpy()).resize((112, 112), Image.NEAREST) for f in to_uint8(images)[:, 0]]
    frames = frames + frames[-2:0:-1]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)
    return buffer.getvalue()
