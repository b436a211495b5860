"""The seed preset is the tutorial: same hyperparameters, same layers, same update."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from digitgan.config import TrainConfig, make_config
from digitgan.losses import BCELoss
from digitgan.networks import MLPDiscriminator, MLPGenerator, build_networks
from digitgan.optim import LeanAdam
from digitgan.training_loop import Trainer
from digitgan.tutorial import TutorialStep, tutorial_networks


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


def test_training_steps_match_the_tutorials_update():
    """Same initial weights, same real batches, same z: after several steps digitgan's
    weights equal those of the tutorial's loop (up to float rounding of the fused Adam)."""
    cfg = TrainConfig()
    trainer = Trainer(cfg, torch.device("cpu"))
    tG, tD = tutorial_networks()
    tG.load_state_dict({k.removeprefix("net."): v for k, v in trainer.G.state_dict().items()})
    tD.load_state_dict({k.removeprefix("net."): v for k, v in trainer.D.state_dict().items()})
    tutorial = TutorialStep(tG, tD)
    gen = torch.Generator().manual_seed(7)
    for _ in range(5):
        real = torch.rand(100, 1, 28, 28, generator=gen) * 2 - 1
        z_d, z_g = torch.randn(2, 100, 64, generator=gen)
        queue = [z_d, z_g]
        trainer.noise = lambda batch, q=queue: q.pop(0)
        out = trainer.step(real)
        d_loss, g_loss, real_score, fake_score, fake = tutorial(real, z_d, z_g)
        torch.testing.assert_close(out["d_loss"], d_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out["g_loss"], g_loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(BCELoss.score(out["real_logits"]), real_score.mean())
        torch.testing.assert_close(BCELoss.score(out["fake_logits"]), fake_score.mean())
        torch.testing.assert_close(out["fake"].view(100, -1), fake.detach(), rtol=1e-5, atol=1e-5)
    for ours, theirs in ((trainer.G, tG), (trainer.D, tD)):
        for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    # and the step really moved the weights (the comparison is not between two no-ops)
    assert not torch.equal(trainer.G.net[0].weight, MLPGenerator().net[0].weight)


@pytest.mark.parametrize("steps", [1, 4])
def test_lean_adam_is_bitwise_torch_adam(steps):
    torch.manual_seed(0)
    a = [nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(3))]
    b = [nn.Parameter(p.detach().clone()) for p in a]
    lean = LeanAdam(a, lr=1e-2, betas=(0.5, 0.99))
    ref = torch.optim.Adam(b, lr=1e-2, betas=(0.5, 0.99), fused=True)
    for i in range(steps):
        grads = [torch.randn_like(p) for p in a]
        lean.zero_grad()
        ref.zero_grad()
        for p, q, g in zip(a, b, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        lean.step()
        ref.step()
        assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True)), f"differs after step {i + 1}"
    assert lean.state_dict()["state"][0]["step"].item() == steps
    assert not torch.equal(a[0], b[0].detach() * 0 + 1)  # parameters are real numbers, not reset
