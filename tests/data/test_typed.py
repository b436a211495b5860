"""The typed-digit data set (--dataset typed): fonts, split, determinism, MNIST's format and
preprocessing, and every preset training on it."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFont

from digitgan.cli.main import main
from digitgan.config.presets import GAN_PRESETS, make_config
from digitgan.data import typed
from digitgan.data.digits import load_dataset
from digitgan.training.loop import train

pytestmark = pytest.mark.skipif(
    not typed.installed_fonts(), reason=f"no fonts installed (.ci/run installs: {typed.PACKAGES})"
)


@pytest.fixture(scope="module")
def small_typed(monkeypatch_module):
    """The real renderer and fonts, 2,000 training and 500 test digits (its own cache entry)."""
    monkeypatch_module.setattr(typed, "TRAIN_IMAGES", 2000)
    monkeypatch_module.setattr(typed, "TEST_IMAGES", 500)
    return load_dataset("typed", None, "train"), load_dataset("typed", None, "test")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as m:
        yield m


def test_fonts_kept_dropped_and_split_by_design():
    kept, dropped = typed.usable_fonts()
    names = {f.name for f in kept}
    assert len(kept) >= 100 and "D050000L" not in names  # Dingbats is a symbol font
    assert any(why == "lacks the digits 0-9" for _, why in dropped)
    split = typed.split_fonts(kept)
    assert split["train"] and split["test"]
    train_designs, test_designs = ({f.family for f in split[s]} for s in ("train", "test"))
    assert not train_designs & test_designs  # no test design is seen in training
    assert {f.name for f in split["train"]} | {f.name for f in split["test"]} == names
    # weights, slants and clones are one design
    family = {f.name: f.family for f in typed.installed_fonts()}
    assert family["FreeMonoBoldOblique"] == family["FreeMono"] == family["NimbusMonoPS-Regular"]
    assert family["Arimo-Bold"] == family["LiberationSans-Regular"]
    # no two kept fonts draw the same ten digits
    signatures = [b"".join(typed.mnist_style(g).tobytes() for g in typed.digit_glyphs(f)) for f in kept]
    assert len(set(signatures)) == len(kept)


def test_fonts_command_lists_licences_and_counts(capsys):
    assert main(["fonts"]) == 0
    out = capsys.readouterr().out
    assert "SIL OFL 1.1" in out and "fonts-dejavu-core" in out and "dropped: Dingbats" in out
    assert "kept" in out and "designs" in out


def test_mnist_style_fits_a_20_box_with_the_centre_of_mass_at_the_centre():
    glyph = Image.new("L", (40, 60), 0)
    glyph.paste(255, (0, 0, 40, 10))  # a T: top-heavy, so its box centre is not its mass centre
    glyph.paste(255, (16, 10, 24, 60))
    out = typed.mnist_style(glyph).astype(float)
    rows, cols = np.nonzero(out)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    ys, xs = np.indices(out.shape)
    assert abs((ys * out).sum() / out.sum() - 13.5) <= 0.5 and abs((xs * out).sum() / out.sum() - 13.5) <= 0.5


def test_rendering_is_deterministic_and_augmented(small_typed):
    font = typed.usable_fonts()[0][0]
    face = ImageFont.truetype(str(font.path), typed.RENDER_PX)
    rng = lambda k: np.random.default_rng([0, 0, 0, 3, k])  # noqa: E731
    assert np.array_equal(typed.augmented(face, 3, rng(0)), typed.augmented(face, 3, rng(0)))
    assert not np.array_equal(typed.augmented(face, 3, rng(0)), typed.augmented(face, 3, rng(1)))
    train, _ = small_typed
    again = load_dataset("typed", None, "train")
    assert again.md5 == train.md5  # read back from the cache, same bytes


def test_the_set_is_mnist_shaped(small_typed):
    train, test = small_typed
    for split in (train, test):
        assert split.images.dtype.is_floating_point is False and split.images.shape[1:] == (28, 28)
        counts = np.bincount(split.labels.numpy(), minlength=10)
        assert counts.min() == counts.max() > 0  # every digit equally often
        images = split.images.numpy().astype(float)
        assert images.max() == 255 and np.median(images) == 0  # white ink on black, mostly background
        assert images[:, [0, 27], :].mean() < 1 and images[:, :, [0, 27]].mean() < 1  # the margin stays empty
    assert len(train) >= 2000 and len(test) >= 500


@pytest.mark.parametrize("preset", sorted(GAN_PRESETS))
def test_every_preset_trains_on_typed_digits(preset, small_typed, tmp_path):
    recipe = make_config(preset)
    # k-means needs a digit per cluster: 2 batches hold 128
    small = {"clusters": 10} if recipe.clusters else {}
    limit = 2 * recipe.batch_size
    cfg = make_config(
        preset, dataset="typed", epochs=1, limit=limit, hidden_dim=8, outdir=str(tmp_path), **small
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    assert " typed train images" in (run / "log.txt").read_text()  # the summary names the data
    assert (run / "checkpoints" / "G.safetensors").is_file()


def test_unseen_fonts_drop_every_font_that_draws_a_training_fonts_digits(monkeypatch):
    """The unseen packages are an evaluation set: a font there whose ten digits equal a
    training font's is dropped. Pointed at a folder the typed set trains on, none is kept."""
    from digitgan.data import unseen_fonts as unseen

    folder = next(iter(typed.FONT_DIRS))
    monkeypatch.setattr(unseen, "UNSEEN_DIRS", {folder: typed.FONT_DIRS[folder]})
    unseen.unseen_fonts.cache_clear()
    try:
        kept, dropped = unseen.unseen_fonts()
    finally:
        unseen.unseen_fonts.cache_clear()
    assert kept == [] and len(dropped) == len(typed.installed_fonts({folder: typed.FONT_DIRS[folder]}))
    assert all(why.startswith("same digits as") or why == "lacks the digits 0-9" for _, why in dropped)


def test_unseen_digits_are_printed_per_font_and_digit_from_one_seed():
    from digitgan.data.unseen_fonts import render_unseen

    fonts = typed.usable_fonts()[0][:2]
    data = render_unseen(fonts, per_digit=2, seed=3)
    assert data["images"].shape == (40, 28, 28) and data["images"].dtype == np.uint8
    assert list(data["labels"][:4]) == [0, 0, 1, 1] and list(data["font"]) == [0] * 20 + [1] * 20
    assert np.array_equal(render_unseen(fonts, per_digit=2, seed=3)["images"], data["images"])
    assert not np.array_equal(render_unseen(fonts, per_digit=2, seed=4)["images"], data["images"])
