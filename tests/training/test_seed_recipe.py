"""The seed preset is the tutorial: same hyperparameters, same layers, same update."""

from __future__ import annotations

import pytest
import torch
from floats import assert_rounding_close
from torch import nn

from digitgan.config.presets import make_config
from digitgan.config.train_config import TrainConfig
from digitgan.fast.adam import LeanAdam
from digitgan.models.networks import MLPDiscriminator, MLPGenerator, build_networks
from digitgan.objectives.losses import BCELoss
from digitgan.reference.tutorial import TutorialStep, tutorial_networks
from digitgan.training.gan_family import GanFamily

pytestmark = pytest.mark.floats  # .ci/run reruns these on every CPU kernel path


def test_seed_hyperparameters_are_the_tutorials():
    cfg = make_config("seed")
    assert (cfg.latent_dim, cfg.hidden_dim) == (64, 256)
    assert (cfg.epochs, cfg.batch_size) == (200, 100)
    assert cfg.lr == 2e-4
    # The tutorial calls Adam without betas: PyTorch's defaults.
    default_betas = torch.optim.Adam([nn.Parameter(torch.zeros(1))]).defaults["betas"]
    assert (cfg.beta1, cfg.beta2) == default_betas == (0.9, 0.999)
    assert (cfg.arch, cfg.loss, cfg.dataset, cfg.log_every) == ("mlp", "bce", "mnist", 200)


def _layer_signature(module: nn.Module) -> list[tuple]:
    sig = []
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            sig.append(("Linear", layer.in_features, layer.out_features, layer.bias is not None))
        elif isinstance(layer, nn.LeakyReLU):
            sig.append(("LeakyReLU", layer.negative_slope))
        elif isinstance(layer, nn.ReLU | nn.Tanh | nn.Sigmoid):
            sig.append((type(layer).__name__,))
    return sig


def test_seed_architecture_is_the_tutorials():
    G, D = build_networks(make_config("seed"))
    tG, tD = tutorial_networks()
    assert _layer_signature(G) == _layer_signature(tG)
    # D returns logits: the tutorial's final Sigmoid moves into the loss.
    assert _layer_signature(D) + [("Sigmoid",)] == _layer_signature(tD)
    assert sum(p.numel() for p in G.parameters()) == 283_920
    assert sum(p.numel() for p in D.parameters()) == 267_009


def test_same_weights_give_the_tutorials_outputs():
    G, D = MLPGenerator(), MLPDiscriminator()
    tG, tD = tutorial_networks()
    tG.load_state_dict({k.removeprefix("net."): v for k, v in G.state_dict().items()})
    tD.load_state_dict({k.removeprefix("net."): v for k, v in D.state_dict().items()})
    z = torch.randn(10, 64)
    assert G(z).shape == (10, 1, 28, 28)
    torch.testing.assert_close(G(z).view(10, -1), tG(z))
    x = torch.rand(10, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(torch.sigmoid(D(x)), tD(x.view(10, -1)).view(-1))


def test_bce_objective_equals_bceloss_on_sigmoid():
    real_logits, fake_logits = torch.randn(50) * 3, torch.randn(50) * 3

    class Fixed(nn.Module):
        batch_independent = True

        def forward(self, x, labels=None):
            return torch.cat([real_logits, fake_logits]) if x.shape[0] == 100 else fake_logits

    bce = nn.BCELoss()
    d_loss, _, _ = BCELoss().d_loss(Fixed(), torch.zeros(50, 1), torch.zeros(50, 1))
    expected = bce(torch.sigmoid(real_logits), torch.ones(50)) + bce(
        torch.sigmoid(fake_logits), torch.zeros(50)
    )
    torch.testing.assert_close(d_loss, expected)
    g_loss = BCELoss().g_loss(Fixed(), torch.zeros(50, 1))
    torch.testing.assert_close(g_loss, bce(torch.sigmoid(fake_logits), torch.ones(50)))


def _copy_into_tutorial(trainer: GanFamily, tutorial: TutorialStep) -> None:
    """The tutorial's networks and Adam states set to the trainer's current ones."""
    for ours, theirs, opt_ours, opt_theirs in (
        (trainer.G, tutorial.G, trainer.opt_g, tutorial.g_optimizer),
        (trainer.D, tutorial.D, trainer.opt_d, tutorial.d_optimizer),
    ):
        theirs.load_state_dict({k.removeprefix("net."): v.clone() for k, v in ours.state_dict().items()})
        state = opt_ours.state_dict()
        state = {
            "state": {i: {k: v.clone() for k, v in s.items()} for i, s in state["state"].items()},
            "param_groups": state["param_groups"],
        }
        if state["state"]:
            opt_theirs.load_state_dict(state)


def _params(G: nn.Module, D: nn.Module) -> dict[str, torch.Tensor]:
    """Both networks' parameters by the tutorial's names (digitgan's sit under ``net.``)."""
    return {
        f"{net}.{name.removeprefix('net.')}": p
        for net, module in (("G", G), ("D", D))
        for name, p in module.named_parameters()
    }


def test_training_steps_match_the_tutorials_update():
    """Along 8 steps on the same batches and z, each step taken from the same weights and
    Adam state by digitgan's GanFamily and by the tutorial's own code: same losses, scores,
    fakes and weight updates, up to float32 rounding (tests/floats.py)."""
    trainer = GanFamily(TrainConfig(), torch.device("cpu"))
    tutorial = TutorialStep(*tutorial_networks())
    gen = torch.Generator().manual_seed(7)
    start = trainer.G.net[0].weight.detach().clone()
    for k in range(8):
        _copy_into_tutorial(trainer, tutorial)
        before = {n: p.detach().clone() for n, p in _params(trainer.G, trainer.D).items()}
        real = torch.rand(100, 1, 28, 28, generator=gen) * 2 - 1
        z_d, z_g = torch.randn(2, 100, 64, generator=gen)
        queue = [z_d, z_g]
        trainer.noise = lambda batch, q=queue: q.pop(0)
        out = trainer.step(real)
        d_loss, g_loss, real_score, fake_score, fake = tutorial(real, z_d, z_g)
        assert_rounding_close(out["d_loss"], d_loss, f"step {k}: d_loss")
        assert_rounding_close(out["g_loss"], g_loss, f"step {k}: g_loss")
        assert_rounding_close(torch.sigmoid(out["real_logits"]), real_score.view(-1), f"step {k}: D(x)")
        assert_rounding_close(torch.sigmoid(out["fake_logits"]), fake_score.view(-1), f"step {k}: D(G(z))")
        assert_rounding_close(out["fake"].view(100, -1), fake, f"step {k}: fake")
        ours, theirs = _params(trainer.G, trainer.D), _params(tutorial.G, tutorial.D)
        for name, w0 in before.items():
            assert_rounding_close(ours[name] - w0, theirs[name] - w0, f"step {k}: {name} update", 1)
    # and the steps really moved the weights (the comparison is not between two no-ops)
    assert (trainer.G.net[0].weight - start).abs().max() > 1e-4


@pytest.mark.parametrize("through", ["grad", "grads"])
@pytest.mark.parametrize("steps", [1, 4])
def test_lean_adam_is_bitwise_torch_adam(steps, through):
    """Both ways of stepping LeanAdam (from ``.grad``, as autograd fills it; from a list of
    gradient buffers, as the hand-written seed step does) equal torch.optim.Adam's fused
    update bit for bit: the same kernel on the same numbers."""
    torch.manual_seed(0)
    a = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(3))]
    b = [nn.Parameter(p.detach().clone()) for p in a]
    lean = LeanAdam(a, lr=1e-2, betas=(0.5, 0.99))
    ref = torch.optim.Adam(b, lr=1e-2, betas=(0.5, 0.99), fused=True)
    for i in range(steps):
        grads = [torch.randn_like(p) for p in a]
        ref.zero_grad()
        for q, g in zip(b, grads, strict=True):
            q.grad = g.clone()
        ref.step()
        if through == "grads":
            lean.step([g.clone() for g in grads])
        else:
            lean.zero_grad()
            for p, g in zip(a, grads, strict=True):
                p.grad = g.clone()
            lean.step()
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True)), f"differs after step {i + 1}"
        ours, theirs = lean.state_dict()["state"], ref.state_dict()["state"]
        assert all(torch.equal(ours[j][k], theirs[j][k]) for j in theirs for k in theirs[j])
    assert lean.state_dict()["state"][0]["step"].item() == steps
    assert not torch.equal(a[0], b[0].detach() * 0 + 1)  # parameters are real numbers, not reset
