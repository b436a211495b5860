"""Digits drawn from a generator with a seed: the noise drawn on the CPU from its own
generator (the same seed gives the same digits on any device), balanced labels for a
conditional one, in chunks so that many digits take bounded memory. Below everything that
draws: training's fixed-noise grids, sample, serve, evaluate, dataset.

    python -c "from digitgan.models.draw import sample_labels; from digitgan.config.presets import make_config; print(sample_labels(make_config('cgan'), 12))"
"""

from __future__ import annotations

import torch
from torch import nn

from digitgan.basics.images import to_uint8
from digitgan.config.train_config import TrainConfig

CHUNK = 10_000


@torch.no_grad()
def generate(
    G: nn.Module,
    n: int,
    seed: int,
    latent_dim: int,
    labels: torch.Tensor | None = None,
    as_uint8: bool = False,
) -> torch.Tensor:
    """``n`` images (n, 1, 28, 28) in [-1, 1] on the CPU, of the digits ``labels`` (n,) for a
    conditional G; uint8 (0 = background) with ``as_uint8``, converted chunk by chunk so that
    many digits take a byte each, not four. The noise is drawn on the CPU from its own
    generator, so the same seed gives the same digits on any device. G runs in eval mode
    (BatchNorm's running statistics) and is left in the mode it was in."""
    device = next(G.parameters()).device
    convert = to_uint8 if as_uint8 else (lambda x: x)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    label_chunks = labels.split(CHUNK) if labels is not None else [None] * len(z.split(CHUNK))
    was_training = G.training
    G.eval()
    try:
        return torch.cat(
            [
                convert(G(chunk.to(device), None if y is None else y.to(device)).float().cpu())
                for chunk, y in zip(z.split(CHUNK), label_chunks, strict=True)
            ]
        )
    finally:
        G.train(was_training)


def sample_labels(cfg: TrainConfig, n: int) -> torch.Tensor | None:
    """Balanced digits 0, 1, ..., 9, 0, 1, ... for conditional models; None otherwise."""
    return torch.arange(n) % 10 if cfg.conditional else None


def fixed_grid(G: nn.Module, cfg: TrainConfig) -> torch.Tensor:
    """The 100 digits a run draws from the same noise every epoch (rows are the digits 0-9
    when conditional), for its progress grid."""
    labels = torch.arange(100) // 10 if cfg.conditional else None
    return generate(G, 100, seed=cfg.seed + 3, latent_dim=cfg.latent_dim, labels=labels)


def eval_digits(G: nn.Module, cfg: TrainConfig, n: int) -> torch.Tensor:
    """n digits from fixed noise for the evaluation during training, (n, 1, 28, 28)."""
    return generate(G, n, seed=cfg.seed, latent_dim=cfg.latent_dim, labels=sample_labels(cfg, n))
