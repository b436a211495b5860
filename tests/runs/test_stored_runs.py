"""A run folder written by an earlier digitgan still loads. Its config is stored here as
digitgan 0.1.0 wrote it (every key, as JSON); its weights are made by the test in the same
safetensors format (nothing binary is committed). A renamed, removed or added setting
breaks this test until the loader can read the old folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from digitgan.cli.main import main
from digitgan.config.train_config import TrainConfig
from digitgan.models.networks import build_generator
from digitgan.runs.checkpoint import load_generator, save_weights

STORED = Path(__file__).parent / "stored"


def old_run_folder(tmp_path: Path) -> Path:
    """runs/00001-cdcgan as digitgan 0.1.0 left it: config.json twice, G's weights."""
    config = json.loads((STORED / "cdcgan-config-0.1.0.json").read_text())
    run = tmp_path / "00001-cdcgan"
    (run / "checkpoints").mkdir(parents=True)
    for path in (run / "config.json", run / "checkpoints" / "config.json"):
        path.write_text(json.dumps(config, indent=2, sort_keys=True))
    torch.manual_seed(0)
    save_weights(run / "checkpoints" / "G_ema.safetensors", build_generator(TrainConfig(**config)))
    return run


def test_a_run_folder_of_0_1_0_loads_and_draws(tmp_path, capsys):
    run = old_run_folder(tmp_path)
    G, cfg = load_generator(run)
    assert cfg.preset == "cdcgan" and cfg.conditional and cfg.hidden_dim == 24
    out = tmp_path / "sevens.npz"
    assert main(["sample", str(run), "--digit", "7", "--n", "5", "--out", str(out)]) == 0
    with np.load(out) as sevens:
        assert sevens["images"].shape == (5, 28, 28) and (sevens["labels"] == 7).all()
