"""Model families: shapes and labels, the gradient penalty, EMA, every preset end to end."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn.utils import parametrize

from digitgan.basics.errors import UserError
from digitgan.cli.main import main
from digitgan.config.presets import GAN_PRESETS, PRESETS, make_config
from digitgan.models.ema import EMA
from digitgan.models.networks import build_networks
from digitgan.objectives.losses import BCELoss, HingeLoss, gradient_penalty
from digitgan.objectives.techniques import lazy_r1, mode_seeking_term, paired, r1_penalty, top_k_keep
from digitgan.training.gan_family import GanFamily
from digitgan.training.loop import train


@pytest.mark.parametrize("preset", sorted(GAN_PRESETS))
def test_shapes_and_labels(preset):
    cfg = make_config(preset)
    torch.manual_seed(0)
    G, D = build_networks(cfg)
    G.eval(), D.eval()
    z = torch.randn(6, cfg.latent_dim)
    threes, sevens = torch.full((6,), 3), torch.full((6,), 7)
    x = G(z, threes)
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x, threes).shape == (6,)
    if cfg.conditional or cfg.clusters:  # labels are digits, or clusters
        assert not torch.allclose(G(z, threes), G(z, sevens))
        assert not torch.allclose(D(x, threes), D(x, sevens))
    if cfg.clusters:  # called without labels, G picks the cluster from the noise
        assert torch.equal(G(z), G(z, G.clusters_of(z)))
    elif not cfg.conditional:
        assert torch.equal(G(z, threes), G(z, sevens)) and torch.equal(G(z), G(z, threes))
        assert torch.equal(D(x), D(x, sevens))


def test_preset_hyperparameters():
    dcgan = make_config("dcgan")
    assert (dcgan.arch, dcgan.lr, dcgan.beta1, dcgan.loss, dcgan.d_norm) == (
        "conv",
        2e-4,
        0.5,
        "bce",
        "batch",
    )
    wgan = make_config("wgan-gp")
    assert (wgan.loss, wgan.n_critic, wgan.gp_lambda, wgan.beta1, wgan.beta2) == (
        "wgan-gp",
        5,
        10.0,
        0.5,
        0.9,
    )
    assert wgan.d_norm != "batch"
    assert make_config("cgan").conditional and make_config("cdcgan").conditional
    assert make_config("cdcgan").minibatch_std and not make_config("dcgan").minibatch_std
    assert make_config("seed").ema_decay == 0  # the tutorial has no EMA
    with pytest.raises(UserError, match="batch statistics"):
        make_config("wgan-gp", d_norm="batch")


class Linear(nn.Module):
    """D(x) = <w, x>: its input gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x, labels=None):
        return (x.flatten(1) * self.w).sum(1)


def test_gradient_penalty_with_a_known_gradient_norm():
    real, fake = torch.randn(8, 1, 28, 28), torch.randn(8, 1, 28, 28)
    w = torch.randn(784)
    for norm in (1.0, 3.0, 0.25):
        D = Linear(w / w.norm() * norm)
        gp = gradient_penalty(D, real, fake, generator=torch.Generator().manual_seed(0))
        assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    # Differentiable w.r.t. D's weights: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    D = Linear(w / w.norm() * 3.0)
    gradient_penalty(D, real, fake).backward()
    torch.testing.assert_close(D.w.grad, 2 * (3.0 - 1) * D.w.detach() / 3.0, rtol=1e-4, atol=1e-6)


def test_gradient_penalty_interpolates_per_sample():
    # D(x) = sum(x^2) / 2 has gradient x: at x_hat = a x + (1 - a) y the norm reveals a.
    class Square(nn.Module):
        def forward(self, x, labels=None):
            return (x.flatten(1) ** 2).sum(1) / 2

    real, fake = torch.ones(64, 1, 28, 28), torch.zeros(64, 1, 28, 28)
    rng = torch.Generator().manual_seed(1)
    gp = gradient_penalty(Square(), real, fake, generator=rng)
    alpha = torch.rand(64, 1, 1, 1, generator=torch.Generator().manual_seed(1)).flatten()
    assert alpha.std() > 0.1  # different alphas per sample
    expected = ((alpha * 28 - 1) ** 2).mean()  # ||alpha * ones(784)|| = 28 alpha
    assert gp.item() == pytest.approx(expected.item(), rel=1e-5)


def test_r1_penalty_is_the_squared_gradient_norm_on_real_digits():
    # D(x) = w . x has gradient w everywhere: R1 = ||w||^2, and d/dw R1 = 2 w.
    w = torch.randn(784)
    D = Linear(w.clone())
    r1 = r1_penalty(D, torch.randn(8, 1, 28, 28))
    assert r1.item() == pytest.approx(w.square().sum().item(), rel=1e-5)
    r1.backward()
    torch.testing.assert_close(D.w.grad, 2 * w, rtol=1e-5, atol=1e-6)


def test_r1_is_lazy_and_ttur_sets_ds_rate():
    cfg = make_config("dcgan", hidden_dim=8, r1_gamma=0.5, r1_every=4, lr_d=4e-4)
    trainer = GanFamily(cfg, torch.device("cpu"))
    assert trainer.opt_d.opt.param_groups[0]["lr"] == 4e-4 and trainer.opt_g.opt.param_groups[0]["lr"] == 2e-4
    real = torch.rand(16, 1, 28, 28) * 2 - 1
    due = lazy_r1(cfg.r1_gamma, cfg.r1_every, 0, trainer.D, real, None)  # step 0: due, weighted by 4
    assert float(due.detach()) == pytest.approx(0.5 / 2 * 4 * r1_penalty(trainer.D, real).item(), rel=1e-4)
    assert lazy_r1(cfg.r1_gamma, cfg.r1_every, 3, trainer.D, real, None) == 0.0
    assert GanFamily(make_config("seed", r1_gamma=1.0), torch.device("cpu")).fast_step is None


def test_ema_update():
    G = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = EMA(G, decay=0.9)
    assert ema.current_decay() == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    ema.updates = 1000  # past the warm-up: the configured decay
    assert ema.current_decay() == 0.9
    old = [p.detach().clone() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(1.0)
    G(torch.randn(5, 3))  # moves BatchNorm's running statistics
    ema.update(G)
    for e, o, p in zip(ema.module.parameters(), old, G.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * o + 0.1 * p)
    torch.testing.assert_close(ema.module[1].running_mean, G[1].running_mean)
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_n_critic_updates_g_every_nth_step():
    cfg = make_config("wgan-gp", hidden_dim=8, n_critic=3)
    trainer = GanFamily(cfg, torch.device("cpu"))
    real, labels = torch.rand(4, 1, 28, 28) * 2 - 1, torch.zeros(4, dtype=torch.long)
    g0 = [p.detach().clone() for p in trainer.G.parameters()]
    for i in range(1, 7):
        trainer.step(real, labels)
        changed = any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters(), strict=True))
        assert changed == (i >= 3), f"after D step {i}"


@pytest.mark.parametrize("preset", sorted(GAN_PRESETS))
def test_every_preset_trains(preset, preset_runs):
    run = preset_runs[preset]
    files = {p.name for p in (run / "checkpoints").iterdir()}
    assert {"G.safetensors", "D.safetensors", "config.json"} <= files
    assert ("G_ema.safetensors" in files) == (make_config(preset).ema_decay > 0)
    assert (run / "samples" / "fixed-0001.png").is_file()
    assert "nan" not in (run / "log.txt").read_text().lower()


def test_hinge_with_spectral_norm_trains(tmp_path, data_root):
    cfg = make_config(
        "dcgan",
        loss="hinge",
        spectral_norm=True,
        data_root=str(data_root),
        epochs=1,
        limit=256,
        outdir=str(tmp_path),
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    assert (run / "checkpoints" / "G_ema.safetensors").is_file()


class FixedD(nn.Module):
    """A 'discriminator' whose outputs are given: real inputs are marked by value 1."""

    batch_independent = True

    def __init__(self, on_real: torch.Tensor, on_fake: torch.Tensor) -> None:
        super().__init__()
        self.on_real, self.on_fake = on_real, on_fake

    def forward(self, x, labels=None):
        return torch.where(
            x.flatten(1)[:, 0] == 1, self.on_real.repeat(2)[: len(x)], self.on_fake.repeat(2)[: len(x)]
        )


def test_hinge_loss_is_its_definition():
    """Miyato et al. 2018, eq. 16-17: D minimises E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))];
    G minimises -E[D(G(z))]. Outputs on both sides of the margins +-1."""
    on_real, on_fake = torch.tensor([2.0, 0.5, -1.0, 1.0]), torch.tensor([-3.0, -0.5, 0.25, 1.5])
    D = FixedD(on_real, on_fake)
    real, fake = torch.ones(4, 1, 28, 28), torch.zeros(4, 1, 28, 28)
    d_loss, real_out, fake_out = HingeLoss().d_loss(D, real, fake)
    # real: max(0, 1 - [2, .5, -1, 1]) = [0, .5, 2, 0]; fake: max(0, 1 + [-3, -.5, .25, 1.5]) = [0, .5, 1.25, 2.5]
    assert d_loss.item() == pytest.approx(2.5 / 4 + 4.25 / 4)
    assert torch.equal(real_out, on_real) and torch.equal(fake_out, on_fake)
    assert HingeLoss().g_loss(D, fake).item() == pytest.approx(-(-3.0 - 0.5 + 0.25 + 1.5) / 4)


def test_label_smoothing_is_bce_with_real_targets_below_1():
    """Salimans et al. 2016, one-sided: D's target is 1 - s on real digits and stays 0 on
    fakes; G's loss is the plain non-saturating one. Checked against PyTorch's BCE with
    soft targets, on the outputs the FixedD gives."""
    on_real, on_fake = torch.tensor([2.0, 0.5, -1.0, 4.0]), torch.tensor([-3.0, -0.5, 0.25, 1.5])
    D = FixedD(on_real, on_fake)
    real, fake = torch.ones(4, 1, 28, 28), torch.zeros(4, 1, 28, 28)
    bce = nn.functional.binary_cross_entropy_with_logits
    for s in (0.0, 0.1, 0.3):
        d_loss, real_out, fake_out = BCELoss(s).d_loss(D, real, fake)
        want = bce(on_real, torch.full((4,), 1 - s)) + bce(on_fake, torch.zeros(4))
        torch.testing.assert_close(d_loss, want)
        assert torch.equal(real_out, on_real) and torch.equal(fake_out, on_fake)
        torch.testing.assert_close(BCELoss(s).g_loss(D, fake), bce(on_fake, torch.ones(4)))

    # smoothing moves D's optimum on a real digit from +inf to logit(1 - s) = log 9 for s = 0.1
    def real_part(logit: float) -> float:
        return (
            BCELoss(0.1).d_loss(FixedD(torch.tensor([logit]), torch.zeros(1)), real[:1], fake[:1])[0].item()
        )

    best = torch.log(torch.tensor(9.0)).item()
    assert real_part(best) < real_part(best - 0.5) and real_part(best) < real_part(best + 0.5)


def test_label_smoothing_leaves_the_hand_written_step_and_needs_bce():
    # the tutorial's hand-written step has the tutorial's targets only: autograd instead
    assert GanFamily(make_config("seed", label_smoothing=0.1), torch.device("cpu")).fast_step is None
    trainer = GanFamily(make_config("cdcgan", label_smoothing=0.1, hidden_dim=8), torch.device("cpu"))
    assert trainer.objective.real_target == pytest.approx(0.9)
    with pytest.raises(UserError, match="--label-smoothing smooths BCE"):
        make_config("wgan-gp", label_smoothing=0.1).validate()
    with pytest.raises(UserError, match="--label-smoothing must lie in"):
        make_config("cdcgan", label_smoothing=0.5).validate()


@pytest.mark.parametrize("preset", ["seed", "dcgan"])
def test_spectral_norm_makes_every_d_layer_1_lipschitz(preset):
    """Miyato et al. 2018: each layer's weight W is used as W / sigma(W), sigma its largest
    singular value (of W reshaped to out x in*k*k for convolutions), estimated by power
    iteration, one step per training forward pass. After enough passes every layer D uses
    has spectral norm 1, whatever the raw weights are."""
    torch.manual_seed(0)
    _, D = build_networks(make_config(preset, spectral_norm=True))
    layers = [m for m in D.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    with torch.no_grad():
        for m in layers:
            m.parametrizations.weight.original.mul_(7.0)  # far from norm 1
        D.train()
        x = torch.randn(8, 1, 28, 28)
        for _ in range(200):
            D(x)
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=1e-3), m
        raw = torch.linalg.matrix_norm(m.parametrizations.weight.original.detach().flatten(1), ord=2)
        assert raw.item() > 2  # the raw weight is not itself normalised


def test_sample_a_chosen_digit(preset_runs, tmp_path):
    run = preset_runs["cdcgan"]
    for d in (3, 7):
        assert (
            main(["sample", str(run), "--digit", str(d), "--n", "20", "--out", str(tmp_path / f"{d}.npz")])
            == 0
        )
    threes, sevens = np.load(tmp_path / "3.npz"), np.load(tmp_path / "7.npz")
    assert threes["labels"].tolist() == [3] * 20 and sevens["labels"].tolist() == [7] * 20
    assert not np.array_equal(threes["images"], sevens["images"])  # same noise, other digit


def test_sample_per_digit_rows(preset_runs, tmp_path):
    out = tmp_path / "rows.png"
    assert main(["sample", str(preset_runs["cgan"]), "--per-digit", "--n", "4", "--out", str(out)]) == 0
    assert Image.open(out).size == (4 * 30 + 2, 10 * 30 + 2)  # 10 rows (digits) of 4
    npz = tmp_path / "rows.npz"
    main(["sample", str(preset_runs["cgan"]), "--per-digit", "--n", "4", "--out", str(npz)])
    assert np.load(npz)["labels"].tolist() == [d for d in range(10) for _ in range(4)]


@pytest.mark.parametrize(
    "preset,flags,words",
    [
        ("dcgan", ["--digit", "3"], "unconditional"),
        ("seed", ["--per-digit"], "unconditional"),
        ("cdcgan", ["--digit", "10"], "--digit"),
        ("cdcgan", ["--digit", "-1"], "--digit"),
    ],
)
def test_bad_digit_requests(preset, flags, words, preset_runs, tmp_path, capsys):
    out = tmp_path / "x.png"
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["sample", str(preset_runs[preset]), *flags, "--out", str(out)]))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_raw_and_ema_weights_differ(preset_runs, tmp_path):
    run = preset_runs["dcgan"]
    main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "ema.npz")])
    main(["sample", str(run), "--n", "16", "--raw", "--out", str(tmp_path / "raw.npz")])
    assert not np.array_equal(
        np.load(tmp_path / "ema.npz")["images"], np.load(tmp_path / "raw.npz")["images"]
    )


def test_minibatch_std_lets_d_see_the_batch():
    cfg = make_config("cdcgan", minibatch_std=True)
    torch.manual_seed(0)
    _, D = build_networks(cfg)
    D.eval()
    x, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 10
    alike = x[:1].expand(8, -1, -1, -1)  # a batch of one drawing repeated
    mixed = torch.cat([x[:1], x[1:]])
    assert not torch.allclose(D(alike, labels)[0], D(mixed, labels)[0])  # same sample, other batch
    assert not D.batch_independent  # real and fake must not share a call
    _, D_plain = build_networks(make_config("cdcgan", minibatch_std=False))
    D_plain.eval()
    torch.testing.assert_close(D_plain(alike, labels)[0], D_plain(x[:1], labels[:1])[0])
    with pytest.raises(UserError, match="minibatch-std"):
        make_config("wgan-gp", minibatch_std=True)


def test_ema_sampler_has_its_own_batchnorm_statistics(data_root):
    """The EMA copy averages weights but copies the raw G's BatchNorm statistics; the sampler
    (and G_ema.safetensors) gets standing statistics instead: the plain average of the
    batch means of G_ema's own activations over STANDING_BATCHES batches of its own noise.
    Reproduced here from the definition; the trainer's EMA copy is left as it was."""
    from digitgan.models.ema import STANDING_BATCHES

    cfg = make_config("cdcgan", hidden_dim=8, batch_size=32, precision="fp32", channels_last=False)
    trainer = GanFamily(cfg, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        trainer.step(torch.rand(32, 1, 28, 28, generator=g) * 2 - 1, torch.randint(0, 10, (32,), generator=g))
    copied = trainer.ema.module.net[1].running_mean.clone()
    sampler = trainer.sampler
    assert sampler is trainer.sampler  # computed once per G update
    assert torch.equal(trainer.ema.module.net[1].running_mean, copied) and not sampler.training

    probe = copy.deepcopy(trainer.ema.module).train()
    means = []
    probe.net[1].register_forward_hook(lambda m, inp, out: means.append(inp[0].mean((0, 2, 3))))
    rng = torch.Generator().manual_seed(cfg.seed + 7)
    with torch.no_grad():
        for _ in range(STANDING_BATCHES):
            labels = torch.randint(0, 10, (32,), generator=rng)
            probe(torch.randn(32, cfg.latent_dim, generator=rng), labels)
    expected = torch.stack(means).mean(0)
    scale = expected.abs().max().item()
    assert torch.allclose(sampler.net[1].running_mean, expected, rtol=0, atol=1e-5 * scale)
    assert not torch.allclose(sampler.net[1].running_mean, copied)
    trainer.step(torch.zeros(32, 1, 28, 28), torch.zeros(32, dtype=torch.int64))
    assert trainer.sampler is not sampler  # a G update invalidates it


@pytest.mark.floats
@pytest.mark.parametrize("classes", [10, 30])
@pytest.mark.parametrize("channels_last", [False, True])
def test_label_planes_first_layer_is_the_concatenated_convolution(classes, channels_last):
    """D's first layer adds per-class maps instead of convolving K constant planes: the same
    outputs and weight gradients as convolving [image, one-hot planes], to fp32 rounding
    (relative to the size of the terms summed), in the layout the convolution gives."""
    from digitgan.models.networks import ConvDiscriminator

    torch.manual_seed(0)
    D = ConvDiscriminator(8, classes, norm="none")
    x, labels = torch.randn(16, 1, 28, 28), torch.randint(0, classes, (16,))
    if channels_last:
        D, x = D.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    conv = D.body[0]
    planes = torch.nn.functional.one_hot(labels, classes).float()[:, :, None, None].expand(-1, -1, 28, 28)
    reference = torch.nn.functional.conv2d(torch.cat([x, planes], 1), conv.weight, conv.bias, 2, 1)
    ours = D.first_layer(x, labels)
    assert ours.is_contiguous(memory_format=torch.channels_last) == channels_last
    # each output sums 16 * (1 + K) products; bound the rounding by eps * sum of |terms|
    terms = torch.nn.functional.conv2d(
        torch.cat([x, planes], 1).abs(), conv.weight.abs(), conv.bias.abs(), 2, 1
    )
    eps = torch.finfo(torch.float32).eps
    assert ((ours - reference).abs() <= 4 * eps * terms + 1e-30).all()
    (g_ours,) = torch.autograd.grad(ours.square().sum(), conv.weight)
    (g_ref,) = torch.autograd.grad(reference.square().sum(), conv.weight)
    # each weight's gradient sums 16 * 14 * 14 products 2 * out * input: the worst-case
    # rounding of such a sum is (its length + the forward's 4) * eps * the sum of |products|
    w = conv.weight.detach().clone().requires_grad_()
    inputs = torch.cat([x, planes], 1).abs()
    (g_abs,) = torch.autograd.grad(
        (2 * terms.detach() * torch.nn.functional.conv2d(inputs, w, None, 2, 1)).sum(), w
    )
    assert ((g_ours - g_ref).abs() <= (16 * 14 * 14 + 4) * eps * g_abs).all()


def test_label_planes_judged_in_inference_mode_first_still_train():
    """D's tap matrix is cached per geometry: a first call under inference mode (sampling,
    serving, a benchmark) must not leave a tensor that autograd refuses to save."""
    from digitgan.models.networks import ConvDiscriminator, _inside_taps

    D = ConvDiscriminator(8, 10)
    x, labels = torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,))
    _inside_taps.cache_clear()  # as in a fresh process
    with torch.inference_mode():
        D(x, labels)
    D(x, labels).sum().backward()
    assert D.body[0].weight.grad.abs().sum() > 0


def test_label_planes_tap_matrix_is_kept_per_dtype():
    """The tap matrix is cached in each dtype (and device) it is asked for, so a bf16 or GPU
    D does not cast or copy it on every call; its 0/1 entries are the same in each."""
    from digitgan.models.networks import ConvDiscriminator

    conv = ConvDiscriminator(8, 10).body[0]
    x32, x16 = torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, 28, 28, dtype=torch.bfloat16)
    taps32, taps16 = ConvDiscriminator.inside_taps(x32, conv), ConvDiscriminator.inside_taps(x16, conv)
    assert (taps32.dtype, taps16.dtype) == (torch.float32, torch.bfloat16)
    assert ConvDiscriminator.inside_taps(x16, conv) is taps16  # no cast on the second call
    assert torch.equal(taps16.float(), taps32) and set(taps32.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize(
    "preset,overrides", [("cdcgan", {}), ("scdcgan", {"clusters": 7}), ("cdcgan", {"clusters": 3})]
)
def test_mode_seeking_pairs_share_their_label_and_weigh_the_ratio(preset, overrides):
    """The G batch's second half draws the first half's digits (and clusters) from other
    noise, and the term is lambda / (mean |G(z1) - G(z2)| / mean |z1 - z2| + 1e-5)."""
    cfg = make_config(
        preset, hidden_dim=8, mode_seeking=2.0, precision="fp32", channels_last=False, **overrides
    )
    trainer = GanFamily(cfg, torch.device("cpu"))
    z, labels = paired(*trainer.latents(9), clusters=bool(cfg.clusters))  # odd: the last has no pair
    classes = trainer.G.classes_of(z, labels)  # digits, clusters, or digit * K + cluster
    assert torch.equal(classes[:4], classes[4:8]) and not torch.equal(z[:4], z[4:8])
    fake = torch.rand(9, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    ratio = (fake[:4] - fake[4:8]).abs().mean() / (z[:4] - z[4:8]).abs().mean()
    assert torch.isclose(torch.as_tensor(mode_seeking_term(cfg.mode_seeking, z, fake)), 2.0 / (ratio + 1e-5))


def test_d_width_widens_d_alone():
    G, D = build_networks(make_config("cdcgan", d_width=48))
    G0, D0 = build_networks(make_config("cdcgan"))
    assert D.body[0].out_channels == 48 and D.body[2].out_channels == 96
    assert D0.body[0].out_channels == PRESETS["cdcgan"]["hidden_dim"] != 48
    assert [p.shape for p in G.parameters()] == [p.shape for p in G0.parameters()]


def test_d_hidden_puts_a_layer_between_ds_features_and_its_logit():
    """--d-hidden N: D's features reach its logit through N LeakyReLU units; D's convolutions
    and G are as without it; with --spectral-norm both of the head's layers are normalised."""
    G, D = build_networks(make_config("cdcgan", d_hidden=16))
    G0, D0 = build_networks(make_config("cdcgan", d_hidden=0))
    first, _, last = D.head
    assert (first.in_features, first.out_features, last.out_features) == (D0.head.in_features, 16, 1)
    assert [p.shape for p in D.body.parameters()] == [p.shape for p in D0.body.parameters()]
    assert [p.shape for p in G.parameters()] == [p.shape for p in G0.parameters()]
    x, labels = torch.randn(4, 1, 28, 28), torch.arange(4)
    D.eval()
    with torch.no_grad():
        h = D.features(x, labels)
        assert torch.equal(D(x, labels), last(torch.nn.functional.leaky_relu(first(h), 0.2)).view(-1))
    _, D_sn = build_networks(make_config("cdcgan", d_hidden=16, spectral_norm=True, d_norm="none"))
    assert parametrize.is_parametrized(D_sn.head[0]) and parametrize.is_parametrized(D_sn.head[2])


@pytest.mark.parametrize("upsample, checkerboard", [("transposed", True), ("resize", False)])
def test_g_upsample_resize_has_no_checkerboard(upsample, checkerboard):
    """A constant 14 x 14 map into G's last layer: a stride-2 transposed convolution paints
    its four kernel phases as a 2 x 2 pattern, the resize layer one flat value inside."""
    torch.manual_seed(0)
    cfg = make_config("cdcgan", g_upsample=upsample)
    G, _ = build_networks(cfg)
    last = G.net[6:-1]  # (B, 2w, 14, 14) -> (B, 1, 28, 28), before Tanh
    out = last(torch.ones(1, 2 * cfg.hidden_dim, 14, 14))[0, 0, 2:-2, 2:-2]  # the interior, away from padding
    phases = torch.stack([out[i::2, j::2] for i in (0, 1) for j in (0, 1)])  # (4, 12, 12)
    assert torch.allclose(phases, phases[:, :1, :1].expand_as(phases))  # flat within each phase
    assert bool(phases[:, 0, 0].max() - phases[:, 0, 0].min() > 1e-3) == checkerboard
    assert G(torch.randn(2, 100), torch.tensor([3, 7])).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("objective", [BCELoss(), HingeLoss()])
def test_top_k_generator_loss_learns_only_from_the_fakes_d_rates_most_real(objective):
    """Top-k training (Sinha et al. 2020): G's loss is the mean over the ``keep`` fakes with
    the highest D outputs, and the others get no gradient at all."""
    scores = torch.tensor([0.3, -2.0, 1.5, -0.1, 0.9])
    D = lambda x, labels=None: x.flatten(1).sum(1)  # noqa: E731 - D(x) = the given score
    fake = scores.clone().view(5, 1).requires_grad_()
    loss = objective.g_loss(D, fake, keep=2)
    all_fakes = objective.g_loss(D, fake.detach())
    assert torch.isclose(loss, objective.g_loss(D, fake.detach()[[2, 4]]))  # 1.5 and 0.9
    assert not torch.isclose(loss, all_fakes)
    (grad,) = torch.autograd.grad(loss, fake)
    assert (grad[[0, 1, 3]] == 0).all() and (grad[[2, 4]] != 0).all()
    assert torch.equal(objective.g_loss(D, fake.detach(), keep=5), all_fakes)


def test_top_k_share_goes_from_all_to_the_flag_over_the_run():
    # the tutorial's GAN takes the hand-written step, which has no top-k: autograd instead
    assert GanFamily(make_config("seed"), torch.device("cpu")).fast_step is not None
    assert GanFamily(make_config("seed", top_k=0.5), torch.device("cpu")).fast_step is None
    assert [top_k_keep(0.5, 64, steps, 100) for steps in (0, 50, 100, 150)] == [64, 48, 32, 32]
    assert top_k_keep(0.5, 64, 7, None) == 32  # the run's length unknown: the flag's share throughout
    assert top_k_keep(1.0, 64, 50, 100) is None
    with pytest.raises(UserError, match="--top-k must lie in"):
        make_config("cgan", top_k=0.0).validate()


@pytest.mark.parametrize(
    "preset, overrides, labels",
    [("cdcgan", {}, 10), ("scdcgan", {"clusters": 7}, 7), ("wgan-gp", {"n_critic": 2}, 0)],
)
def test_shared_fakes_is_the_step_with_one_draw_for_both_updates(preset, overrides, labels):
    """--shared-fakes: G learns from the very fakes the D step before it judged, drawn once
    (with mode seeking, in its pairs): the same updates as the default step handed the D
    step's draw again for its G step, for one G forward a step instead of two."""
    settings = dict(hidden_dim=8, precision="fp32", channels_last=False, **overrides)
    cfg = make_config(preset, **settings)
    shared = GanFamily(make_config(preset, shared_fakes=True, **settings), torch.device("cpu"))
    plain = GanFamily(cfg, torch.device("cpu"))
    pending, fresh_draw = [], plain.draw

    def draw_for_both(batch: int, paired: bool):
        if pending:  # the G step: the D step's draw again
            return pending.pop()
        g_follows = plain.g_step_follows()
        drawn = fresh_draw(batch, paired or g_follows)
        if g_follows:
            pending.append(drawn)
        return drawn

    plain.draw = draw_for_both
    g0 = [p.detach().clone() for p in shared.G.parameters()]
    calls = {shared: 0, plain: 0}
    for trainer in calls:
        trainer.G.register_forward_hook(lambda *_, t=trainer: calls.__setitem__(t, calls[t] + 1))
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        real = torch.rand(8, 1, 28, 28, generator=gen) * 2 - 1
        y = torch.randint(0, max(labels, 1), (8,), generator=gen) if labels else None
        shared.step(real, y)
        plain.step(real, y)
    g_steps = 4 // cfg.n_critic
    assert calls == {shared: 4, plain: 4 + g_steps}
    for a, b in [(shared.G, plain.G), (shared.D, plain.D), (shared.ema.module, plain.ema.module)]:
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q)
    assert not all(torch.equal(p, q) for p, q in zip(g0, shared.G.parameters(), strict=True))  # G learned


def test_shared_fakes_trains_through_autograd_and_not_cyclegan():
    # the tutorial's hand-written step draws two batches of fakes as one product: autograd instead
    assert GanFamily(make_config("seed", shared_fakes=True), torch.device("cpu")).fast_step is None
    with pytest.raises(UserError, match="--shared-fakes is a step of the noise-to-digit GANs"):
        make_config("cyclegan", shared_fakes=True)
