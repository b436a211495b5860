"""Pictures: progress.gif, curves.png, latent walks, and the self-contained report in Chromium."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from digitgan.cli import main
from digitgan.config import make_config
from digitgan.sampling import slerp
from digitgan.training_loop import train

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, data_root):
    outdir = str(tmp_path_factory.mktemp("c"))
    cfg = make_config("cgan", data_root=str(data_root), epochs=2, limit=500, outdir=outdir, log_every=2)
    return train(cfg, stream=io.StringIO(), progress=False).run_dir


def test_progress_gif_and_curves(cgan_run):
    gif = Image.open(cgan_run / "progress.gif")
    assert gif.n_frames == 2 and gif.info["loop"] == 0
    gif.seek(1)
    label = gif.convert("L").crop((0, 0, 100, 16))
    assert np.asarray(label).max() > 200  # the "epoch 2" label is drawn (GIF palettes round white)
    assert (cgan_run / "progress.gif").stat().st_size < 4_000_000
    assert Image.open(cgan_run / "curves.png").size[0] > 500


def test_slerp():
    a, b = torch.randn(64), torch.randn(64)
    path = slerp(a, b, torch.linspace(0, 1, 7))
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    u, v = a / a.norm(), b / b.norm()
    mid = slerp(u, v, torch.tensor([0.5]))[0]
    assert mid.norm().item() == pytest.approx(1.0, abs=1e-5)  # stays on the sphere, unlike lerp


def test_interpolate_unconditional(tiny_run, tmp_path):
    out = tmp_path / "walk.png"
    assert main(["interpolate", str(tiny_run), "--seeds", "1", "2", "--steps", "8", "--out", str(out)]) == 0
    assert Image.open(out).size == (8 * 30 + 2, 32)
    assert Image.open(out.with_suffix(".gif")).n_frames == 14  # there and back


def test_interpolate_digits(cgan_run, tmp_path, capsys):
    out = tmp_path / "digits.png"
    assert main(["interpolate", str(cgan_run), "--digits", "3", "8", "--out", str(out)]) == 0
    strip = Image.open(out).convert("L")
    first, last = strip.crop((2, 2, 30, 30)), strip.crop((strip.width - 30, 2, strip.width - 2, 30))
    assert not np.array_equal(np.asarray(first), np.asarray(last))


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--digits", "3", "8"], "unconditional"),
        (["--seeds", "1", "2", "--steps", "1"], "--steps"),
        (["--seeds", "1"], "--seeds"),
    ],
)
def test_interpolate_errors(flags, words, tiny_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        raise SystemExit(main(["interpolate", str(tiny_run), *flags, "--out", str(tmp_path / "x.png")]))
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "x.png").exists()


def test_report_is_self_contained(cgan_run):
    assert main(["report", str(cgan_run)]) == 0
    page = (cgan_run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    images = re.findall(r'<img src="data:image/(png|gif);base64,', page)
    assert len(images) == 4  # final grid, per-digit grid, animation, curves
    assert "one row per digit" in page and "digitgan evaluate" in page  # not evaluated yet: says how


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_in_chromium(cgan_run, tmp_path):
    main(["report", str(cgan_run)])
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    url = (cgan_run / "report.html").resolve().as_uri()
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120
    ).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-images="4"' in body and 'data-images-loaded="4"' in body, body  # every image decoded
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, *flags, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True,
        timeout=120,
    )
    picture = Image.open(shot).convert("L")
    assert picture.size == (1200, 1600) and len(np.unique(np.asarray(picture))) > 50  # a page, not a blank


def test_tensorboard_logs_scalars_and_grids(tmp_path, data_root):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = make_config(
        "seed",
        data_root=str(data_root),
        epochs=2,
        limit=500,
        log_every=1,
        outdir=str(tmp_path),
        tensorboard=True,
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert [e.step for e in events.Scalars("train/d_loss")] == list(range(1, 11))
    assert len(events.Images("samples/fixed_noise")) == 2
    assert "tensorboard --logdir" in (run / "log.txt").read_text()
