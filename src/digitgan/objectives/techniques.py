"""The terms and draws a GAN adds to its objective, each switched by one setting: paired
draws with mode seeking (--mode-seeking), top-k training (--top-k), lazy R1 (--r1-gamma,
--r1-every) and AC-GAN's class loss (--aux-classifier). Each is 0 (or a no-op) when off.

    python -c "import torch; from digitgan.objectives.techniques import top_k_keep; print(top_k_keep(0.5, 64, 50, 100))"

training/gan_family.py calls them around the objective of objectives/losses.py; the
self-conditioning clusters (--clusters) are in objectives/clusters.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def paired(
    z: torch.Tensor, labels: torch.Tensor | None, clusters: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The batch's second half draws the same digits (or clusters, picked by z_0) as its
    first, with other noise: the pairs :func:`mode_seeking_term` compares."""
    h = z.shape[0] // 2
    z = z.clone()
    if clusters:
        z[h : 2 * h, 0] = z[:h, 0]  # z_0 picks the cluster
    if labels is not None:
        labels = torch.cat([labels[:h], labels[:h], labels[2 * h :]])
    return z, labels


def mode_seeking_term(weight: float, z: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | float:
    """Mode seeking (Mao et al. 2019): weight / (mean |G(z1) - G(z2)| / mean |z1 - z2|) over
    the pairs of :func:`paired`, so that G cannot map different noise for one digit to one
    drawing."""
    if not weight:
        return 0.0
    h = z.shape[0] // 2
    ratio = (fake[:h] - fake[h : 2 * h]).abs().mean() / (z[:h] - z[h : 2 * h]).abs().mean()
    return weight / (ratio + 1e-5)


def top_k_keep(top_k: float, batch: int, done: int, total: int | None) -> int | None:
    """Top-k training (Sinha et al. 2020): how many of a G step's ``batch`` fakes G learns
    from, a share going linearly from 1 to ``top_k`` as ``done`` of ``total`` D steps pass
    (``top_k`` from the start when ``total`` is not known); None (all) when off. Under
    torchrun each rank keeps its share of its own slice."""
    if top_k == 1:
        return None
    progress = min(1.0, done / total) if total else 1.0
    return max(1, round(batch * (1 - (1 - top_k) * progress)))


def r1_penalty(D: nn.Module, real: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """E[||grad_x D(x)||_2^2] on real digits (Mescheder et al. 2018, "Which Training Methods
    for GANs do actually Converge?"): D is kept flat on the data, so that it cannot push G
    round in circles. Differentiable w.r.t. D's weights."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(real, labels).sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()


def lazy_r1(
    gamma: float, every: int, d_step: int, D: nn.Module, real: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor | float:
    """The R1 penalty D step number ``d_step`` adds, lazily (Karras et al. 2020): every
    ``every``-th step, weighted by ``every``, so that on average it weighs gamma / 2 per step."""
    if gamma == 0 or d_step % every != 0:
        return 0.0
    return gamma / 2 * every * r1_penalty(D, real, labels)


class ClassRecorder:
    """An AC-GAN D as the objective calls it: each call returns the real-or-fake logits and
    keeps the class logits, so that the class loss needs no second pass through D."""

    def __init__(self, D: nn.Module) -> None:
        self.D, self.batch_independent = D, D.batch_independent
        self.class_logits: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        logits, class_logits = self.D.judge(x)
        self.class_logits.append(class_logits)
        return logits

    def class_loss(self, labels: torch.Tensor, rows: int) -> torch.Tensor:
        """Cross-entropy of the first call's first ``rows`` (the real digits in a D step, all
        of G's in a G step) against their labels."""
        return F.cross_entropy(self.class_logits[0][:rows], labels)


def judge(D: nn.Module, aux_classifier: float) -> nn.Module | ClassRecorder:
    """D as the objectives call it: recording its class logits under AC-GAN."""
    return ClassRecorder(D) if aux_classifier else D


def class_term(
    weight: float, judged: nn.Module | ClassRecorder, labels: torch.Tensor | None, rows: int
) -> torch.Tensor | float:
    """AC-GAN: the weighted class loss of a step's first ``rows`` through ``judged``."""
    if not isinstance(judged, ClassRecorder):
        return 0.0
    return weight * judged.class_loss(labels, rows)


def d_terms(
    cfg, d_step: int, judged, real: torch.Tensor, labels: torch.Tensor | None
) -> torch.Tensor | float:
    """What a D step adds to the objective: lazy R1 and the class loss on the real digits."""
    D = judged.D if isinstance(judged, ClassRecorder) else judged
    r1 = lazy_r1(cfg.r1_gamma, cfg.r1_every, d_step, D, real, labels)
    return r1 + class_term(cfg.aux_classifier, judged, labels, real.shape[0])


def g_terms(
    cfg, judged, z: torch.Tensor, fake: torch.Tensor, classes: torch.Tensor | None
) -> torch.Tensor | float:
    """What a G step adds to the objective: mode seeking and the class loss on G's digits."""
    return mode_seeking_term(cfg.mode_seeking, z, fake) + class_term(
        cfg.aux_classifier, judged, classes, len(z)
    )
