"""What the training loop uses of a model family, all of it and nothing more, and which family
a config gets. Both families have it (a test holds them to it): gan_family.GanFamily (the
noise-to-digit GANs) and cyclegan.cycle_family.CycleFamily (CycleGAN). A new family implements
these, and build_family names it.

    python -c "from digitgan.training.family import Family; print(*Family.__annotations__)"
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

import torch
from torch import nn

from digitgan.config.train_config import TrainConfig
from digitgan.fast.arithmetic import Arithmetic


@runtime_checkable
class Family(Protocol):
    arith: Arithmetic  # the arithmetic of its steps (bf16, channels_last), said in the log

    def step(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update on a batch of real digits in [-1, 1]: losses and ``fake`` for the grid."""

    def scalars(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """The log line's numbers from a step's output (read from the device only here)."""

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything a resume needs: tensors, and JSON for the rest."""

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> str | None:
        """Restore :meth:`state`; a note for the log, or None."""

    def finite(self) -> bool:
        """Are all weights finite (a state that is not must never be saved)?"""

    def batch_statistics(self) -> list[torch.Tensor]:
        """Running statistics, averaged over the ranks under torchrun before a save."""

    def snapshot(self) -> dict[str, nn.Module]:
        """The inference weights, by file name."""

    def fixed_images(self) -> tuple[torch.Tensor, int]:
        """The epoch's grid from fixed inputs, and its row length."""

    def eval_images(self, n: int) -> torch.Tensor:
        """``n`` digits from fixed inputs for --eval-every."""


def build_family(cfg: TrainConfig, device: torch.device, total_steps: int, stream: TextIO) -> Family:
    """The model family's step and state: a GAN's (training/gan_family.py) or CycleGAN's (cyclegan/cycle_family.py)."""
    if cfg.family == "cyclegan":
        from digitgan.cyclegan.cycle_family import CycleFamily

        return CycleFamily(cfg, device, total_steps, stream)
    from digitgan.training.gan_family import GanFamily

    return GanFamily(cfg, device, total_steps=total_steps)
