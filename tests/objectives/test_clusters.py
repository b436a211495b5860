"""Self-conditioning: k-means clusters stand in for labels (objectives/clusters.py, the scdcgan preset),
or split each digit of a conditional run."""

from __future__ import annotations

import io
import math

import pytest
import torch
from safetensors.torch import load_file

from digitgan.basics.errors import UserError
from digitgan.config.presets import make_config
from digitgan.data.digits import load_dataset
from digitgan.models.networks import build_networks
from digitgan.objectives.clusters import digit_clusters, from_assignment, kmeans, pixel_clusters
from digitgan.runs.checkpoint import load_generator
from digitgan.training.gan_family import GanFamily
from digitgan.training.loop import train


def blobs(k: int, per: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """k well-separated Gaussian blobs in 20 dimensions, shuffled: points and blob ids."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(k, 20, generator=g) * 10
    ids = torch.arange(k).repeat_interleave(per)
    x = centres[ids] + torch.randn(k * per, 20, generator=g) * 0.5
    order = torch.randperm(k * per, generator=g)
    return x[order], ids[order]


def record_d_labels(trainer: GanFamily) -> list:
    """The labels D is called with from now on, one entry per call."""
    seen = []
    D_forward = trainer.D.forward
    trainer.D.forward = lambda x, y=None: seen.append(y) or D_forward(x, y)
    return seen


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Do two labelings split the points alike (up to renaming the clusters)?"""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_separated_blobs():
    x, ids = blobs(k=6, per=200)
    found = kmeans(x, 6, seed=0)
    assert same_partition(found, ids)
    assert torch.equal(found, kmeans(x, 6, seed=0))  # the seed decides everything


def test_pixel_clusters_of_real_digits(data_root):
    """On real MNIST (the first 6,000 training digits), 10 clusters of the pixels agree with
    the digits' labels on well over chance (10%) and well under perfect: k-means of pixels
    is known to reach about 55-60%."""
    data = load_dataset("mnist", data_root)
    images, labels = data.images[:6000], data.labels[:6000]
    c = pixel_clusters(images, 10, seed=0)
    assert c.assignment.shape == (6000,) and c.assignment.max() < 10
    assert math.isclose(c.shares.sum().item(), 1.0, rel_tol=1e-6) and (c.shares > 0).all()
    assert 0.4 < c.agreement(labels) < 0.8
    assert c.agreement(c.assignment % 10) == 1.0  # a labeling the clusters reproduce exactly


def test_generator_draws_clusters_in_their_shares():
    """G(z) alone picks clusters from z_0 through the shares' cdf: over many z, each cluster
    appears as often as its share, within 5 binomial standard deviations."""
    cfg = make_config("scdcgan", clusters=5)
    G, _ = build_networks(cfg)
    shares = torch.tensor([0.5, 0.05, 0.2, 0.0, 0.25])
    G.set_cluster_shares(shares)
    n = 200_000
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(G.clusters_of(z), minlength=5).double()
    sd = (n * shares * (1 - shares)).sqrt().double()
    assert counts[3] == 0  # an empty cluster is never drawn
    assert ((counts - n * shares).abs() <= 5 * sd + 1).all()
    assert torch.equal(G.clusters_of(z[:7]), G.clusters_of(z[:7].clone()))


def test_trainer_feeds_d_the_clusters(data_root):
    """Real digits are judged with their clusters, fakes with the ones G drew for them."""
    cfg = make_config("scdcgan", clusters=4, hidden_dim=8, precision="fp32", channels_last=False)
    trainer = GanFamily(cfg, torch.device("cpu"))
    trainer.set_cluster_shares(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    z, labels = trainer.latents(64)
    assert labels is None and torch.equal(trainer.G.classes_of(z, labels), trainer.G.clusters_of(z))
    assert torch.equal(trainer.ema.module.cluster_cdf, trainer.G.cluster_cdf)
    seen = record_d_labels(trainer)
    real, real_clusters = torch.zeros(64, 1, 28, 28), torch.randint(0, 4, (64,))
    trainer.step(real, real_clusters)
    assert any(y is not None and torch.equal(y, real_clusters) for y in seen)
    assert all(y is not None for y in seen)


def test_scdcgan_trains_saves_its_clusters_and_samples(data_root, tmp_path):
    cfg = make_config(
        "scdcgan",
        data_root=str(data_root),
        epochs=1,
        limit=640,
        hidden_dim=8,
        outdir=str(tmp_path),
        clusters=7,
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    log = (run / "log.txt").read_text()
    assert "self-conditioning on 7 k-means clusters" in log and "no labels used" in log
    state = load_file(run / "checkpoints" / "state.safetensors")
    saved = state["data.clusters"].long()
    images = load_dataset("mnist", data_root).images[:640]
    assert torch.equal(saved, pixel_clusters(images, 7, seed=cfg.seed).assignment)
    G, _ = load_generator(run)  # the shares travel with the weights
    expected = from_assignment(saved, 7).shares.double().cumsum(0)
    assert torch.allclose(G.cluster_cdf.double(), expected / expected[-1], atol=1e-6)


@pytest.mark.parametrize(
    "overrides,words",
    [
        ({"clusters": 1}, "0 \\(off\\) or between 2 and 200"),
        ({"clusters": 201}, "between 0 and 200, got 201"),
        ({"clusters": 26, "conditional": True}, "at most 25"),
    ],
)
def test_bad_cluster_settings(overrides, words):
    with pytest.raises(UserError, match=words):
        make_config("scdcgan", **overrides)


def test_digit_clusters_of_real_digits(data_root):
    """A conditional run's clusters split each digit apart: class digit * k + cluster, and
    within a digit the clusters are that digit's own k-means."""
    data = load_dataset("mnist", data_root)
    images, labels = data.images[:3000], data.labels[:3000]
    c = digit_clusters(images, labels, 3, seed=0)
    assert torch.equal(c.assignment // 3, labels.long())
    assert math.isclose(c.shares.sum().item(), 1.0, rel_tol=1e-6) and (c.shares > 0).all()
    sevens = labels == 7
    assert torch.equal(c.assignment[sevens] - 21, pixel_clusters(images[sevens], 3, seed=0).assignment)


def test_digit_clusters_need_k_examples_of_every_digit():
    images = torch.zeros(30, 28, 28, dtype=torch.uint8)
    digits = torch.arange(30) % 10  # three of each digit
    with pytest.raises(
        UserError, match="3 training examples of digit 0 are fewer than the 4 clusters asked for"
    ):
        digit_clusters(images, digits, 4)


def test_conditional_generator_draws_clusters_within_the_digit():
    """Asked for digits, a conditional G with clusters embeds digit * K + a cluster drawn from
    z_0 through that digit's shares: the digit always, each cluster as often as its share
    within it (5 binomial standard deviations), never an empty one."""
    cfg = make_config("cdcgan", clusters=3)
    G, _ = build_networks(cfg)
    shares = torch.rand(30, generator=torch.Generator().manual_seed(1))
    shares[3 * 4 + 1] = 0.0  # digit 4's middle cluster holds nothing
    G.set_cluster_shares(shares / shares.sum())
    n = 100_000
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    digits = torch.arange(n) % 10
    classes = G.classes_of(z, digits)
    assert torch.equal(classes // 3, digits)
    counts = torch.bincount(classes, minlength=30).double().view(10, 3)
    within = (shares / shares.view(10, 3).sum(1).repeat_interleave(3)).double().view(10, 3)
    sd = (n / 10 * within * (1 - within)).sqrt()
    assert counts[4, 1] == 0
    assert ((counts - n / 10 * within).abs() <= 5 * sd + 1).all()
    assert torch.equal(G(z[:5], digits[:5]), G.decode(z[:5], G.embed(classes[:5])))


def test_conditional_clusters_train_save_and_feed_d_their_classes(data_root, tmp_path):
    """cdcgan --clusters 3: the state keeps each training digit's class digit * 3 + cluster,
    G's shares travel with its weights, and D judges fakes by the class G drew within the
    digit it was asked for."""
    cfg = make_config(
        "cdcgan",
        data_root=str(data_root),
        epochs=1,
        limit=640,
        hidden_dim=8,
        outdir=str(tmp_path),
        clusters=3,
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    assert "3 k-means clusters of the pixels within each digit" in (run / "log.txt").read_text()
    saved = load_file(run / "checkpoints" / "state.safetensors")["data.clusters"].long()
    data = load_dataset("mnist", data_root)
    assert torch.equal(
        saved, digit_clusters(data.images[:640], data.labels[:640], 3, seed=cfg.seed).assignment
    )
    G, _ = load_generator(run)
    expected = from_assignment(saved, 30).shares.double().view(10, 3).cumsum(1)
    assert torch.allclose(G.cluster_cdf.double(), expected / expected[:, -1:], atol=1e-6)

    trainer = GanFamily(
        make_config("cdcgan", clusters=3, hidden_dim=8, precision="fp32"), torch.device("cpu")
    )
    seen = record_d_labels(trainer)
    real_classes = torch.randint(0, 30, (64,))
    trainer.step(torch.zeros(64, 1, 28, 28), real_classes)
    assert torch.equal(seen[0], real_classes)
    fake_classes = torch.cat(seen[1:])  # the D step's fakes and the G step's
    assert fake_classes.max() >= 10 and fake_classes.max() < 30  # by class, not by digit


def test_fewer_digits_than_clusters_is_a_one_line_user_error():
    with pytest.raises(UserError, match="5 training digits are fewer than the 8 clusters asked for"):
        pixel_clusters(torch.zeros(5, 28, 28, dtype=torch.uint8), 8)


def test_repeated_digits_still_give_k_clusters():
    """Fewer distinct digits than clusters (a typed set repeats itself): once every distinct
    digit is a centre, k-means++ has no distance left to weigh by and draws among all rows
    alike; the extra centres stay empty, and each distinct digit keeps one cluster."""
    rng = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 28, 28), generator=rng, dtype=torch.uint8).repeat(4, 1, 1)
    clusters = pixel_clusters(images, 5)  # 12 digits, 3 distinct
    assert clusters.shares.numel() == 5 and torch.isclose(clusters.shares.sum(), torch.tensor(1.0))
    assert len(set(clusters.assignment.tolist())) == 3
    assert all(len(set(clusters.assignment[i::3].tolist())) == 1 for i in range(3))
