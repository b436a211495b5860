"""The exponential moving average of G's weights, and the BatchNorm statistics of its own
that the averaged G is sampled with.

    python -c "import torch; from digitgan.models.ema import EMA; e = EMA(torch.nn.Linear(2, 2), 0.999); print(e.current_decay())"
"""

from __future__ import annotations

import copy

import torch

from digitgan.config.train_config import TrainConfig


class EMA:
    """An exponential moving average of a module's weights, kept as a frozen copy in eval mode:
    after every G update, ema = d * ema + (1 - d) * weights with d = min(decay, (1 + t) /
    (10 + t)) at update t, so that early on the average is not dominated by the random
    initial weights (the warm-up of TensorFlow's ExponentialMovingAverage). Buffers
    (BatchNorm's running statistics) are copied, not averaged."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0
        self._ema_params = list(self.module.parameters())
        self._sampler: tuple[int, torch.nn.Module | None] = (-1, None)

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        weight = 1 - self.current_decay()
        self.updates += 1
        torch._foreach_lerp_(self._ema_params, list(module.parameters()), weight)
        for mine, theirs in zip(self.module.buffers(), module.buffers(), strict=True):
            mine.copy_(theirs)

    def sampler(self, cfg: TrainConfig) -> torch.nn.Module:
        """The averaged G to draw digits with, with BatchNorm statistics of its own
        (:func:`with_standing_statistics`), computed once per update count."""
        if self._sampler[0] != self.updates:
            self._sampler = (self.updates, with_standing_statistics(self.module, cfg))
        return self._sampler[1]


STANDING_BATCHES = 20  # batches of G's own digits that set its EMA copy's BatchNorm statistics


@torch.no_grad()
def with_standing_statistics(G: torch.nn.Module, cfg: TrainConfig) -> torch.nn.Module:
    """A copy of G in eval mode whose BatchNorm statistics are its own: the EMA averages
    weights but copies the running statistics of the raw G, which belong to other weights.
    BigGAN's "standing statistics" (Brock et al. 2019): G runs in train mode on
    STANDING_BATCHES batches from its own noise stream, and each statistic is their plain
    average. Measured on a cdcgan run (AMD EPYC): FID 7.45 -> 6.38, precision 0.703 -> 0.720.
    G itself, and every training stream, is left untouched; a G without BatchNorm is
    returned as it is."""
    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules()):
        return G
    G = copy.deepcopy(G).train()
    for m in G.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
    device = next(G.parameters()).device
    rng = torch.Generator(device=device).manual_seed(cfg.seed + 7)
    for _ in range(STANDING_BATCHES):
        labels = None
        if cfg.conditional:
            labels = torch.randint(0, 10, (cfg.batch_size,), device=device, generator=rng)
        G(torch.randn(cfg.batch_size, cfg.latent_dim, device=device, generator=rng), labels)
    return G.eval()
