"""What a run keeps of what it has learnt, and what it says when it stops early: the full
state for ``--resume`` (checkpoints/state.safetensors), the inference snapshot beside it
(G.safetensors, ... and config.json), and the words for a divergence or an interruption
that say truly what is on disk.

    digitgan train --resume runs/00001-seed

The loop (training/loop.py) decides when; :class:`RunSaves` does the saving. A non-finite
state is never saved, so the last good one is never replaced by it; under torchrun every
rank checks that it holds the same weights, and rank 0 alone writes.
"""

from __future__ import annotations

import signal
from pathlib import Path

import torch

from digitgan.basics import distributed
from digitgan.config.train_config import TrainConfig
from digitgan.runs.checkpoint import save_config, save_state, save_weights
from digitgan.runs.run_folder import Diverged, Interrupted
from digitgan.training.family import Family


class RunSaves:
    """The checkpoints of one run folder, written by rank 0 (``writer``)."""

    def __init__(self, cfg: TrainConfig, family: Family, run_dir: Path, writer: bool, data_md5: str) -> None:
        self.cfg, self.family, self.run_dir, self.writer = cfg, family, run_dir, writer
        self.ckpt, self.data_md5 = run_dir / "checkpoints", data_md5

    def snapshot(self) -> None:
        """The inference weights (G, D, EMA) and their config, apart from the full state."""
        if not self.writer:
            return
        meta = {"config": self.cfg.to_json(), "data_md5": self.data_md5}
        for name, module in self.family.snapshot().items():
            save_weights(self.ckpt / f"{name}.safetensors", module, meta)
        save_config(self.ckpt / "config.json", self.cfg)

    def state(self, where: str, loop_tensors: dict[str, torch.Tensor], loop_meta: dict) -> None:
        """The full state: the family's, with the loop's own (data order, counters) added.
        Never a non-finite one: that would replace the last good state."""
        if not self.family.finite():
            raise self.diverged(where)
        # under torchrun: each rank's running statistics are of its slice; save their mean,
        # and only weights and optimiser states that every rank holds bit for bit
        distributed.average(self.family.batch_statistics())
        tensors, meta = self.family.state()
        tensors.update(loop_tensors)
        distributed.check_same([t for t in tensors.values() if t.is_floating_point()], "the weights")
        if self.writer:
            save_state(self.ckpt / "state.safetensors", tensors, {**meta, **loop_meta})

    def diverged(self, where: str) -> Diverged:
        """The error for a non-finite loss or weight, saying truly what was kept: resuming
        would replay the same steps, so the way on is a new run with a lower rate."""
        if (self.ckpt / "G.safetensors").is_file():
            kept = f"the weights of the last good checkpoint are kept in {self.ckpt}"
        else:
            kept = f"nothing was saved ({self.run_dir} holds only its log)"
        return Diverged(
            f"training diverged at {where}: a loss or weight is NaN or inf; {kept}; "
            "start a new run with a lower --lr"
        )

    def interrupted(self, signum: int) -> Interrupted:
        """The error after a first SIGINT/SIGTERM, once the state is saved."""
        return Interrupted(signum, f"state saved; continue with: digitgan train --resume {self.run_dir}")

    def kept_state(self) -> str:
        """Where the last good state is, for an error's closing words."""
        path = self.ckpt / "state.safetensors"
        if not path.is_file():
            return "no state had been saved yet"
        return f"the last good state is kept in {path}; continue with: digitgan train --resume {self.run_dir}"


def stop_line(signum: int, where: str) -> str:
    return f"digitgan: {signal.Signals(signum).name}: stopping {where}; saving the state"
