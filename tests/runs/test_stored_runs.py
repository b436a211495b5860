"""A run folder written by an earlier digitgan still loads. Its config is stored here as
digitgan 0.1.0 wrote it (every key, as JSON); its weights are made by the test in the same
safetensors format (nothing binary is committed). A renamed, removed or added setting
breaks this test until the loader can read the old folder."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
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


def test_a_setting_added_later_loads_as_the_old_runs_were_trained_and_others_are_still_required(tmp_path):
    """A 0.1.0 cyclegan folder has no --guide-data or --typed-augment: it loads with the
    typed-only guide and no distortion (what it was trained with), not with whatever a
    preset says today; a folder missing any other setting is still refused by name."""
    from digitgan.basics.errors import UserError
    from digitgan.config.presets import make_config
    from digitgan.config.train_config import ADDED_LATER
    from digitgan.runs.checkpoint import load_config

    saved = dataclasses.asdict(make_config("cyclegan"))
    for name in ADDED_LATER:
        saved.pop(name)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    cfg = load_config(path)
    assert (cfg.guide_data, cfg.typed_augment) == ("typed", False)
    del saved["cycle_lambda"]
    path.write_text(json.dumps(saved))
    with pytest.raises(UserError, match="'cycle_lambda' is missing"):
        load_config(path)
