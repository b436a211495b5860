"""fast/switch.py turns every fast path off in one place, and off they are PyTorch's own ops:
the same function of the same weights, so a run continues either way."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from digitgan.config.presets import make_config
from digitgan.fast import switch
from digitgan.fast.layers import ProductConvTranspose2d
from digitgan.fast.minibatch_std import batch_spread
from digitgan.models.networks import build_networks
from digitgan.training.gan_family import GanFamily


@pytest.fixture
def fast_off():
    previous = switch.set_enabled(False)
    yield
    switch.set_enabled(previous)


def test_off_the_layers_and_the_spread_are_pytorchs_own(fast_off):
    torch.manual_seed(0)
    ours = ProductConvTranspose2d(8, 1, 4, 2, 1)
    reference = nn.ConvTranspose2d(8, 1, 4, 2, 1)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(3, 8, 14, 14)
    assert torch.equal(ours(x), reference(x))  # the very same kernel: equal, not close
    h = torch.randn(16, 5, requires_grad=True)
    spread = batch_spread(h)
    assert torch.equal(spread, h.std(0, correction=0).mean())
    assert spread.grad_fn.name() != "_BatchSpreadBackward"  # autograd's own backward


def test_a_conv_gan_computes_the_same_function_either_way():
    """From the same weights, in float64: G's digits, D's scores and every gradient agree on
    and off. The two paths round at ~1e-16; G and D hand back float32 (one rounding, 6e-8 at
    most, where a value sits on a float32 rounding boundary), so 1e-6 leaves room for that
    and still fails any difference in the function, which is of the order of the values."""
    cfg = make_config("scdcgan", precision="fp32", channels_last=False)  # minibatch std and both layers
    torch.manual_seed(0)
    G, D = (net.double() for net in build_networks(cfg))
    z, labels = torch.randn(8, cfg.latent_dim, dtype=torch.float64), torch.arange(8) % max(cfg.clusters, 1)

    def once() -> list[torch.Tensor]:
        G.zero_grad(), D.zero_grad()
        score = D(G(z, labels).double(), G.classes_of(z, labels)).sum()  # G answers in float32
        score.backward()
        return [score.detach()] + [p.grad.clone() for p in (*G.parameters(), *D.parameters())]

    on = once()
    previous = switch.set_enabled(False)
    try:
        off = once()
    finally:
        switch.set_enabled(previous)
    for a, b in zip(on, off, strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-9)


def test_off_the_tutorials_gan_trains_through_autograd(fast_off):
    assert GanFamily(make_config("seed"), torch.device("cpu")).fast_step is None
    switch.set_enabled(True)
    assert GanFamily(make_config("seed"), torch.device("cpu")).fast_step is not None


def test_the_environment_switches_it_off():
    probe = "from digitgan.fast import switch; print(switch.enabled())"
    for value, expected in (("0", "False"), ("1", "True")):
        env = {"PATH": "/usr/bin:/bin", "DIGITGAN_FAST": value}
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
        assert done.stdout.strip() == expected, done.stderr
