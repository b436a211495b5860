"""Generators and discriminators. Every generator is ``G(z, labels=None)`` -> (B, 1, 28, 28)
in [-1, 1]; every discriminator is ``D(x, labels=None)`` -> (B,) logits.

    python -c "from digitgan.networks import build_networks; from digitgan.config import make_config; print(*build_networks(make_config('seed')), sep='\\n')"

Discriminators return logits rather than probabilities: ``Sigmoid`` + ``BCELoss`` (the
tutorial) and ``BCEWithLogitsLoss`` are the same function, and the latter is stable.
"""

from __future__ import annotations

import torch
from torch import nn

from digitgan.config import TrainConfig

IMAGE_SIZE = 28 * 28


class MLPGenerator(nn.Module):
    """The tutorial's G: Linear(z, h)-ReLU-Linear(h, h)-ReLU-Linear(h, 784)-Tanh."""

    def __init__(self, latent_dim: int = 64, hidden_dim: int = 256) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, IMAGE_SIZE),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)  # (B, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """The tutorial's D without its final Sigmoid:
    Linear(784, h)-LeakyReLU(0.2)-Linear(h, h)-LeakyReLU(0.2)-Linear(h, 1)."""

    batch_independent = True  # no batch statistics: real and fake may share one call

    def __init__(self, hidden_dim: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(IMAGE_SIZE, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], IMAGE_SIZE)).view(-1)  # (B,) logits


def build_networks(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """(G, D) for ``cfg.arch``, initialised from torch's current RNG state."""
    builders = {
        "mlp": lambda: (MLPGenerator(cfg.latent_dim, cfg.hidden_dim), MLPDiscriminator(cfg.hidden_dim)),
    }
    return builders[cfg.arch]()


def build_generator(cfg: TrainConfig) -> nn.Module:
    return build_networks(cfg)[0]
