"""The first chapter of a run: every input checked before anything is written, then the run
folder made (or reopened for ``--resume``). training/loop.py calls these in order.

    digitgan train --preset seed --data-root ../shared/data --limit 2000 --epochs 1
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import torch

from digitgan.basics import distributed
from digitgan.basics.errors import UserError
from digitgan.config.train_config import TrainConfig
from digitgan.data.digits import Digits, load_dataset
from digitgan.runs.checkpoint import save_config
from digitgan.runs.run_folder import create_run_dir, truncate_logs


def training_digits(cfg: TrainConfig, device: torch.device) -> tuple[Digits, torch.Tensor, torch.Tensor]:
    """The data set, and its training digits and labels on the device (the first
    ``--limit``), checked against the batch: at least one, split evenly over the processes."""
    data = load_dataset(cfg.dataset, cfg.data_root, split="train")
    images = (data.images[: cfg.limit] if cfg.limit else data.images).to(device)
    labels = (data.labels[: cfg.limit] if cfg.limit else data.labels).to(device)
    if len(images) < cfg.batch_size:
        raise UserError(f"the data holds {len(images)} images, fewer than one batch of {cfg.batch_size}")
    if cfg.batch_size % distributed.world():
        raise UserError(
            f"--batch-size {cfg.batch_size} is the global batch; it must divide evenly over "
            f"the {distributed.world()} processes"
        )
    return data, images, labels


def check_extras(
    cfg: TrainConfig, epoch_evaluator: Callable | None, stream: TextIO, writer: bool
) -> Callable | None:
    """--tensorboard's package, and with --eval-every the function that scores the family's
    digits (on rank 0 alone: ``writer``), made by ``epoch_evaluator(cfg, stream)``."""
    if cfg.eval_every and epoch_evaluator is None:
        raise UserError(
            "--eval-every scores digits during training: pass train(..., epoch_evaluator="
            "digitgan.evaluation.scores.make_epoch_evaluator), as digitgan train does"
        )
    if cfg.tensorboard:
        try:
            from torch.utils import tensorboard  # noqa: F401
        except ImportError as exc:
            raise UserError(
                "--tensorboard needs the tensorboard package: pip install 'digitgan[tensorboard]'"
            ) from exc
    return epoch_evaluator(cfg, stream) if cfg.eval_every and writer else None


def new_run_dir(cfg: TrainConfig, writer: bool) -> Path:
    """Rank 0 makes the numbered folder (no race between ranks); the others learn it by
    broadcast, or learn rank 0's error and stop with it."""
    made, error = None, None
    if writer:
        try:
            made = create_run_dir(cfg.outdir, cfg.preset)
            save_config(made / "config.json", cfg)
        except UserError as exc:
            error = exc
    made, message = distributed.broadcast((made, None if error is None else str(error)))
    if message is not None:
        raise error or UserError(message)
    return made


def reopen_run_dir(run_dir: Path, meta: dict, writer: bool) -> Path:
    """A resumed run's folder, its logs cut back to the saved state's sizes and the
    temporary file of a save a crash cut short removed."""
    if writer:
        truncate_logs(run_dir, meta.get("log_sizes", {}))
        for tmp in (run_dir / "checkpoints").glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    return run_dir
