"""ONNX export: the exported generator runs in onnxruntime and matches PyTorch."""

from __future__ import annotations

import sys

import numpy as np
import onnxruntime
import pytest
import torch

from digitgan.cli.main import main
from digitgan.generation.export import TOLERANCE
from digitgan.runs.checkpoint import load_generator


@pytest.mark.parametrize("preset", ["seed", "cdcgan", "scdcgan"])
def test_exported_generator_matches_pytorch(preset, preset_runs, tmp_path, capsys):
    """MLP, conditional conv and self-conditioned conv generators, at a batch size the export
    never saw (the batch axis is dynamic), with fresh noise and digits."""
    run, out = preset_runs[preset], tmp_path / "G.onnx"
    assert main(["export", str(run), "--onnx", str(out)]) == 0
    assert "onnxruntime matches PyTorch within" in capsys.readouterr().out
    G, cfg = load_generator(run)
    rng = torch.Generator().manual_seed(5)
    z = torch.randn(37, cfg.latent_dim, generator=rng)
    labels = torch.randint(0, 10, (37,), generator=rng)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == (["z", "labels"] if cfg.conditional else ["z"])
    feeds = {"z": z.numpy(), "labels": labels.numpy()}
    (images,) = session.run(None, {k: feeds[k] for k in names})
    with torch.no_grad():
        expected = G(z, labels if cfg.conditional else None).numpy()
    assert images.shape == (37, 1, 28, 28) and images.dtype == np.float32
    assert np.abs(images - expected).max() <= TOLERANCE


def test_the_readme_lines_draw_digits_with_onnxruntime_and_numpy(preset_runs, tmp_path, monkeypatch):
    """The README's snippet, as written there, on an exported cdcgan."""
    assert main(["export", str(preset_runs["cdcgan"]), "--onnx", str(tmp_path / "G.onnx")]) == 0
    monkeypatch.chdir(tmp_path)
    import numpy as np
    import onnxruntime as ort

    g = ort.InferenceSession("G.onnx")
    z = np.random.default_rng(0).standard_normal((10, 100), dtype=np.float32)
    digits = ((g.run(None, {"z": z, "labels": np.arange(10)})[0] + 1) * 127.5).astype(np.uint8)
    assert digits.shape == (10, 1, 28, 28) and digits.max() > 0


def test_export_errors_are_one_line_and_write_nothing(preset_runs, tmp_path, capsys, monkeypatch):
    run = str(preset_runs["dcgan"])
    assert main(["export", run, "--onnx", str(tmp_path / "missing" / "G.onnx")]) == 2
    assert "does not exist; create it" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "nope"), "--onnx", str(tmp_path / "G.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    assert main(["export", run, "--onnx", str(tmp_path / "G.onnx")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'digitgan[export]'" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())
