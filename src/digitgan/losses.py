"""Adversarial objectives behind one interface: ``d_loss`` for the discriminator update and
``g_loss`` for the generator update. Each returns the loss and the discriminator's raw
outputs, from which the loop derives the logged D(x) and D(G(z)) only when it logs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BCELoss:
    """The original GAN objective as the tutorial writes it (Goodfellow et al. 2014, with the
    non-saturating generator loss): ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` for D and
    ``BCE(D(G(z')), 1)`` for G. With logits ``l``, BCE(sigmoid(l), 1) = softplus(-l) and
    BCE(sigmoid(l), 0) = softplus(l), each averaged over the batch like ``nn.BCELoss``."""

    def d_loss(
        self, D: nn.Module, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if getattr(D, "batch_independent", False):
            # No batch statistics in D: one call on real and fake together is the same
            # function as two calls, with half the kernel launches.
            logits = D(torch.cat([real, fake]), None if labels is None else torch.cat([labels, labels]))
            real_logits, fake_logits = logits.split([real.shape[0], fake.shape[0]])
        else:
            real_logits, fake_logits = D(real, labels), D(fake, labels)
        loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        return loss, real_logits.detach(), fake_logits.detach()

    def g_loss(self, D: nn.Module, fake: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-D(fake, labels)).mean()

    @staticmethod
    def score(logits: torch.Tensor) -> torch.Tensor:
        """D's mean probability of 'real', the tutorial's D(x) and D(G(z))."""
        return torch.sigmoid(logits).mean()


LOSSES = {"bce": BCELoss}


def build_objective(name: str) -> BCELoss:
    return LOSSES[name]()
