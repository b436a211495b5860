"""The hand-written step of the tutorial's GAN (mlp_step.py) is the autograd step."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from digitgan.config import make_config
from digitgan.data import load_dataset, to_model_range
from digitgan.training_loop import Trainer


@pytest.fixture(scope="module")
def real_batches(data_root):
    images = load_dataset("mnist", str(data_root)).images[:3000]
    return [to_model_range(images[i : i + 100]).view(100, 1, 28, 28) for i in range(0, 3000, 100)]


def optimizer_state(trainer: Trainer) -> list[torch.Tensor]:
    out = []
    for opt in (trainer.opt_g, trainer.opt_d):
        for s in opt.state_dict()["state"].values():
            out += [s["exp_avg"], s["exp_avg_sq"], s["step"]]
    return out


@pytest.mark.parametrize("ema_decay", [0.0, 0.999])
def test_fast_step_is_the_autograd_step(real_batches, ema_decay):
    """Same weights, noise and real digits: 30 steps of each give the same losses, outputs,
    weights, Adam moments and EMA, up to float rounding."""
    cfg = dataclasses.replace(make_config("seed"), ema_decay=ema_decay)
    fast, slow = Trainer(cfg, torch.device("cpu")), Trainer(cfg, torch.device("cpu"), fast=False)
    assert fast.fast_step is not None and slow.fast_step is None
    start = [p.clone() for p in fast.G.parameters()]
    for real in real_batches:
        a, b = fast.step(real), slow.step(real)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].shape == b[key].shape, key
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    for net_a, net_b in ((fast.G, slow.G), (fast.D, slow.D), (fast.sampler, slow.sampler)):
        for (name, p), q in zip(net_a.named_parameters(), net_b.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    for s, t in zip(optimizer_state(fast), optimizer_state(slow), strict=True):
        # Adam's moments: equal up to 1e-4 of each tensor's scale (single elements near 0
        # differ more in relative terms, as a sum's rounding does)
        assert (s - t).abs().max() <= 1e-4 * t.abs().max()
    assert fast.d_steps == slow.d_steps == len(real_batches)
    # the weights moved: the comparison is not between two runs that did nothing
    assert all((p - q).abs().max() > 1e-4 for p, q in zip(fast.G.parameters(), start, strict=True))


@pytest.mark.parametrize(
    "preset, changes",
    [
        ("seed", {"loss": "hinge"}),
        ("seed", {"spectral_norm": True}),
        ("seed", {"n_critic": 2}),
        ("cgan", {}),
        ("dcgan", {}),
        ("wgan-gp", {}),
    ],
)
def test_everything_else_trains_through_autograd(preset, changes):
    cfg = dataclasses.replace(make_config(preset), **changes)
    assert Trainer(cfg, torch.device("cpu")).fast_step is None
