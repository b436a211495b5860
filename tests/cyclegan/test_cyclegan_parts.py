"""CycleGAN's parts for digits (issue 12): shapes, no transposed convolutions, the patch
size, every objective against hand-computed values, the image pool and its saved state, and
the learning-rate schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from digitgan.cyclegan.cycle_networks import PatchDiscriminator, ResnetGenerator
from digitgan.cyclegan.cycle_objectives import (
    ImagePool,
    cycle_loss,
    identity_loss,
    linear_decay,
    lsgan_d_loss,
    lsgan_g_loss,
    semantic_loss,
)


def test_generator_maps_digits_to_digits_without_transposed_convolutions():
    torch.manual_seed(0)
    G = ResnetGenerator(ngf=8, blocks=2)
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    y = G(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in G.modules())
    assert sum(isinstance(m, nn.Upsample) for m in G.modules()) == 2


@pytest.mark.parametrize(("layers", "outputs", "field"), [(2, 7, 18), (3, 3, 38)])
def test_patch_discriminator_sees_patches_of_its_receptive_field(layers, outputs, field):
    """One output's gradient with respect to the input is non-zero only inside its
    convolutions' receptive field: 18 x 18 pixels with 2 layers, the whole digit with 3.
    (Instance norm's per-image statistics reach every pixel, so it is taken out for this
    look at the convolutions' geometry.)"""
    torch.manual_seed(0)
    D = PatchDiscriminator(ndf=8, layers=layers).eval()
    for i, m in enumerate(D.net):
        if isinstance(m, nn.InstanceNorm2d):
            D.net[i] = nn.Identity()
    x = torch.randn(1, 1, 28, 28, requires_grad=True)
    out = D(x)
    assert out.shape == (1, 1, outputs, outputs) and D.receptive_field == field
    out[0, 0, outputs // 2, outputs // 2].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    extent = min(field, 28)
    assert rows.max() - rows.min() + 1 <= extent and cols.max() - cols.min() + 1 <= extent
    assert rows.max() - rows.min() + 1 >= extent - 4  # padding trims the field at the border


def test_least_squares_objectives():
    real, fake = torch.tensor([1.0, 0.5, 2.0]), torch.tensor([0.0, 1.0, -1.0])
    # D: 0.5 * (mean([0, .25, 1]) + mean([0, 1, 1])) = 0.5 * (1.25/3 + 2/3)
    assert lsgan_d_loss(real, fake).item() == pytest.approx(0.5 * (1.25 / 3 + 2 / 3))
    # G: mean([1, 0, 4])
    assert lsgan_g_loss(fake).item() == pytest.approx(5 / 3)


def test_cycle_identity_and_semantic_losses():
    x = torch.tensor([[[[0.0, 1.0], [-1.0, 0.5]]]])
    x_rec = torch.tensor([[[[0.5, 1.0], [-0.5, 0.0]]]])
    assert cycle_loss(x, x_rec).item() == pytest.approx((0.5 + 0 + 0.5 + 0.5) / 4)
    assert identity_loss(x, x).item() == 0
    assert identity_loss(x, -x).item() == pytest.approx(2 * (0 + 1 + 1 + 0.5) / 4)
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    labels = torch.tensor([0, 2])
    expected = -(torch.log(torch.tensor(0.5)) + torch.log(torch.tensor(0.8))) / 2
    assert semantic_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_linear_decay():
    assert [linear_decay(e, 10, 5) for e in (0, 4, 5, 6, 9, 10)] == pytest.approx([1, 1, 1, 0.8, 0.2, 0])
    # per step, over a span shorter than one epoch; and no decay span at all
    assert [linear_decay(e, 1, 0.5) for e in (0.25, 0.5, 0.75, 1.0)] == pytest.approx([1, 1, 0.5, 0])
    assert linear_decay(1.0, 1, 1.0) == 0.0


def _batches(n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(10, 1, 2, 2, generator=g) for _ in range(n)]


def test_image_pool_fills_then_swaps_about_half():
    pool = ImagePool(size=50, generator=torch.Generator().manual_seed(0))
    batches = _batches(20)
    for b in batches[:5]:  # the first 50 images fill the pool and come back unchanged
        assert torch.equal(pool.query(b), b)
    assert len(pool.images) == 50
    seen = list(torch.cat(batches[:5]))
    swapped = 0
    for b in batches[5:]:
        out = pool.query(b)
        for new, got in zip(b, out, strict=True):
            if not torch.equal(new, got):
                swapped += 1
                assert any(torch.equal(got, old) for old in seen)  # an earlier image, from the pool
            seen.append(new)
    assert 50 <= swapped <= 100  # half of 150, give or take
    assert ImagePool(size=0).query(batches[0]) is batches[0]


def test_image_pool_state_gives_the_same_future():
    """A pool restored from its saved state answers the next queries exactly as the original."""
    a = ImagePool(size=8, generator=torch.Generator().manual_seed(3))
    for b in _batches(3):
        a.query(b)
    b_pool = ImagePool(size=8, generator=torch.Generator().manual_seed(99))
    b_pool.load_state("pool", {k: v.clone() for k, v in a.state("pool").items()})
    for batch in _batches(4, seed=1):
        assert torch.equal(a.query(batch), b_pool.query(batch))


def test_typed_distortion_is_drawn_from_its_generator_and_keeps_digits_whole():
    """The same generator state gives the same distortions (a resume draws them again);
    each digit gets its own; a blank stays blank; a digit keeps most of its ink in frame."""
    from digitgan.cyclegan.typed_augment import distort

    x = -torch.ones(8, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0  # a bar, like a 1
    a = distort(x, torch.Generator().manual_seed(3))
    b = distort(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert not torch.equal(a, distort(x, torch.Generator().manual_seed(4)))
    assert len({tuple(d.flatten().tolist()) for d in a}) == 8
    assert a.min() >= -1 and a.max() <= 1
    blank = distort(-torch.ones(4, 1, 28, 28), torch.Generator())
    assert torch.equal(blank, -torch.ones(4, 1, 28, 28))
    ink = lambda t: (t + 1).sum(dim=(1, 2, 3))  # noqa: E731
    assert (ink(a) > 0.4 * ink(x)).all() and (ink(a) < 2.5 * ink(x)).all()


def test_typed_distortion_without_range_is_the_identity_and_slant_leans(monkeypatch):
    """With every range collapsed the map is the identity (up to the sampler's float
    rounding); a negative slant (y runs down) moves a vertical bar's top right of its foot."""
    from digitgan.cyclegan import typed_augment as aug

    x = torch.rand(4, 1, 28, 28) * 2 - 1
    for name, value in (("MAX_SLANT", 0.0), ("MAX_TURN", 0.0), ("WIDTH", (1.0, 1.0)), ("SCALE", (1.0, 1.0))):
        monkeypatch.setattr(aug, name, value)
    maps = aug.affine_maps(4, torch.Generator())
    assert torch.allclose(maps, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(4, 2, 3))
    grid = torch.nn.functional.affine_grid(maps, [4, 1, 28, 28], align_corners=False)
    moved = torch.nn.functional.grid_sample(x + 1, grid, align_corners=False) - 1
    assert torch.allclose(moved, x, atol=1e-5)

    monkeypatch.setattr(aug, "MAX_SLANT", 0.3)
    monkeypatch.setattr(aug, "uniform", lambda low, high, n, rng: torch.full((n,), low))
    bar = -torch.ones(1, 1, 28, 28)
    bar[:, :, 4:24, 13:15] = 1.0
    grid = torch.nn.functional.affine_grid(aug.affine_maps(1, torch.Generator()), [1, 1, 28, 28], False)
    leaned = torch.nn.functional.grid_sample(bar + 1, grid, align_corners=False)[0, 0]
    cols = torch.arange(28.0)
    foot = (leaned[22] * cols).sum() / leaned[22].sum()
    top = (leaned[6] * cols).sum() / leaned[6].sum()
    assert top > foot + 2


def test_stroke_weight_makes_digits_bolder_or_lighter_or_leaves_them():
    from digitgan.cyclegan.typed_augment import stroke_weight

    x = -torch.ones(3, 1, 28, 28)
    x[:, :, 6:22, 12:16] = 1.0
    out = stroke_weight(x, torch.tensor([0, 1, 2]))
    ink = (out + 1).sum(dim=(1, 2, 3))
    assert ink[0] < ink[1] < ink[2] and torch.equal(out[1], x[1])


def test_a_guide_of_both_domains_learns_from_both_and_is_cached_apart(tmp_path, monkeypatch):
    """--guide-data both: the guide learns from the typed and the handwritten digits (each
    bounded by --limit), says so in its file, and is cached under a key of both sets, so
    that a typed-only guide is never taken for it (or the other way round)."""
    import io

    from digitgan.cyclegan import guide
    from digitgan.data.digits import Digits
    from digitgan.runs.checkpoint import weights_metadata

    monkeypatch.setenv("DIGITGAN_CACHE", str(tmp_path))
    images = torch.randint(0, 255, (300, 28, 28), dtype=torch.uint8)
    typed = Digits(images, torch.arange(300) % 10, "typed", "train", "0" * 32)
    hand = Digits(255 - images, torch.arange(300) % 10, "mnist", "train", "2" * 32)
    test = Digits(images[:20], torch.arange(20) % 10, "typed", "test", "1" * 32)
    learned = []
    original = guide.fit_distorted
    monkeypatch.setattr(
        guide, "fit_distorted", lambda net, x, *a, **k: learned.append(len(x)) or original(net, x, *a, **k)
    )
    guide.ensure_guide(typed, test, io.StringIO(), limit=100, handwritten=hand)
    guide.ensure_guide(typed, test, io.StringIO(), limit=100)
    assert learned == [200, 100]
    both = guide.guide_path(guide.first_digits(typed, 100), guide.first_digits(hand, 100))
    assert weights_metadata(both)["dataset"] == "typed+mnist"
    assert weights_metadata(guide.guide_path(guide.first_digits(typed, 100)))["dataset"] == "typed"
    other = Digits(images, torch.arange(300) % 10, "mnist", "train", "3" * 32)
    assert guide.guide_path(typed, other) != guide.guide_path(typed, hand)
