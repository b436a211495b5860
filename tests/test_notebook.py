"""examples/tutorial.ipynb runs from top to bottom (small: one short epoch, 1,000 digits
scored), so that it cannot rot; its pictures and figures come out."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "tutorial.ipynb"


@pytest.mark.slow
def test_the_tutorial_notebook_runs(tmp_path, monkeypatch, data_root):
    monkeypatch.setenv("DIGITGAN_CACHE", str(tmp_path / "cache"))  # the kernel inherits this env
    monkeypatch.setenv("DIGITGAN_DATA", str(data_root))
    monkeypatch.setenv("DIGITGAN_TUTORIAL_SMALL", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")  # kept clean
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    pictures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(pictures) == 4  # the seed run's grid, the sevens, a row per digit, "2026" by hand
    text = "".join(out.get("text", "") for out in outputs)
    assert "real floor" in text and "conditional_accuracy" in text
    assert list((tmp_path / "runs").glob("00001-seed/checkpoints/G.safetensors"))
