"""What a run writes as it trains: its log (log.txt, and the terminal above an optional
progress bar), stats.jsonl, TensorBoard's scalars and images, each epoch's pictures, and the
lines a person reads first and last (the run in a line, what to run next).
Under torchrun only rank 0 writes; the other ranks' outputs discard everything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from digitgan.basics import distributed
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.images import grid_png_bytes
from digitgan.config.fields import flag_name, flagged
from digitgan.config.presets import make_config
from digitgan.config.train_config import TrainConfig
from digitgan.runs.run_folder import AppendFile, Discard, RunLog

TUTORIAL_SCALARS = ("d_loss", "g_loss", "D(x)", "D(G(z))")


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8) -> None:
    """A grid of images in [-1, 1], written atomically (save_image's layout; 8 per row as
    the tutorial's grids)."""
    atomic_write_bytes(path, grid_png_bytes(images, nrow=nrow))


class RunOutputs:
    def __init__(
        self, run_dir: Path, stream: TextIO, show_bar: bool, writer: bool, total_steps: int, step: int
    ) -> None:
        self.run_dir, self.board, self.all_stats = run_dir, None, []
        if not writer:
            self.bar, self.log, self.stats = None, Discard(), Discard()
            return
        self.bar = (
            tqdm(total=total_steps, initial=step, unit="step", file=stream, dynamic_ncols=True)
            if show_bar
            else None
        )
        self.log = RunLog(run_dir / "log.txt", stream, self.bar)
        self.stats = AppendFile(run_dir / "stats.jsonl")

    def open_tensorboard(self, step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.board = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=step or None)
        self.log(
            f"digitgan: TensorBoard logs in {self.run_dir / 'tensorboard'}; view with: tensorboard --logdir {self.run_dir}"
        )

    def record(self, row: dict, group: str, scalars: tuple[str, ...], x: int) -> None:
        """One row into stats.jsonl (and TensorBoard's ``group/`` scalars at ``x``)."""
        self.stats.write_line(json.dumps(row))
        self.all_stats.append(row)
        if self.board is not None:
            for key in scalars:
                self.board.add_scalar(f"{group}/{key}", row[key], x)

    def step_line(self, row: dict, scalars: dict, epochs: int, steps_per_epoch: int) -> None:
        """The tutorial's log line, character for character (its epoch counts from 0), then a
        family's own terms (CycleGAN's cycle and semantic losses); and the stats row."""
        extra = "".join(f", {k}: {v:.4g}" for k, v in scalars.items() if k not in TUTORIAL_SCALARS)
        self.log(
            f"Epoch [{row['epoch']}/{epochs}], Step [{row['step']}/{steps_per_epoch}], "
            f"d_loss: {row['d_loss']:.4f}, g_loss: {row['g_loss']:.4f}, "
            f"D(x): {row['D(x)']:.2f}, D(G(z)): {row['D(G(z))']:.2f}" + extra
        )
        self.record(row, "train", (*scalars, "images_per_s"), row["global_step"])
        if self.bar is not None:
            self.bar.set_postfix(
                epoch=row["epoch"] + 1, d_loss=f"{row['d_loss']:.3f}", g_loss=f"{row['g_loss']:.3f}"
            )

    def epoch_pictures(self, epoch: int, real: torch.Tensor, fake: torch.Tensor, fixed: tuple) -> None:
        """As the tutorial: the last real batch of the first epoch, and every epoch the fakes
        of its last G step, as save_image grids (8 per row); and the fixed-noise grid."""
        samples = self.run_dir / "samples"
        if epoch == 0:
            save_grid(real, samples / "real_images.png")
        save_grid(fake, samples / f"fake_images-{epoch + 1}.png")
        grid_path = samples / f"fixed-{epoch + 1:04d}.png"
        images, nrow = fixed
        save_grid(images, grid_path, nrow=nrow)
        if self.board is not None:
            grid = torch.from_numpy(np.array(Image.open(grid_path).convert("L")))[None]  # (1, H, W)
            self.board.add_image("samples/fixed_noise", grid, epoch + 1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.board is not None:
            self.board.close()
        self.log.close()
        self.stats.close()


def plural(count: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``, ``1,000 steps``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def describe_choices(cfg: TrainConfig) -> str:
    """The run in a line: its preset and the settings given on top of it, as flags (where
    the data and runs go is said on lines of its own)."""
    preset = make_config(cfg.preset)
    changed = []
    for field in flagged(TrainConfig):
        value = getattr(cfg, field.name)
        if value == getattr(preset, field.name) or field.name in ("data_root", "outdir"):
            continue
        flag = flag_name(field)
        changed.append(
            (flag if value else "--no-" + flag[2:]) if isinstance(value, bool) else f"{flag} {value}"
        )
    return f"preset {cfg.preset}" + (" with " + " ".join(changed) if changed else "")


def start_lines(
    cfg: TrainConfig, run_dir: Path, resumed_at: str | None, note: str | None, steps: int, data: str
) -> list[str]:
    """The lines a run opens its log with: where it goes (or resumes ``resumed_at``), the run
    in a line, its length in ``steps`` per epoch on ``data``, the processes under torchrun."""
    lines = [
        f"digitgan: resuming {run_dir} {resumed_at}" if resumed_at else f"digitgan: run folder {run_dir}"
    ]
    lines += [f"digitgan: note: {note}"] if note else []
    lines.append(f"digitgan: {describe_choices(cfg)} (every setting: {run_dir / 'config.json'})")
    lines.append(
        f"digitgan: {plural(cfg.epochs, 'epoch')} of {plural(steps, 'step')} (batch {cfg.batch_size}) on {data}"
    )
    if distributed.world() > 1:
        n = distributed.world()
        lines.append(
            f"digitgan: {n} processes ({distributed.backend()}): global batch {cfg.batch_size} = "
            f"{n} x {cfg.batch_size // n}; rank 0 writes"
        )
    return lines


def next_commands(cfg: TrainConfig, run_dir: Path) -> list[str]:
    """What a person runs next to look at a finished run."""
    if cfg.family == "cyclegan":
        first = f'digitgan handwrite {run_dir} "2026" --out 2026.png'
    elif cfg.conditional:
        first = f"digitgan sample {run_dir} --per-digit --n 8 --out samples.png"
    else:
        first = f"digitgan sample {run_dir} --n 64 --out samples.png"
    return [first, f"digitgan evaluate {run_dir}", f"digitgan report {run_dir}"]
