"""Typed training digits distorted as type really varies, for CycleGAN's typed domain
(``--typed-augment``): each digit is slanted, turned, narrowed or widened and scaled by its
own random affine map, and its strokes are made bolder or lighter, so that the translator
meets more shapes of each digit than the training fonts draw.

    python -c "import torch; from digitgan.cyclegan.typed_augment import distort; print(distort(torch.zeros(2, 1, 28, 28) - 1, torch.Generator()).shape)"

The typed data set (data/typed.py) already varies each printed digit a little; this varies
it again at every step, on the batch, so that no two epochs show the same digit. Every draw
comes from the family's typed-digit generator, whose state a run saves, so that a resumed
run draws the same distortions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_SLANT = 0.3  # horizontal shear (tan of about 17 degrees); y runs down, so < 0 leans right
MAX_TURN = math.radians(8)
WIDTH = (0.75, 1.15)  # condensed to extended
SCALE = (0.85, 1.05)


def uniform(low: float, high: float, n: int, rng: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=rng)


def affine_maps(n: int, rng: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) maps from output to input coordinates (affine_grid's convention): a slant,
    a turn, a width and a size per digit."""
    slant = uniform(-MAX_SLANT, MAX_SLANT, n, rng)
    turn = uniform(-MAX_TURN, MAX_TURN, n, rng)
    width, scale = uniform(*WIDTH, n, rng), uniform(*SCALE, n, rng)
    cos, sin = torch.cos(turn), torch.sin(turn)
    # forward map: scale (width on x), shear x by slant, rotate; the grid needs its inverse
    forward = torch.zeros(n, 2, 2)
    forward[:, 0, 0], forward[:, 0, 1] = width * scale, slant * scale
    forward[:, 1, 1] = scale
    rotate = torch.stack((torch.stack((cos, -sin), 1), torch.stack((sin, cos), 1)), 1)
    inverse = torch.linalg.inv(rotate @ forward)
    return torch.cat((inverse, torch.zeros(n, 2, 1)), dim=2)


def stroke_weight(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Per digit: 0 lighter (half an erosion), 1 as it is, 2 bolder (half a dilation); ink is
    high in [-1, 1], so dilation is a 3 x 3 max and erosion a 3 x 3 min."""
    bold = 0.5 * (x + F.max_pool2d(x, 3, 1, 1))
    light = 0.5 * (x - F.max_pool2d(-x, 3, 1, 1))
    pick = choice.view(-1, 1, 1, 1).to(x.device)
    return torch.where(pick == 2, bold, torch.where(pick == 0, light, x))


def distort(typed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """``typed`` (B, 1, 28, 28) in [-1, 1] -> each digit distorted by its own draw from
    ``rng`` (a CPU generator), background -1 where the map reaches past the edge."""
    n = typed.shape[0]
    maps, strokes = affine_maps(n, rng), torch.randint(3, (n,), generator=rng)
    grid = F.affine_grid(maps.to(typed.device, typed.dtype), list(typed.shape), align_corners=False)
    moved = F.grid_sample(typed + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
    return stroke_weight(moved, strokes)
