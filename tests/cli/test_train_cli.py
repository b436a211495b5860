"""``digitgan train`` end to end on a small subset of real MNIST, and its flag errors."""

from __future__ import annotations

import json
import re

import pytest
from PIL import Image
from procs import run_cli
from safetensors.torch import load_file

from digitgan.cli.main import main

LOG_LINE = re.compile(
    r"^Epoch \[(\d+)/(\d+)\], Step \[(\d+)/(\d+)\], d_loss: \d+\.\d{4}, g_loss: \d+\.\d{4}, "
    r"D\(x\): \d\.\d{2}, D\(G\(z\)\): \d\.\d{2}$"
)


def test_train_end_to_end(tmp_path, data_root):
    outdir = tmp_path / "runs"
    args = ["train", "--preset", "seed", "--data-root", str(data_root), "--epochs", "2", "--limit", "1000"]
    proc = run_cli(*args, "--log-every", "5", "--outdir", str(outdir))
    assert proc.returncode == 0, proc.stderr
    run = outdir / "00001-seed"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoints",
        "config.json",
        "curves.png",
        "log.txt",
        "progress.gif",
        "samples",
        "stats.jsonl",
    ]
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 2 and gif.size == (10 * 30 + 2, 10 * 30 + 2 + 16)  # one labelled frame an epoch
    assert Image.open(run / "curves.png").size[0] > 500

    cfg = json.loads((run / "config.json").read_text())
    assert cfg["epochs"] == 2 and cfg["limit"] == 1000 and cfg["lr"] == 2e-4 and cfg["latent_dim"] == 64

    # Not a terminal: plain lines, no progress bar; log.txt holds what was printed.
    assert "\r" not in proc.stdout
    assert (run / "log.txt").read_text() == proc.stdout
    lines = [m for m in map(LOG_LINE.match, proc.stdout.splitlines()) if m]
    # 1000 images / 100 = 10 steps per epoch, a line every 5 steps, epochs counted from 0
    assert [(int(m[1]), int(m[2]), int(m[3]), int(m[4])) for m in lines] == [
        (e, 2, s, 10) for e in (0, 1) for s in (5, 10)
    ]

    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 4
    for row, m in zip(stats, lines, strict=True):
        assert {"epoch", "step", "d_loss", "g_loss", "D(x)", "D(G(z))", "images_per_s", "elapsed_s"} <= set(
            row
        )
        assert f"d_loss: {row['d_loss']:.4f}" in m[0] and row["epoch"] == int(m[1])
        assert row["images_per_s"] > 0 and 0 <= row["D(x)"] <= 1
    assert stats[-1]["elapsed_s"] > stats[0]["elapsed_s"]

    samples = run / "samples"
    tutorial_files = ["fake_images-1.png", "fake_images-2.png", "real_images.png"]
    fixed_files = ["fixed-0001.png", "fixed-0002.png"]
    assert sorted(p.name for p in samples.iterdir()) == sorted(tutorial_files + fixed_files)
    for name in tutorial_files:
        # save_image's grid of 100 digits, 8 per row, 2 px padding: 8 x 13 tiles of 30 px
        assert Image.open(samples / name).size == (8 * 30 + 2, 13 * 30 + 2)
    for name in fixed_files:  # the same 100 noise vectors every epoch, 10 per row
        assert Image.open(samples / name).size == (10 * 30 + 2, 10 * 30 + 2)
    assert (samples / fixed_files[0]).read_bytes() != (samples / fixed_files[1]).read_bytes()

    weights = run / "checkpoints"
    assert sorted(p.name for p in weights.iterdir()) == [
        "D.safetensors",
        "G.safetensors",
        "config.json",
        "state.safetensors",
    ]
    G = load_file(weights / "G.safetensors")
    assert G["net.4.weight"].shape == (784, 256)
    assert json.loads((weights / "config.json").read_text()) == cfg

    # A second run gets the next number; the first is untouched.
    before = (run / "log.txt").read_bytes()
    proc = run_cli(*args[:-2], "--limit", "200", "--epochs", "1", "--outdir", str(outdir))
    assert proc.returncode == 0, proc.stderr
    assert (outdir / "00002-seed" / "checkpoints" / "G.safetensors").is_file()
    assert (run / "log.txt").read_bytes() == before


def test_progress_bar_when_asked(tmp_path, data_root):
    proc = run_cli(
        "train",
        "--data-root",
        str(data_root),
        "--epochs",
        "1",
        "--limit",
        "300",
        "--outdir",
        str(tmp_path),
        "--progress",
    )
    assert proc.returncode == 0, proc.stderr
    assert "step/s" in proc.stdout or "s/step" in proc.stdout  # tqdm's rate field


BAD_FLAGS = {
    "zero epochs": (["--epochs", "0"], "--epochs"),
    "negative batch": (["--batch-size", "-5"], "--batch-size"),
    "text batch": (["--batch-size", "many"], "--batch-size"),
    "negative lr": (["--lr", "-0.1"], "--lr"),
    "nan lr": (["--lr", "nan"], "--lr"),
    "beta 1": (["--beta1", "1"], "--beta1"),
    "device": (["--device", "tpu"], "--device"),
    "preset": (["--preset", "stylegan9"], "--preset"),
    "dataset": (["--dataset", "cifar"], "--dataset"),
    "limit below batch": (["--limit", "50"], "--limit"),
    "seed beyond torch's range": (["--seed", "99999999999999999999"], "--seed"),
    "negative seed": (["--seed", "-1"], "--seed"),
    "unknown precision": (["--precision", "fp8"], "--precision"),
    "bf16 on the tutorial's MLPs": (["--precision", "bf16"], "--precision"),
    "channels_last on the tutorial's MLPs": (["--channels-last"], "--channels-last"),
    "top-k share of 0": (["--top-k", "0"], "--top-k"),
    "top-k share above 1": (["--top-k", "1.5"], "--top-k"),
    "label smoothing of 0.5": (["--label-smoothing", "0.5"], "--label-smoothing"),
    "label smoothing on the hinge loss": (
        ["--loss", "hinge", "--label-smoothing", "0.1"],
        "--label-smoothing",
    ),
    "class head on the tutorial's unconditional MLPs": (["--aux-classifier", "1"], "--aux-classifier"),
    "D width on the tutorial's MLPs": (["--d-width", "64"], "--d-width"),
    "D hidden layer on the tutorial's MLPs": (["--d-hidden", "64"], "--d-hidden"),
    "negative D hidden layer": (["--arch", "conv", "--d-hidden", "-1"], "--d-hidden"),
    "G's resize layer on the tutorial's MLPs": (["--g-upsample", "resize"], "--g-upsample"),
    "unknown G upsampling": (["--arch", "conv", "--g-upsample", "bilinear"], "--g-upsample"),
    "truncation of 0": (["--preset", "scdcgan", "--truncation", "0"], "--truncation"),
    "truncation above 2": (["--preset", "scdcgan", "--truncation", "2.5"], "--truncation"),
    "truncation on cyclegan": (["--preset", "cyclegan", "--truncation", "0.8"], "--truncation"),
    "26 clusters per digit": (["--preset", "cdcgan", "--clusters", "26"], "--clusters"),
    "more clusters per digit than examples": (
        ["--preset", "cdcgan", "--clusters", "20", "--limit", "128"],
        "--clusters",
    ),
}


@pytest.mark.parametrize("case", BAD_FLAGS)
def test_bad_flag_is_one_line_exit_2(case, tmp_path, data_root, capsys):
    flags, name = BAD_FLAGS[case]
    outdir = tmp_path / "runs"
    with pytest.raises(SystemExit) as exc:
        code = main(["train", "--data-root", str(data_root), "--outdir", str(outdir), *flags])
        raise SystemExit(code)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and name in err, err
    assert not outdir.exists()


def test_cuda_without_gpu_is_one_line_exit_2(tmp_path, data_root, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    code = main(["train", "--data-root", str(data_root), "--device", "cuda", "--outdir", str(tmp_path / "r")])
    assert code == 2 and "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_unwritable_outdir(tmp_path, data_root, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["train", "--data-root", str(data_root), "--limit", "100", "--outdir", str(blocker / "runs")])
    assert code == 2 and "--outdir" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"
