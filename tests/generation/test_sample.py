"""``digitgan sample``: deterministic PNG grids and .npz arrays, and its errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from digitgan.basics.images import to_uint8
from digitgan.cli.main import main
from digitgan.config.presets import PRESETS
from digitgan.models.draw import generate
from digitgan.runs.checkpoint import load_generator


def test_same_seed_same_bytes(tiny_run, tmp_path):
    for name in ("a", "b"):
        assert (
            main(
                ["sample", str(tiny_run), "--n", "25", "--seed", "3", "--out", str(tmp_path / f"{name}.png")]
            )
            == 0
        )
        assert (
            main(
                ["sample", str(tiny_run), "--n", "25", "--seed", "3", "--out", str(tmp_path / f"{name}.npz")]
            )
            == 0
        )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    main(["sample", str(tiny_run), "--n", "25", "--seed", "4", "--out", str(tmp_path / "c.npz")])
    assert not np.array_equal(np.load(tmp_path / "a.npz")["images"], np.load(tmp_path / "c.npz")["images"])


def test_png_is_a_square_grid(tiny_run, tmp_path):
    main(["sample", str(tiny_run), "--n", "25", "--out", str(tmp_path / "g.png")])
    assert Image.open(tmp_path / "g.png").size == (5 * 30 + 2, 5 * 30 + 2)


def test_npz_holds_the_generators_digits(tiny_run, tmp_path):
    main(["sample", str(tiny_run), "--n", "40", "--seed", "9", "--out", str(tmp_path / "d.npz")])
    images = np.load(tmp_path / "d.npz")["images"]
    assert images.shape == (40, 28, 28) and images.dtype == np.uint8
    G, cfg = load_generator(tiny_run)
    expected = to_uint8(generate(G, 40, seed=9, latent_dim=cfg.latent_dim))[:, 0].numpy()
    assert np.array_equal(images, expected)
    # G(z) = -1 maps to 0 (MNIST's black background), +1 to 255
    assert to_uint8(torch.tensor([-1.0, 0.0, 1.0])).tolist() == [0, 128, 255]


BAD = {
    "n zero": (["--n", "0"], "--n"),
    "n huge png": (["--n", "20000", "--out", "x.png"], "--n"),
    "jpg": (["--out", "x.jpg"], ".png"),
    "no folder": (["--out", "missing/x.png"], "does not exist"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_sample_request(case, tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags, words = BAD[case]
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["sample", str(tiny_run), *flags]))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert list(tmp_path.iterdir()) == []


def test_missing_run_folder(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "runs" / "00042-seed"), "--out", str(tmp_path / "x.png")]) == 2
    assert "00042-seed does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong shape"])
def test_damaged_weights_name_the_file(damage, tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    weights = run / "checkpoints" / "G.safetensors"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    elif damage == "garbage":
        weights.write_bytes(b"\x00" * 64)
    else:
        cfg = run / "checkpoints" / "config.json"
        cfg.write_text(cfg.read_text().replace('"hidden_dim": 256', '"hidden_dim": 128'))
    out = tmp_path / "x.png"
    assert main(["sample", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err
    assert not out.exists()


def test_a_run_draws_with_its_truncation_and_sample_can_change_it(preset_runs, tmp_path):
    """scdcgan draws with the noise's spread at psi < 1 (0.875), set when it was trained;
    ``--truncation`` overrides it. A truncated G is the same G fed z * psi, with z_0 kept
    where it picks the cluster, so the clusters are drawn as often as before."""
    run, psi = preset_runs["scdcgan"], PRESETS["scdcgan"]["truncation"]
    G, cfg = load_generator(run)
    full, _ = load_generator(run, truncation=1.0)
    assert psi < 1 and cfg.truncation == G.truncation == psi and full.truncation == 1.0
    z = torch.randn(32, cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    narrowed = torch.cat([z[:, :1], z[:, 1:] * psi], 1)
    with torch.no_grad():
        assert torch.equal(G(z), full(narrowed)) and not torch.equal(G(z), full(z))
    assert torch.equal(G.classes_of(G.truncated(z), None), full.classes_of(z, None))
    main(["sample", str(run), "--n", "16", "--out", str(tmp_path / "a.npz")])
    main(["sample", str(run), "--n", "16", "--truncation", "1", "--out", str(tmp_path / "b.npz")])
    assert np.array_equal(
        np.load(tmp_path / "a.npz")["images"], to_uint8(generate(G, 16, 0, cfg.latent_dim))[:, 0]
    )
    assert np.array_equal(
        np.load(tmp_path / "b.npz")["images"], to_uint8(generate(full, 16, 0, cfg.latent_dim))[:, 0]
    )


def test_a_conditional_gs_truncation_scales_all_of_z(preset_runs):
    G, cfg = load_generator(preset_runs["cdcgan"], truncation=0.5)
    full, _ = load_generator(preset_runs["cdcgan"])
    assert cfg.truncation == 1.0 and full.truncation == 1.0
    z, digits = torch.randn(8, cfg.latent_dim, generator=torch.Generator().manual_seed(1)), torch.arange(8)
    with torch.no_grad():
        assert torch.equal(G(z, digits), full(z * 0.5, digits))
