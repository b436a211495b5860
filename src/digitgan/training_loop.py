"""The one training loop every model family uses.

    digitgan train --preset seed --data-root ../shared/data --epochs 1 --limit 2000

``train()`` reads as its three chapters: prepare (check every input, then make or reopen the
run folder), run the epochs (a family's step, logging, pictures, checkpoints, signals),
finish (pictures, the closing line). What the loop uses of a model family is
family.Family, all of it. The speed of a step comes from
doing the tutorial's arithmetic with less around it: the dataset is one uint8 tensor on the
device, normalised per batch, and scalars are read from the device only on logging steps.
Under torchrun the loop calls distributed.py at a handful of named points: setup, the
batch's slice, the agreed stop, the averaged log line, the checked save, teardown.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import torch

from digitgan import distributed
from digitgan.checkpoint import (
    load_resume,
    save_config,
    save_state,
    save_weights,
)
from digitgan.config import TrainConfig
from digitgan.data import epoch_batches, epoch_order, load_dataset
from digitgan.errors import UserError
from digitgan.family import Family, build_family
from digitgan.pictures import make_pictures
from digitgan.run_folder import (
    Diverged,
    Interrupted,
    StopSignals,
    TrainResult,
    create_run_dir,
    truncate_logs,
)
from digitgan.run_outputs import RunOutputs, describe_choices, next_commands, plural
from digitgan.trainer import resolve_device

if TYPE_CHECKING:
    from collections.abc import Callable

    EpochEvaluator = Callable[[TrainConfig, TextIO], Callable[[Family], dict]]


class Training:
    """One run in progress: its folder, data, trainer, files and counters."""

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
        self.data = load_dataset(cfg.dataset, cfg.data_root, split="train")
        self.images = (self.data.images[: cfg.limit] if cfg.limit else self.data.images).to(self.device)
        self.labels = (self.data.labels[: cfg.limit] if cfg.limit else self.data.labels).to(self.device)
        self.n_images = self.images.shape[0]
        if self.n_images < cfg.batch_size:
            raise UserError(
                f"the data holds {self.n_images} images, fewer than one batch of {cfg.batch_size}"
            )
        if cfg.batch_size % distributed.world():
            raise UserError(
                f"--batch-size {cfg.batch_size} is the global batch; it must divide evenly over "
                f"the {distributed.world()} processes"
            )
        self.steps_per_epoch = self.n_images // cfg.batch_size
        if cfg.eval_every and epoch_evaluator is None:
            raise UserError(
                "--eval-every scores digits during training: pass train(..., epoch_evaluator="
                "digitgan.evaluation.make_epoch_evaluator), as digitgan train does"
            )
        self.evaluate = epoch_evaluator(cfg, stream) if cfg.eval_every and self.writer else None
        if cfg.tensorboard:
            try:
                from torch.utils import tensorboard  # noqa: F401
            except ImportError as exc:
                raise UserError(
                    "--tensorboard needs the tensorboard package: pip install 'digitgan[tensorboard]'"
                ) from exc
        self.trainer = build_family(cfg, self.device, cfg.epochs * self.steps_per_epoch, stream)
        self.cluster_note = None
        if cfg.clusters:
            self.labels = self.cluster_labels(state, state_path if state else None)
            distributed.broadcast_tensors([self.labels])  # every rank trains on rank 0's clusters
        self.data_rng = torch.Generator().manual_seed(cfg.seed + 1)  # epoch order, on the CPU
        self.epoch, self.pos, self.step, self.elapsed0, self.order = 0, 0, 0, 0.0, None
        note = None
        if state is not None:
            note = self._restore(state, state_path)
            self.run_dir = Path(resume)
            if self.writer:
                truncate_logs(self.run_dir, state[1].get("log_sizes", {}))
                for tmp in (self.run_dir / "checkpoints").glob(".*.tmp"):  # of a save a crash cut short
                    tmp.unlink(missing_ok=True)
        else:
            self.run_dir = self._new_run_dir()
        self.ckpt = self.run_dir / "checkpoints"
        self._open_outputs(progress, resumed=state is not None, note=note)
        self.start = time.perf_counter()

    def _new_run_dir(self) -> Path:
        """Rank 0 makes the numbered folder (no race between ranks); the others learn it by
        broadcast, or learn rank 0's error and stop with it."""
        made, error = None, None
        if self.writer:
            try:
                made = create_run_dir(self.cfg.outdir, self.cfg.preset)
                save_config(made / "config.json", self.cfg)
            except UserError as exc:
                error = exc
        made, message = distributed.broadcast((made, None if error is None else str(error)))
        if message is not None:
            raise error or UserError(message)
        return made

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
        clusters = self.trainer.fit_clusters(self.images, self.labels)
        self.cluster_note = clusters.describe(
            self.cfg.clusters, self.cfg.conditional, time.perf_counter() - start, self.labels.cpu()
        )
        return clusters.assignment.to(self.device)

    def _restore(self, state: tuple[dict, dict], path: Path) -> str | None:
        tensors, meta = state
        try:
            note = self.trainer.load_state(tensors, meta, path)
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
        where = f"at epoch {self.epoch + 1}, step {self.pos} of {self.steps_per_epoch}"
        self.log(
            f"digitgan: resuming {self.run_dir} {where}"
            if resumed
            else f"digitgan: run folder {self.run_dir}"
        )
        if note:
            self.log(f"digitgan: note: {note}")
        self.log(f"digitgan: {describe_choices(cfg)} (every setting: {self.run_dir / 'config.json'})")
        self.log(
            f"digitgan: {plural(cfg.epochs, 'epoch')} of {plural(self.steps_per_epoch, 'step')} (batch "
            f"{cfg.batch_size}) on {self.n_images:,} of the {len(self.data):,} {self.data.name} "
            f"{self.data.split} images, on {self.device} in {self.trainer.arith.describe()}"
        )
        if distributed.world() > 1:
            n = distributed.world()
            self.log(
                f"digitgan: {n} processes ({distributed.backend()}): global batch {cfg.batch_size} = "
                f"{n} x {cfg.batch_size // n}; rank 0 writes"
            )
        if self.cluster_note:
            self.log(f"digitgan: self-conditioning on {self.cluster_note}")
        if cfg.tensorboard and self.writer:
            self.out.open_tensorboard(self.step)

    # --- what the loop writes ------------------------------------------------------------

    def log_step(self, out: dict, i: int, since: tuple[float, int]) -> tuple[float, int]:
        """The tutorial's log line and a stats row for step ``i`` of the epoch."""
        now, (last_time, last_step) = time.perf_counter(), since
        scalars = distributed.mean(self.trainer.scalars(out))  # each rank's are over its slice
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

    def save_snapshot(self) -> None:
        """The inference weights (G, D, EMA) and their config, apart from the full state."""
        if not self.writer:
            return
        meta = {"config": self.cfg.to_json(), "data_md5": self.data.md5}
        for name, module in self.trainer.snapshot().items():
            save_weights(self.ckpt / f"{name}.safetensors", module, meta)
        save_config(self.ckpt / "config.json", self.cfg)

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

    def checkpoint(self, pos: int, where: str) -> None:
        """Save the full state, never a non-finite one: that would replace the last good state."""
        if not self.trainer.finite():
            raise self.diverged(where)
        # under torchrun: each rank's running statistics are of its slice; save their mean,
        # and only weights and optimiser states that every rank holds bit for bit
        distributed.average(self.trainer.batch_statistics())
        tensors, meta = self.trainer.state()
        tensors["rng.data"] = self.data_rng.get_state()
        order = self.order if pos else None
        tensors["data.order"] = order if order is not None else torch.zeros(0, dtype=torch.int64)
        if self.cfg.clusters:
            tensors["data.clusters"] = self.labels.to(torch.uint8)  # label_classes <= 250
        distributed.check_same([t for t in tensors.values() if t.is_floating_point()], "the weights")
        if not self.writer:
            return
        meta.update(
            epoch=self.epoch,
            pos=pos,
            step=self.step,
            elapsed_s=self.elapsed0 + time.perf_counter() - self.start,
            config=self.cfg.to_dict(),
            log_sizes={"log.txt": self.out.log.size(), "stats.jsonl": self.out.stats.size()},
        )
        save_state(self.ckpt / "state.safetensors", tensors, meta)

    def stop(self, signum: int, pos: int, where: str) -> Interrupted:
        """Save the state at a clean point after a first SIGINT/SIGTERM; the error to raise."""
        self.log(f"digitgan: {signal.Signals(signum).name}: stopping {where}; saving the state")
        self.checkpoint(pos, where)
        if pos == 0:
            self.save_snapshot()
        return Interrupted(signum, f"state saved; continue with: digitgan train --resume {self.run_dir}")

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
                    out = self.trainer.step(real, labels)
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
            raise self.diverged(f"epoch {self.epoch + 1}, step {i + 1}")
        return signum

    def end_of_epoch(self, real: torch.Tensor, out: dict, signum: int | None) -> None:
        """Pictures, evaluation and the checkpoint of the epoch just finished."""
        cfg, epoch = self.cfg, self.epoch
        if self.writer:
            self.out.epoch_pictures(epoch, real, out["fake"], self.trainer.fixed_images())
        if self.writer and self.evaluate is not None and (epoch + 1) % cfg.eval_every == 0:
            row = {"epoch": epoch, "global_step": self.step, **self.evaluate(self.trainer)}
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
            self.save_snapshot()

    def finish(self, seconds: float, first_step: int) -> None:
        if self.out.bar is not None:
            self.out.bar.close()
            self.log.bar = None
        if not self.writer:
            return
        try:
            made = make_pictures(self.run_dir)
            self.log("digitgan: wrote " + ", ".join(p.name for p in made))
        except Exception as exc:  # noqa: BLE001 - a picture must never cost the trained weights
            self.log(f"digitgan: warning: could not draw the pictures ({type(exc).__name__}: {exc})")
        images_per_s = (self.step - first_step) * self.cfg.batch_size / max(seconds, 1e-9)
        self.log(
            f"digitgan: done: {plural(self.cfg.epochs, 'epoch')}, {plural(self.step, 'step')}; "
            f"{seconds:.1f} s in this session ({images_per_s:,.0f} images/s); weights in {self.ckpt}"
        )
        for command in next_commands(self.cfg, self.run_dir):
            self.log(f"digitgan: next: {command}")

    def kept_state(self) -> str:
        """Where the last good state is, for an error's closing words."""
        path = self.ckpt / "state.safetensors"
        if not path.is_file():
            return "no state had been saved yet"
        return f"the last good state is kept in {path}; continue with: digitgan train --resume {self.run_dir}"

    def close(self) -> None:
        self.out.close()


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
    family's evaluation digits every K epochs (evaluation.make_epoch_evaluator: passed in
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
    run = Training(cfg, stream, progress, Path(resume) if resume else None, device, epoch_evaluator)
    first_step = run.step
    try:
        run.run_epochs()
        seconds = time.perf_counter() - run.start
        run.finish(seconds, first_step)
    except (Diverged, Interrupted) as exc:
        run.log.write_line(f"digitgan: {exc}")  # the CLI prints it on stderr
        raise
    except UserError as exc:  # a write failed: say what is kept, if the log can still take it
        error = UserError(f"{exc}; {run.kept_state()}")
        try:
            run.log.write_line(f"digitgan: error: {error}")  # the CLI prints it
        except UserError:
            pass
        raise error from exc
    finally:
        run.close()
    return TrainResult(run_dir=run.run_dir, seconds=seconds, steps=run.step, stats=run.out.all_stats)
