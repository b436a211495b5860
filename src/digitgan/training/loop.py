"""The one training loop every model family uses.

    digitgan train --preset seed --data-root ../shared/data --epochs 1 --limit 2000

``train()`` reads as its three chapters: prepare (check every input, then make or reopen the
run folder), run the epochs (a family's step, logging, pictures, checkpoints, signals),
finish (pictures, the closing line). What the loop uses of a model family is
family.Family, all of it. The speed of a step comes from
doing the tutorial's arithmetic with less around it: the dataset is one uint8 tensor on the
device, normalised per batch, and scalars are read from the device only on logging steps.
Under torchrun the loop calls basics/distributed.py at a handful of named points: setup, the
batch's slice, the agreed stop, the averaged log line, the checked save, teardown.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import torch

from digitgan.basics import distributed
from digitgan.basics.device import resolve_device
from digitgan.basics.errors import UserError
from digitgan.config.train_config import TrainConfig
from digitgan.data.digits import epoch_batches, epoch_order
from digitgan.runs.checkpoint import load_resume
from digitgan.runs.pictures import pictures_line
from digitgan.runs.run_folder import (
    Diverged,
    Interrupted,
    StopSignals,
    TrainResult,
)
from digitgan.runs.run_outputs import RunOutputs, next_commands, plural, start_lines
from digitgan.training.family import Family, build_family
from digitgan.training.prepare import check_extras, new_run_dir, reopen_run_dir, training_digits
from digitgan.training.saves import RunSaves, stop_line

if TYPE_CHECKING:
    from collections.abc import Callable

    EpochEvaluator = Callable[[TrainConfig, TextIO], Callable[[Family], dict]]


class TrainingRun:
    """One run in progress: its folder, data, family, files and counters."""

    def __init__(
        self,
        cfg: TrainConfig | None,
        stream: TextIO,
        progress: bool | None,
        resume: Path | None,
        device: str | None,
        epoch_evaluator: EpochEvaluator | None = None,
    ) -> None:
        state = None
        if resume is not None:
            cfg, state_path, state = load_resume(Path(resume), device)
        assert cfg is not None
        self.cfg, self.stream = cfg.validate(), stream
        distributed.setup(cfg.device)
        self.writer = distributed.is_writer()  # rank 0 alone writes the run folder
        self.device = resolve_device(cfg.device)
        self.data, self.images, self.labels = training_digits(cfg, self.device)
        self.n_images, self.steps_per_epoch = len(self.images), len(self.images) // cfg.batch_size
        self.evaluate = check_extras(cfg, epoch_evaluator, self.stream, self.writer)
        self.family = build_family(cfg, self.device, cfg.epochs * self.steps_per_epoch, stream)
        self.cluster_note = None
        if cfg.clusters:
            self.labels = self.cluster_labels(state, state_path if state else None)
            distributed.broadcast_tensors([self.labels])  # every rank trains on rank 0's clusters
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)  # epoch order, on the CPU
        self.epoch, self.pos, self.step, self.elapsed0, self.order = 0, 0, 0, 0.0, None
        note = None
        if state is not None:
            note = self._restore(state, state_path)
            self.run_dir = reopen_run_dir(Path(resume), state[1], self.writer)
        else:
            self.run_dir = new_run_dir(cfg, self.writer)
        self.saves = RunSaves(cfg, self.family, self.run_dir, self.writer, self.data.md5)
        self.ckpt = self.saves.ckpt
        self._open_outputs(progress, resumed=state is not None, note=note)
        self.start = time.perf_counter()

    def cluster_labels(self, state: tuple[dict, dict] | None, path: Path | None) -> torch.Tensor:
        """Self-conditioning: every training digit's k-means cluster in place of its label
        (digit * K + cluster when conditional). Computed once and kept in the state, so that
        a resume sees the same clusters."""
        if state is not None:
            try:
                return state[0]["data.clusters"].long().to(self.device)
            except KeyError as exc:
                raise UserError(f"{path} is incomplete or damaged (no data.clusters)") from exc
        start = time.perf_counter()
        clusters = self.family.fit_clusters(self.images, self.labels)
        self.cluster_note = clusters.describe(
            self.cfg.clusters, self.cfg.conditional, time.perf_counter() - start, self.labels.cpu()
        )
        return clusters.assignment.to(self.device)

    def _restore(self, state: tuple[dict, dict], path: Path) -> str | None:
        tensors, meta = state
        try:
            note = self.family.load_state(tensors, meta, path)
            self.data_rng.set_state(tensors["rng.data"])
            self.epoch, self.pos, self.step = meta["epoch"], meta["pos"], meta["step"]
            self.elapsed0 = meta["elapsed_s"]
            self.order = tensors["data.order"] if self.pos else None
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise UserError(f"{path} is incomplete or damaged ({type(exc).__name__}: {exc})") from exc
        return note

    def _open_outputs(self, progress: bool | None, resumed: bool, note: str | None) -> None:
        cfg, stream = self.cfg, self.stream
        show_bar = stream.isatty() if progress is None else progress
        total = cfg.epochs * self.steps_per_epoch
        self.out = RunOutputs(self.run_dir, stream, show_bar, self.writer, total, self.step)
        self.log = self.out.log
        where = f"at epoch {self.epoch + 1}, step {self.pos} of {self.steps_per_epoch}" if resumed else None
        data = f"{len(self.images):,} of the {len(self.data):,} {self.data.name} {self.data.split} images"
        on = f"on {self.device} in {self.family.arith.describe()}"
        for line in start_lines(cfg, self.run_dir, where, note, self.steps_per_epoch, f"{data}, {on}"):
            self.log(line)
        if self.cluster_note:
            self.log(f"digitgan: self-conditioning on {self.cluster_note}")
        if cfg.tensorboard and self.writer:
            self.out.open_tensorboard(self.step)

    # --- what the loop writes ------------------------------------------------------------

    def log_step(self, out: dict, i: int, since: tuple[float, int]) -> tuple[float, int]:
        """The tutorial's log line and a stats row for step ``i`` of the epoch."""
        now, (last_time, last_step) = time.perf_counter(), since
        scalars = distributed.mean(self.family.scalars(out))  # each rank's are over its slice
        row = {
            "epoch": self.epoch,
            "step": i + 1,
            "global_step": self.step,
            **scalars,
            "images_per_s": (self.step - last_step) * self.cfg.batch_size / max(now - last_time, 1e-9),
            "elapsed_s": self.elapsed0 + now - self.start,
        }
        self.out.step_line(row, scalars, self.cfg.epochs, self.steps_per_epoch)
        return now, self.step

    def checkpoint(self, pos: int, where: str) -> None:
        """The full state, with the loop's place in the data and its counters."""
        order = self.order if pos else None
        tensors = {
            "rng.data": self.data_rng.get_state(),
            "data.order": order if order is not None else torch.zeros(0, dtype=torch.int64),
            **({"data.clusters": self.labels.to(torch.uint8)} if self.cfg.clusters else {}),  # <= 250
        }
        meta = {"epoch": self.epoch, "pos": pos, "step": self.step, "config": self.cfg.to_dict()}
        if self.writer:
            meta["elapsed_s"] = self.elapsed0 + time.perf_counter() - self.start
            meta["log_sizes"] = {"log.txt": self.out.log.size(), "stats.jsonl": self.out.stats.size()}
        self.saves.state(where, tensors, meta)

    def stop(self, signum: int, pos: int, where: str) -> Interrupted:
        """Save the state at a clean point after a first SIGINT/SIGTERM; the error to raise."""
        self.log(stop_line(signum, where))
        self.checkpoint(pos, where)
        if pos == 0:
            self.saves.snapshot()
        return self.saves.interrupted(signum)

    # --- the chapters --------------------------------------------------------------------

    def run_epochs(self) -> None:
        cfg = self.cfg
        since = (time.perf_counter(), self.step)
        with StopSignals(self.run_dir) as stop:
            while self.epoch < cfg.epochs:
                if self.pos == 0:
                    self.order = epoch_order(self.n_images, cfg.batch_size, self.data_rng)
                signum = None
                for i, (real, labels) in enumerate(
                    epoch_batches(self.images, self.labels, self.order, self.pos), start=self.pos
                ):
                    real, labels = distributed.local_rows(real), distributed.local_rows(labels)
                    out = self.family.step(real, labels)
                    self.step += 1
                    if self.out.bar is not None:
                        self.out.bar.update(1)
                    # every log_every-th step (the tutorial's 200, 400, 600) and an epoch's last
                    logging = (i + 1) % cfg.log_every == 0 or i + 1 == self.steps_per_epoch
                    signum = self.after_step(out, i, logging, stop.signum)
                    if logging:
                        since = self.log_step(out, i, since)
                    if signum is not None and i + 1 < self.steps_per_epoch:
                        raise self.stop(signum, i + 1, f"at epoch {self.epoch + 1}, step {i + 1}")
                self.pos = 0
                self.end_of_epoch(real, out, signum)

    def after_step(self, out: dict, i: int, logging: bool, signum: int | None) -> int | None:
        """Stop on a non-finite loss; return the stop signal, if any. Under torchrun both
        are agreed by every rank, so that all stop at the same step."""
        # reading a CPU scalar costs no synchronisation: check every step there
        check = self.device.type == "cpu" or logging
        bad = check and not all(bool(torch.isfinite(out[k])) for k in ("d_loss", "g_loss") if k in out)
        if distributed.world() > 1:
            seen, bad_anywhere = distributed.agree([float(signum or 0), float(bad)])
            signum, bad = (int(seen) or None), bool(bad_anywhere)
        if bad:
            raise self.saves.diverged(f"epoch {self.epoch + 1}, step {i + 1}")
        return signum

    def end_of_epoch(self, real: torch.Tensor, out: dict, signum: int | None) -> None:
        """Pictures, evaluation and the checkpoint of the epoch just finished."""
        cfg, epoch = self.cfg, self.epoch
        if self.writer:
            self.out.epoch_pictures(epoch, real, out["fake"], self.family.fixed_images())
        if self.writer and self.evaluate is not None and (epoch + 1) % cfg.eval_every == 0:
            row = {"epoch": epoch, "global_step": self.step, **self.evaluate(self.family)}
            self.log(
                f"digitgan: epoch {epoch + 1}: FID {row['fid']:.3f}, IS {row['is']:.3f} "
                f"(n = {row['eval_n']}, {row['eval_s']:.2f} s)"
            )
            self.out.record(row, "eval", ("fid", "is"), epoch + 1)
        self.epoch += 1
        if signum is not None and self.epoch < cfg.epochs:
            raise self.stop(signum, 0, f"after epoch {self.epoch}")
        if self.epoch % cfg.checkpoint_every == 0 or self.epoch == cfg.epochs:
            self.checkpoint(0, f"the end of epoch {self.epoch}")
            self.saves.snapshot()

    def finish(self, seconds: float, first_step: int) -> None:
        if self.out.bar is not None:
            self.out.bar.close()
            self.log.bar = None
        if not self.writer:
            return
        self.log(pictures_line(self.run_dir))
        images_per_s = (self.step - first_step) * self.cfg.batch_size / max(seconds, 1e-9)
        self.log(
            f"digitgan: done: {plural(self.cfg.epochs, 'epoch')}, {plural(self.step, 'step')}; "
            f"{seconds:.1f} s in this session ({images_per_s:,.0f} images/s); weights in {self.ckpt}"
        )
        for command in next_commands(self.cfg, self.run_dir):
            self.log(f"digitgan: next: {command}")


def train(
    cfg: TrainConfig | None = None,
    stream: TextIO | None = None,
    progress: bool | None = None,
    resume: str | os.PathLike | None = None,
    device: str | None = None,
    epoch_evaluator: EpochEvaluator | None = None,
) -> TrainResult:
    """Train ``cfg`` in a new run folder under ``cfg.outdir``, or continue the run folder
    ``resume`` from its saved state (on ``device`` if given); return where it went. With
    ``cfg.eval_every``, ``epoch_evaluator(cfg, stream)`` makes the function that scores a
    family's evaluation digits every K epochs (evaluation.scores.make_epoch_evaluator: passed in
    from above, as the evaluation layer sits above training).

    Everything that can fail on bad input (device, data, output folder, saved state) is
    checked before anything is written. A write that fails later (a full disk) is a
    :class:`UserError` naming the file and the last good state, which is kept.
    """
    try:
        return _train(cfg, stream or sys.stdout, progress, resume, device, epoch_evaluator)
    finally:
        distributed.teardown()


def _train(cfg, stream, progress, resume, device, epoch_evaluator) -> TrainResult:
    run = TrainingRun(cfg, stream, progress, Path(resume) if resume else None, device, epoch_evaluator)
    first_step = run.step
    try:
        run.run_epochs()
        seconds = time.perf_counter() - run.start
        run.finish(seconds, first_step)
    except (Diverged, Interrupted) as exc:
        run.log.write_line(f"digitgan: {exc}")  # the CLI prints it on stderr
        raise
    except UserError as exc:  # a write failed: say what is kept, if the log can still take it
        error = UserError(f"{exc}; {run.saves.kept_state()}")
        try:
            run.log.write_line(f"digitgan: error: {error}")  # the CLI prints it
        except UserError:
            pass
        raise error from exc
    finally:
        run.out.close()
    return TrainResult(run_dir=run.run_dir, seconds=seconds, steps=run.step, stats=run.out.all_stats)
