"""Which GANs take the hand-written step of fast/mlp_step.py: the tutorial's own (MLP G and D
of its exact layers, BCE without label smoothing, one D update per G update, no
conditioning), while the fast paths are on (fast/switch.py). Anything else trains through
autograd.

    python -c "from digitgan.config.presets import make_config; from digitgan.training.gan_family import GanFamily; import torch; print(GanFamily(make_config('seed'), torch.device('cpu')).fast_step)"
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize

from digitgan.config.train_config import TrainConfig
from digitgan.fast import switch
from digitgan.fast.adam import LeanAdam
from digitgan.fast.mlp_step import MLPGANStep
from digitgan.models.networks import MLPDiscriminator, MLPGenerator
from digitgan.objectives.losses import BCELoss

G_LAYERS = (nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Tanh)
D_LAYERS = (nn.Linear, nn.LeakyReLU, nn.Linear, nn.LeakyReLU, nn.Linear)


def _is(seq: nn.Sequential, layers: tuple[type, ...]) -> bool:
    return (
        len(seq) == len(layers)
        and all(type(m) is t for m, t in zip(seq, layers, strict=True))
        and not any(parametrize.is_parametrized(m) for m in seq)
    )


def seed_step(
    cfg: TrainConfig, G, D, objective, opt_g: LeanAdam, opt_d: LeanAdam, noise
) -> MLPGANStep | None:
    """The hand-written step for a run of this config, or None: only a run that adds no
    other term to the objective, and draws fakes twice a step as the default step does."""
    if not cfg.only_the_objective or cfg.shared_fakes:
        return None
    return fast_step_for(G, D, objective, cfg.n_critic, opt_g, opt_d, noise)


def fast_step_for(
    G: nn.Module,
    D: nn.Module,
    objective: object,
    n_critic: int,
    opt_g: LeanAdam,
    opt_d: LeanAdam,
    noise: Callable[[int], torch.Tensor],
) -> MLPGANStep | None:
    """An :class:`MLPGANStep` when (G, D, objective) is the tutorial's GAN, else ``None``."""
    if not (
        switch.enabled()
        and type(G) is MLPGenerator
        and type(D) is MLPDiscriminator
        and G.embed is None
        and D.embed is None
        and type(objective) is BCELoss
        and objective.real_target == 1  # the tutorial's targets, without label smoothing
        and n_critic == 1
        and _is(G.net, G_LAYERS)
        and _is(D.net, D_LAYERS)
    ):
        return None
    return MLPGANStep(G.net, D.net, opt_g, opt_d, noise)
