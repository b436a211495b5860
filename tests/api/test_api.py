"""The Python API gives what the commands write, from the same calls: the digits of
``sample --out x.npz``, the picture of ``--out x.png``, the figures of ``evaluate``; and
``import digitgan`` stays light."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import digitgan
from digitgan.cli.main import main


def test_load_draws_the_digits_and_grids_that_sample_writes(preset_runs, tmp_path, capsys):
    run = preset_runs["cdcgan"]
    g = digitgan.load(run)
    assert isinstance(g, digitgan.Generator) and g.conditional and "cdcgan" in repr(g)
    for flags, kwargs in ((["--digit", "7"], {"digit": 7}), ([], {}), (["--per-digit"], {"per_digit": True})):
        npz, png = tmp_path / f"d{len(flags)}.npz", tmp_path / f"d{len(flags)}.png"
        for out in (npz, png):
            assert main(["sample", str(run), "--n", "12", "--seed", "3", *flags, "--out", str(out)]) == 0
        drawn = g.sample(12, seed=3, **kwargs)
        assert drawn.dtype == np.uint8 and drawn.shape == ((120 if flags == ["--per-digit"] else 12), 28, 28)
        assert np.array_equal(np.load(npz)["images"], drawn)
        assert g.grid_png(12, seed=3, **kwargs) == png.read_bytes()
        assert g.grid(12, seed=3, **kwargs).size == digitgan.Generator.grid(g, 12, seed=3, **kwargs).size
    assert not np.array_equal(g.sample(12, digit=7, seed=3), g.sample(12, digit=7, seed=4))


def test_a_bad_request_is_the_commands_one_line_error(preset_runs, tmp_path):
    with pytest.raises(digitgan.UserError, match="unconditional run"):
        digitgan.load(preset_runs["dcgan"]).sample(4, digit=3)
    with pytest.raises(digitgan.UserError, match="not found|no run folder|does not exist"):
        digitgan.load(tmp_path / "nowhere")
    with pytest.raises(digitgan.UserError, match="uint8 N x 28 x 28"):
        digitgan.evaluate(np.zeros((4, 28, 28), np.float32))


def test_evaluate_gives_the_figures_evaluate_writes(preset_runs, tiny_evaluator, data_root, tmp_path):
    run, out = preset_runs["cgan"], tmp_path / "metrics.json"
    argv = ["evaluate", str(run), "--n", "300", "--evaluator", str(tiny_evaluator), "--out", str(out)]
    assert main(argv) == 0
    written = json.loads(out.read_text())
    report = digitgan.evaluate(run, n=300, evaluator=tiny_evaluator, data_root=data_root)
    assert report["metrics"] == written["metrics"] and report["real_floor"] == written["real_floor"]
    assert report["n"] == 300 and report["evaluator"] == written["evaluator"]
    digits = digitgan.load(run).sample(300)
    labels = np.arange(300) % 10
    again = digitgan.evaluate(digits, labels=labels, evaluator=tiny_evaluator, data_root=data_root)
    assert again["metrics"] == written["metrics"]  # the same digits and labels, given as arrays


def test_train_returns_a_run_folder_that_loads(data_root, tmp_path):
    run = digitgan.train(
        "seed", epochs=1, limit=500, data_root=str(data_root), outdir=str(tmp_path), quiet=True
    )
    assert (run / "checkpoints" / "G.safetensors").is_file()
    assert digitgan.load(run).sample(2).shape == (2, 28, 28)
    with pytest.raises(digitgan.UserError, match="--lr"):
        digitgan.train("seed", lr=-1.0, data_root=str(data_root), outdir=str(tmp_path), quiet=True)


def test_every_public_name_has_a_runnable_example_and_import_stays_light():
    assert set(digitgan.__all__) == set(dir(digitgan))
    for name in digitgan.__all__:
        if name in ("__version__", "UserError"):
            continue
        doc = inspect.getdoc(getattr(digitgan, name)) or ""
        assert ">>> " in doc, f"digitgan.{name} has no example"
    probe = "import sys, digitgan; print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr
