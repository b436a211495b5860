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

from digitgan.cli.main import main
from digitgan.config.presets import make_config
from digitgan.generation.sampling import slerp
from digitgan.training.loop import train

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


def _noise_grids(run, epochs: int, side: int = 302) -> None:
    """Incompressible fixed-noise grids: the worst case for a GIF's size."""
    (run / "samples").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for e in range(1, epochs + 1):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(
            run / "samples" / f"fixed-{e:04d}.png"
        )


@pytest.mark.parametrize("budget", [4_000_000, 300_000])
def test_progress_gif_keeps_its_frame_and_size_bounds(tmp_path, budget):
    """200 epochs of noise grids: at most 60 frames, the last epoch always among them, and
    never more than the byte budget (4 MB by default; a tight one forces fewer frames too)."""
    from digitgan.runs.pictures import MAX_FRAMES, progress_gif

    _noise_grids(tmp_path, 200)
    gif = Image.open(progress_gif(tmp_path, budget=budget))
    assert 1 <= gif.n_frames <= MAX_FRAMES == 60
    assert (tmp_path / "progress.gif").stat().st_size <= budget
    gif.seek(gif.n_frames - 1)
    last = gif.convert("L").crop((0, 0, 120, 16))
    assert np.asarray(last).max() > 200  # labelled (the last frame is epoch 200)


def test_every_epochs_last_step_is_logged(tmp_path, data_root):
    """Steps are logged every --log-every and at an epoch's last step; on the full dataset
    (600 steps, --log-every 200) that is the tutorial's 200, 400, 600 and nothing more. A run
    shorter than --log-every still has a row per epoch and its curves."""
    from digitgan.runs.run_folder import read_stats

    cfg = make_config(
        "seed", data_root=str(data_root), epochs=2, limit=1000, log_every=4, outdir=str(tmp_path)
    )
    run = train(cfg, stream=io.StringIO(), progress=False).run_dir
    assert [(r["epoch"], r["step"]) for r in read_stats(run / "stats.jsonl")] == [
        (e, s) for e in (0, 1) for s in (4, 8, 10)
    ]
    short = make_config("seed", data_root=str(data_root), epochs=3, limit=500, outdir=str(tmp_path))
    run = train(short, stream=io.StringIO(), progress=False).run_dir  # 5 steps, --log-every 200
    assert [r["step"] for r in read_stats(run / "stats.jsonl")] == [5, 5, 5]
    assert (run / "curves.png").is_file()
    assert (run / "log.txt").read_text().count("Epoch [") == 3
