"""Adversarial objectives behind one interface.

``d_loss(D, real, fake, real_labels, fake_labels)`` returns the discriminator's loss
(penalties included) and its raw outputs on real and fake; ``g_loss(D, fake, labels, keep)``
the generator's, over the ``keep`` fakes D rates most real when given (top-k training).
``score`` turns raw outputs into the logged D(x) / D(G(z)): a probability for BCE, the
mean critic value otherwise. An AC-GAN D is called through techniques.ClassRecorder, which
keeps its class logits for the class loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from digitgan.basics import distributed


def _both(D: nn.Module, real, fake, real_labels, fake_labels) -> tuple[torch.Tensor, torch.Tensor]:
    """D on real and on fake. Without batch statistics in D one call on both together is
    the same function as two calls, with half the kernel launches."""
    if getattr(D, "batch_independent", False):
        labels = None if real_labels is None else torch.cat([real_labels, fake_labels])
        out = D(torch.cat([real, fake]), labels)
        return out.split([real.shape[0], fake.shape[0]])
    return D(real, real_labels), D(fake, fake_labels)


def best_mean(losses: torch.Tensor, keep: int | None) -> torch.Tensor:
    """The mean of G's per-sample ``losses`` over the ``keep`` smallest, the fakes D rates most
    real (top-k training, Sinha et al. 2020: the worst fakes' gradients point G the wrong
    way), or over all of them when ``keep`` is None."""
    losses = losses.flatten()
    if keep is None or keep >= losses.numel():
        return losses.mean()
    return losses.topk(keep, largest=False, sorted=False).values.mean()


class BCELoss:
    """The original GAN objective as the tutorial writes it (Goodfellow et al. 2014, with the
    non-saturating generator loss): ``BCE(D(x), 1) + BCE(D(G(z)), 0)`` for D and
    ``BCE(D(G(z')), 1)`` for G. With logits ``l``, BCE(sigmoid(l), 1) = softplus(-l) and
    BCE(sigmoid(l), 0) = softplus(l), each averaged over the batch like ``nn.BCELoss``.

    ``smoothing`` s > 0 is one-sided label smoothing (Salimans et al. 2016): D's target for
    real digits is 1 - s, BCE(sigmoid(l), 1 - s) = (1 - s) softplus(-l) + s softplus(l);
    fakes keep 0, and G's loss is unchanged."""

    def __init__(self, smoothing: float = 0.0) -> None:
        self.real_target = 1.0 - smoothing

    def d_loss(self, D, real, fake, real_labels=None, fake_labels=None):
        real_out, fake_out = _both(D, real, fake, real_labels, fake_labels)
        real_loss = F.softplus(-real_out)
        if self.real_target != 1:
            real_loss = self.real_target * real_loss + (1 - self.real_target) * F.softplus(real_out)
        loss = real_loss.mean() + F.softplus(fake_out).mean()
        return loss, real_out.detach(), fake_out.detach()

    def g_loss(self, D, fake, labels=None, keep=None):
        return best_mean(F.softplus(-D(fake, labels)), keep)

    @staticmethod
    def score(out: torch.Tensor) -> torch.Tensor:
        """D's mean probability of 'real', the tutorial's D(x) and D(G(z))."""
        return torch.sigmoid(out).mean()


class _CriticLoss:
    """Objectives whose G minimises -E[D(G(z))] and whose D(x) is logged as the mean raw output."""

    def g_loss(self, D, fake, labels=None, keep=None):
        return best_mean(-D(fake, labels), keep)

    @staticmethod
    def score(out: torch.Tensor) -> torch.Tensor:
        return out.mean()


class HingeLoss(_CriticLoss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D minimises
    E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], G minimises -E[D(G(z))]."""

    def d_loss(self, D, real, fake, real_labels=None, fake_labels=None):
        real_out, fake_out = _both(D, real, fake, real_labels, fake_labels)
        loss = F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()
        return loss, real_out.detach(), fake_out.detach()


def gradient_penalty(
    D: nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = a x + (1 - a) G(z), a ~ U(0, 1) drawn per
    sample (Gulrajani et al. 2017, Algorithm 1). Differentiable w.r.t. D's weights."""
    rows = distributed.global_rows(real.shape[0])  # one draw for the global batch, sliced per rank
    alpha = distributed.local_rows(torch.rand(rows, 1, 1, 1, device=real.device, generator=generator))
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat, labels).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class WGANGPLoss(_CriticLoss):
    """WGAN-GP: the critic minimises E[D(G(z))] - E[D(x)] + lambda * gradient penalty,
    G minimises -E[D(G(z))]."""

    def __init__(self, gp_lambda: float = 10.0, generator: torch.Generator | None = None) -> None:
        self.gp_lambda, self.generator = gp_lambda, generator

    def d_loss(self, D, real, fake, real_labels=None, fake_labels=None):
        real_out, fake_out = _both(D, real, fake, real_labels, fake_labels)
        loss = fake_out.mean() - real_out.mean()
        if self.gp_lambda:
            loss = loss + self.gp_lambda * gradient_penalty(D, real, fake, real_labels, self.generator)
        return loss, real_out.detach(), fake_out.detach()


def log_scalars(score, out: dict[str, torch.Tensor]) -> dict[str, float]:
    """The tutorial's four numbers for a step's log line: the losses, and D's mean ``score``
    of the real and the fake digits."""
    return {
        "d_loss": out["d_loss"].item(),
        "g_loss": out["g_loss"].item() if "g_loss" in out else math.nan,
        "D(x)": score(out["real_logits"]).item(),
        "D(G(z))": score(out["fake_logits"]).item(),
    }


# Each name of config.LOSSES and how to build it from the run's settings; a test holds the two
# lists equal, and an unknown name is an error, never a silent default.
OBJECTIVES = {
    "bce": lambda gp_lambda, generator, smoothing: BCELoss(smoothing),
    "wgan-gp": lambda gp_lambda, generator, smoothing: WGANGPLoss(gp_lambda, generator),
    "hinge": lambda gp_lambda, generator, smoothing: HingeLoss(),
}


def build_objective(
    name: str, gp_lambda: float = 10.0, generator: torch.Generator | None = None, smoothing: float = 0.0
):
    """The objective called ``name`` in config.LOSSES, with its own settings."""
    if name not in OBJECTIVES:
        raise ValueError(f"no objective called {name!r}; losses.OBJECTIVES has {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name](gp_lambda, generator, smoothing)
