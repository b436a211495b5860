"""The hand-written step of the tutorial's GAN (fast/mlp_step.py) is the autograd step."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from floats import assert_rounding_close

from digitgan.basics.images import to_model_range
from digitgan.config.presets import make_config
from digitgan.data.digits import load_dataset
from digitgan.training.gan_family import GanFamily

pytestmark = pytest.mark.floats  # .ci/run reruns these on every CPU kernel path


@pytest.fixture(scope="module")
def real_batches(data_root):
    images = load_dataset("mnist", str(data_root)).images[:3000]
    return [to_model_range(images[i : i + 100]).view(100, 1, 28, 28) for i in range(0, 3000, 100)]


def copy_state(src: GanFamily, dst: GanFamily) -> None:
    """Put ``dst`` in ``src``'s exact state: weights, EMA, Adam's moments, noise generator."""
    tensors, meta = src.state()
    dst.load_state({k: v.clone() for k, v in tensors.items()}, meta, Path("(copy)"))


def record_gradients(trainer: GanFamily) -> dict[str, list[torch.Tensor]]:
    """The gradients each optimiser is stepped with, by name ('d', 'g'), for the last step."""
    seen: dict[str, list[torch.Tensor]] = {}
    for name, opt in (("d", trainer.opt_d), ("g", trainer.opt_g)):
        original = opt.step

        def step(grads=None, original=original, opt=opt, name=name):
            given = grads if grads is not None else [p.grad for p in opt.params]
            seen[name] = [g.detach().clone() for g in given]
            return original(grads)

        opt.step = step
    return seen


def weights(trainer: GanFamily) -> dict[str, torch.Tensor]:
    nets = {"G": trainer.G, "D": trainer.D, "G_ema": trainer.sampler}
    return {f"{n}.{k}": p.detach().clone() for n, net in nets.items() for k, p in net.named_parameters()}


def adam_moments(trainer: GanFamily) -> dict[str, torch.Tensor]:
    out = {}
    for name, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        for i, s in opt.state_dict()["state"].items():
            out.update({f"{name}.{i}.exp_avg": s["exp_avg"], f"{name}.{i}.exp_avg_sq": s["exp_avg_sq"]})
    return out


@pytest.mark.parametrize("ema_decay", [0.0, 0.999])
def test_fast_step_is_the_autograd_step(real_batches, ema_decay):
    """Along a real 30-step trajectory, each step is taken twice from the same state (the
    hand-written step's): losses, outputs, the gradients Adam receives, the weight updates,
    Adam's moments and the EMA agree to float32 rounding (tests/floats.py)."""
    cfg = dataclasses.replace(make_config("seed"), ema_decay=ema_decay)
    fast, slow = GanFamily(cfg, torch.device("cpu")), GanFamily(cfg, torch.device("cpu"), fast=False)
    assert fast.fast_step is not None and slow.fast_step is None
    grads_fast, grads_slow = record_gradients(fast), record_gradients(slow)
    start = weights(fast)
    for k, real in enumerate(real_batches):
        copy_state(fast, slow)
        before = weights(fast)
        a, b = fast.step(real), slow.step(real)
        assert a.keys() == b.keys()
        for key in a:
            assert_rounding_close(a[key], b[key], f"step {k}: {key}")
        for phase in ("d", "g"):
            for i, (ga, gb) in enumerate(zip(grads_fast[phase], grads_slow[phase], strict=True)):
                assert_rounding_close(ga, gb, f"step {k}: {phase} gradient {i}")
        after_fast, after_slow = weights(fast), weights(slow)
        for name, w0 in before.items():
            assert_rounding_close(after_fast[name] - w0, after_slow[name] - w0, f"step {k}: {name} update", 1)
        moments_slow = adam_moments(slow)
        for name, m in adam_moments(fast).items():
            assert_rounding_close(m, moments_slow[name], f"step {k}: {name}")
    assert fast.d_steps == len(real_batches)
    # the weights moved: the comparison is not between two runs that did nothing
    assert all((w - start[n]).abs().max() > 1e-4 for n, w in weights(fast).items() if n.startswith("G."))


def test_the_comparison_catches_a_one_percent_gradient_error(real_batches, monkeypatch):
    """The tolerance is tight enough to matter: a 1% error in one bias gradient of the
    hand-written step fails the comparison."""
    import digitgan.fast.mlp_step as mlp_step

    original = mlp_step.MLPGANStep._weight_grads

    def off_by_one_percent(g, x, dW, db):
        original(g, x, dW, db)
        db.mul_(1.01)

    cfg = make_config("seed")
    fast, slow = GanFamily(cfg, torch.device("cpu")), GanFamily(cfg, torch.device("cpu"), fast=False)
    grads_fast, grads_slow = record_gradients(fast), record_gradients(slow)
    monkeypatch.setattr(mlp_step.MLPGANStep, "_weight_grads", staticmethod(off_by_one_percent))
    copy_state(fast, slow)
    fast.step(real_batches[0]), slow.step(real_batches[0])
    with pytest.raises(AssertionError, match="gradient"):
        for ga, gb in zip(grads_fast["d"], grads_slow["d"], strict=True):
            assert_rounding_close(ga, gb, "d gradient")


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
    assert GanFamily(cfg, torch.device("cpu")).fast_step is None
