"""A trained noise-to-digit generator, as the Python API hands it out.

    >>> import digitgan
    >>> g = digitgan.load("cdcgan")                  # or a run folder: "runs/00001-cdcgan"
    >>> sevens = g.sample(64, digit=7, seed=0)
    >>> g.grid(digit=7).save("sevens.png")           # doctest: +SKIP

``sample`` returns exactly the digits ``digitgan sample RUN --seed S --out x.npz`` writes,
and ``grid`` the picture ``--out x.png`` writes: the command calls these.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digitgan.basics.images import grid_png_bytes
from digitgan.config.train_config import TrainConfig
from digitgan.generation.sampling import requested_labels
from digitgan.models.draw import generate


class Generator:
    """G of a run folder (its EMA copy where it kept one) and the run's config.

    ``conditional``: whether it draws the digit asked for; ``name``: where it came from.

    >>> g = digitgan.load("cdcgan")
    >>> g.sample(10, digit=3).shape
    (10, 28, 28)
    """

    def __init__(self, G: torch.nn.Module, cfg: TrainConfig, name: str) -> None:
        self.G, self.cfg, self.name = G, cfg, name

    @property
    def conditional(self) -> bool:
        return self.cfg.conditional

    def __repr__(self) -> str:
        kind = "conditional" if self.conditional else "unconditional"
        return f"<digitgan.Generator {self.name}: {self.cfg.preset}, {kind}>"

    def draw(
        self, n: int, digit: int | None = None, seed: int = 0, per_digit: bool = False, as_uint8: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None, int]:
        """(images (N, 1, 28, 28), their labels or None, grid columns or 0) for ``n`` digits:
        of ``digit``, a row of ``n`` per digit with ``per_digit``, or balanced digits."""
        labels, nrow = requested_labels(self.cfg, n, digit, per_digit, name=self.name)
        total = n * 10 if per_digit else n
        return generate(self.G, total, seed, self.cfg.latent_dim, labels, as_uint8=as_uint8), labels, nrow

    def sample(
        self, n: int = 64, digit: int | None = None, seed: int = 0, per_digit: bool = False
    ) -> np.ndarray:
        """``n`` digits as uint8 (n, 28, 28), 0 the background (n rows of 10 with ``per_digit``).

        >>> digitgan.load("cdcgan").sample(3, digit=7).dtype
        dtype('uint8')
        """
        images, _, _ = self.draw(n, digit, seed, per_digit)
        return images[:, 0].numpy()

    def grid_png(
        self, n: int = 64, digit: int | None = None, seed: int = 0, per_digit: bool = False
    ) -> bytes:
        """The PNG of ``grid``, as ``digitgan sample --out x.png`` writes it."""
        images, _, nrow = self.draw(n, digit, seed, per_digit, as_uint8=False)
        return grid_png_bytes(images, nrow or None)

    def grid(
        self, n: int = 64, digit: int | None = None, seed: int = 0, per_digit: bool = False
    ) -> Image.Image:
        """``n`` digits in a grid, a PIL image (a notebook shows it inline).

        >>> digitgan.load("cdcgan").grid(per_digit=True, n=8).size   # 8 columns, 10 rows
        (242, 302)
        """
        return Image.open(io.BytesIO(self.grid_png(n, digit, seed, per_digit)))

    @classmethod
    def from_run(
        cls, run_dir: str | Path, device: str = "cpu", raw: bool = False, truncation: float | None = None
    ) -> Generator:
        """A run folder's generator on ``device``: its EMA weights unless ``raw``, drawing with
        ``truncation`` (default: the run's)."""
        from digitgan.basics.device import resolve_device
        from digitgan.runs.checkpoint import load_generator

        G, cfg = load_generator(Path(run_dir), resolve_device(device), use_ema=not raw, truncation=truncation)
        return cls(G, cfg, Path(run_dir).name)
