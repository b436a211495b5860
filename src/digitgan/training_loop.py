"""The one training loop every model family uses.

    digitgan train --preset seed --data-root ../shared/data --epochs 1 --limit 2000

One step is the tutorial's: a discriminator update on a real batch (target 1) and on G(z)
(target 0), then a generator update on a fresh z with target 1. The speed comes from doing
the same arithmetic with less around it: the dataset is one uint8 tensor on the device,
normalised per batch; the fakes for the D step are made without autograd (the tutorial
builds G's graph there and then discards its gradients); D's weight gradients are not
computed during the G step (the tutorial computes and discards them); scalars are read
from the device only on logging steps.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from PIL import Image
from torchvision.utils import save_image
from tqdm import tqdm

from digitgan.checkpoint import (
    load_config,
    load_module_tensors,
    load_state,
    module_tensors,
    optimizer_state_dict,
    optimizer_tensors,
    save_config,
    save_state,
    save_weights,
)
from digitgan.config import TrainConfig
from digitgan.data import load_dataset, to_model_range
from digitgan.errors import UserError
from digitgan.losses import build_objective
from digitgan.mlp_step import fast_step_for
from digitgan.networks import build_networks
from digitgan.optim import LeanAdam
from digitgan.pictures import make_pictures
from digitgan.sampling import denorm, generate


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def create_run_dir(outdir: str | os.PathLike, preset: str) -> Path:
    """``outdir/NNNNN-preset``, numbered one past the highest existing number, never reused."""
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create output folder {outdir}: {exc.strerror}; choose another --outdir"
        ) from exc
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise UserError(f"output folder {outdir} is not writable; choose another --outdir")
    numbers = [int(p.name[:5]) for p in outdir.iterdir() if p.name[:5].isdigit()]
    number = max(numbers, default=0) + 1
    while True:
        run_dir = outdir / f"{number:05d}-{preset}"
        try:
            run_dir.mkdir()  # exclusive: two runs started together never share a folder
            return run_dir
        except FileExistsError:
            number += 1


class RunLog:
    """Prints a line (above the progress bar when there is one) and appends it to log.txt."""

    def __init__(self, path: Path, stream: TextIO, bar: tqdm | None) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.stream, self.bar = stream, bar

    def __call__(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


@dataclass
class TrainResult:
    run_dir: Path
    seconds: float
    steps: int
    stats: list[dict] = field(default_factory=list)


def set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


class EMA:
    """An exponential moving average of a module's weights, kept as a frozen copy in eval mode:
    after every G update, ema = d * ema + (1 - d) * weights with d = min(decay, (1 + t) /
    (10 + t)) at update t, so that early on the average is not dominated by the random
    initial weights (the warm-up of TensorFlow's ExponentialMovingAverage). Buffers
    (BatchNorm's running statistics) are copied, not averaged."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0
        self._ema_params = list(self.module.parameters())

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, module: torch.nn.Module) -> None:
        weight = 1 - self.current_decay()
        self.updates += 1
        torch._foreach_lerp_(self._ema_params, list(module.parameters()), weight)
        for mine, theirs in zip(self.module.buffers(), module.buffers(), strict=True):
            mine.copy_(theirs)


class Trainer:
    """The networks, their optimisers, EMA and the noise source; :meth:`step` is one
    discriminator update, followed by a generator update every ``n_critic``-th call.
    ``fast=False`` trains the tutorial's GAN through autograd instead of mlp_step.py (for
    tests and benchmarks)."""

    def __init__(self, cfg: TrainConfig, device: torch.device, fast: bool = True) -> None:
        self.cfg, self.device = cfg, device
        torch.manual_seed(cfg.seed)  # weight initialisation
        self.noise_rng = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.G, self.D = (m.to(device) for m in build_networks(cfg))
        self.objective = build_objective(cfg.loss, cfg.gp_lambda, self.noise_rng)
        # Fused Adam (one pass over memory), stepped without per-call bookkeeping: see optim.py.
        self.opt_g = LeanAdam(self.G.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.opt_d = LeanAdam(self.D.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        self.d_params = list(self.D.parameters())
        self.ema = EMA(self.G, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.d_steps = 0
        self.last_g: dict[str, torch.Tensor] = {}  # outputs of the latest G step
        # The tutorial's GAN takes a hand-written backward (mlp_step.py): same updates, faster.
        # The noise source is looked up per call, so a replaced ``trainer.noise`` is honoured.
        self.fast_step = (
            fast_step_for(
                self.G, self.D, self.objective, cfg.n_critic, self.opt_g, self.opt_d, lambda b: self.noise(b)
            )
            if fast
            else None
        )

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything needed to continue bit for bit: weights, EMA, optimisers, step counters
        and the random number generators' states, as tensors and JSON."""
        tensors = {**module_tensors("G", self.G), **module_tensors("D", self.D)}
        meta: dict = {"d_steps": self.d_steps}
        if self.ema is not None:
            tensors.update(module_tensors("G_ema", self.ema.module))
            meta["ema_updates"] = self.ema.updates
        for name, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            t, m = optimizer_tensors(name, opt.state_dict())
            tensors.update(t)
            meta[name] = m
        tensors["rng.noise"] = self.noise_rng.get_state()
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng.cuda.{i}"] = s
        py_state = random.getstate()
        meta["rng_python"] = [py_state[0], list(py_state[1]), py_state[2]]
        np_state = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        meta["rng_numpy"] = [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
        return tensors, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> None:
        load_module_tensors("G", self.G, tensors, path)
        load_module_tensors("D", self.D, tensors, path)
        if self.ema is not None:
            load_module_tensors("G_ema", self.ema.module, tensors, path)
            self.ema.updates = meta["ema_updates"]
        self.opt_g.load_state_dict(optimizer_state_dict("opt_g", tensors, meta["opt_g"]))
        self.opt_d.load_state_dict(optimizer_state_dict("opt_d", tensors, meta["opt_d"]))
        self.d_steps = meta["d_steps"]
        self.noise_rng.set_state(tensors["rng.noise"])
        torch.set_rng_state(tensors["rng.torch"])
        if torch.cuda.is_available():
            states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
            if states:
                torch.cuda.set_rng_state_all(states)
        version, py_state, gauss = meta["rng_python"]
        random.setstate((version, tuple(py_state), gauss))
        name, pos, has_gauss, cached = meta["rng_numpy"]
        np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator to draw samples with: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.G

    def noise(self, batch: int) -> torch.Tensor:
        return torch.randn(batch, self.cfg.latent_dim, device=self.device, generator=self.noise_rng)

    def fake_labels(self, batch: int) -> torch.Tensor | None:
        """Digits for G to draw: uniform, for conditional models only."""
        if not self.cfg.conditional:
            return None
        return torch.randint(0, 10, (batch,), device=self.device, generator=self.noise_rng)

    def step(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One D update on ``real`` (B, 1, 28, 28) in [-1, 1] with its ``labels`` (B,), then a G
        update if this is an ``n_critic``-th call. Returns device tensors (no
        synchronisation): losses, D's raw outputs, and the latest G step's fakes."""
        if self.fast_step is not None:
            out = self.fast_step(real)
            self.d_steps += 1
            if self.ema is not None:
                self.ema.update(self.G)
            self.last_g = {"g_loss": out["g_loss"], "fake": out["fake"]}
            return out
        G, D, objective = self.G, self.D, self.objective
        B = real.shape[0]
        real_labels = labels if self.cfg.conditional else None
        # Discriminator: real -> 1, G(z) -> 0. No graph through G: the tutorial's
        # gradients for G here are discarded before the G step anyway.
        fake_labels = self.fake_labels(B)
        with torch.no_grad():
            fake = G(self.noise(B), fake_labels)
        d_loss, real_out, fake_out = objective.d_loss(D, real, fake, real_labels, fake_labels)
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        self.d_steps += 1

        if self.d_steps % self.cfg.n_critic == 0:
            # Generator: a fresh z, target 1. D's weights get no gradient here.
            g_labels = self.fake_labels(B)
            fake = G(self.noise(B), g_labels)
            set_requires_grad(self.d_params, False)
            g_loss = objective.g_loss(D, fake, g_labels)
            self.opt_g.zero_grad()
            g_loss.backward()
            self.opt_g.step()
            set_requires_grad(self.d_params, True)
            if self.ema is not None:
                self.ema.update(G)
            self.last_g = {"g_loss": g_loss, "fake": fake.detach()}
        return {
            "d_loss": d_loss,
            "real_logits": real_out,
            "fake_logits": fake_out,
            "fake": fake.detach(),
            **self.last_g,
        }


def epoch_order(n: int, batch_size: int, rng: torch.Generator) -> torch.Tensor:
    """This epoch's shuffled indices, (steps, B): whole batches only. The tutorial's
    60,000 / 100 divides exactly; elsewhere a ragged last batch would change the loss scale
    of one step per epoch."""
    steps = n // batch_size
    return torch.randperm(n, generator=rng)[: steps * batch_size].view(steps, batch_size)


def epoch_batches(
    images_u8: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, start: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images (B, 1, 28, 28) in [-1, 1], labels (B,)) for the rows of ``order`` from
    ``start`` on."""
    order = order.to(images_u8.device)
    for idx in order[start:]:
        # index_select: one gather kernel, several times cheaper than images_u8[idx] here
        real = to_model_range(images_u8.index_select(0, idx)).view(idx.shape[0], 1, 28, 28)
        yield real, labels.index_select(0, idx)


def sample_labels(cfg: TrainConfig, n: int) -> torch.Tensor | None:
    """Balanced digits 0, 1, ..., 9, 0, 1, ... for conditional models; None otherwise."""
    return torch.arange(n) % 10 if cfg.conditional else None


def fixed_grid(trainer: Trainer, path: Path) -> None:
    """100 digits from the same noise every epoch (rows are digits 0-9 when conditional)."""
    cfg = trainer.cfg
    labels = torch.arange(100) // 10 if cfg.conditional else None
    images = generate(trainer.sampler, 100, seed=cfg.seed + 3, latent_dim=cfg.latent_dim, labels=labels)
    save_image(denorm(images), path, nrow=10)


def make_epoch_evaluator(cfg: TrainConfig, stream: TextIO):
    """A function G -> {fid, is, eval_n, eval_s} on cfg.eval_n digits from fixed noise, so that
    epochs compare like with like. Loads (or first trains) the evaluator and real features."""
    from digitgan.data import to_uint8
    from digitgan.evaluation import quick_scores, reference
    from digitgan.evaluator import ensure_evaluator

    evaluator = ensure_evaluator(cfg.evaluator, cfg.data_root, stream)
    ref = reference(evaluator, cfg.data_root)

    def evaluate(G: torch.nn.Module) -> dict:
        start = time.perf_counter()
        labels = sample_labels(cfg, cfg.eval_n)
        images = to_uint8(generate(G, cfg.eval_n, seed=cfg.seed, latent_dim=cfg.latent_dim, labels=labels))[
            :, 0
        ]
        scores = quick_scores(images, evaluator, ref)
        return {**scores, "eval_n": cfg.eval_n, "eval_s": time.perf_counter() - start}

    return evaluate


class Diverged(Exception):
    """A loss or a weight became NaN or inf. The CLI prints it and exits with status 3."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the state was saved. Carries the signal number."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """While active, SIGINT and SIGTERM only raise a flag that the loop checks after each
    step, so that the state can be saved at a clean point."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _finite(module: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def train(
    cfg: TrainConfig | None = None,
    stream: TextIO | None = None,
    progress: bool | None = None,
    resume: str | os.PathLike | None = None,
) -> TrainResult:
    """Train ``cfg`` in a new run folder under ``cfg.outdir``, or continue the run folder
    ``resume`` from its saved state; return where it went.

    Everything that can fail on bad input (device, data, output folder, saved state) is
    checked before anything is written.
    """
    stream = stream or sys.stdout
    state = None
    if resume is not None:
        run_dir = Path(resume)
        if not (run_dir / "config.json").is_file():
            raise UserError(
                f"{run_dir} is not a digitgan run folder (no config.json); pass one such as runs/00001-seed"
            )
        cfg = load_config(run_dir / "config.json")
        state_path = run_dir / "checkpoints" / "state.safetensors"
        state = load_state(state_path)
        if state[1].get("epoch", 0) >= cfg.epochs and state[1].get("pos", 0) == 0:
            raise UserError(f"{run_dir} has finished all {cfg.epochs} epochs; there is nothing to resume")
    assert cfg is not None
    cfg.validate()
    device = resolve_device(cfg.device)
    data = load_dataset(cfg.dataset, cfg.data_root, split="train")
    images_u8 = data.images[: cfg.limit] if cfg.limit else data.images
    labels_all = data.labels[: cfg.limit] if cfg.limit else data.labels
    n_images = images_u8.shape[0]
    if n_images < cfg.batch_size:
        raise UserError(f"the data holds {n_images} images, fewer than one batch of {cfg.batch_size}")
    steps_per_epoch = n_images // cfg.batch_size
    evaluate = make_epoch_evaluator(cfg, stream) if cfg.eval_every else None
    if cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise UserError(
                "--tensorboard needs the tensorboard package: pip install 'digitgan[tensorboard]'"
            ) from exc

    trainer = Trainer(cfg, device)
    data_rng = torch.Generator().manual_seed(cfg.seed + 1)  # epoch order, on the CPU
    epoch, pos, step, elapsed0, order = 0, 0, 0, 0.0, None
    if state is not None:
        tensors, meta = state
        try:
            trainer.load_state(tensors, meta, state_path)
            data_rng.set_state(tensors["rng.data"])
            epoch, pos, step, elapsed0 = meta["epoch"], meta["pos"], meta["step"], meta["elapsed_s"]
            order = tensors["data.order"] if pos else None
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise UserError(f"{state_path} is incomplete or damaged ({type(exc).__name__}: {exc})") from exc
        # Temporary files of a save that a crash interrupted.
        for tmp in (run_dir / "checkpoints").glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    else:
        run_dir = create_run_dir(cfg.outdir, cfg.preset)
        (run_dir / "samples").mkdir()
        (run_dir / "checkpoints").mkdir()
        save_config(run_dir / "config.json", cfg)
    ckpt = run_dir / "checkpoints"

    objective = trainer.objective
    images_u8, labels_all = images_u8.to(device), labels_all.to(device)
    B = cfg.batch_size
    check_every_step = device.type == "cpu"  # reading a CPU scalar costs no synchronisation

    show_bar = stream.isatty() if progress is None else progress
    total = cfg.epochs * steps_per_epoch
    bar = tqdm(total=total, initial=step, unit="step", file=stream, dynamic_ncols=True) if show_bar else None
    log = RunLog(run_dir / "log.txt", stream, bar)
    stats_file = open(run_dir / "stats.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    if state is None:
        log(f"digitgan: run folder {run_dir}")
    else:
        log(f"digitgan: resuming {run_dir} at epoch {epoch + 1}, step {pos} of {steps_per_epoch}")
    log(f"digitgan: {data!r}, {n_images} used, {steps_per_epoch} steps/epoch, device {device}")
    log("digitgan: config " + json.dumps(cfg.to_dict(), sort_keys=True))
    board = None
    if cfg.tensorboard:
        board = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step or None)
        log(
            f"digitgan: TensorBoard logs in {run_dir / 'tensorboard'}; view with: tensorboard --logdir {run_dir}"
        )

    def save_snapshot() -> None:
        """The inference weights (G, D, EMA) and their config, apart from the full state."""
        meta = {"config": cfg.to_json(), "data_md5": data.md5}
        save_weights(ckpt / "G.safetensors", trainer.G, meta)
        save_weights(ckpt / "D.safetensors", trainer.D, meta)
        if trainer.ema is not None:
            save_weights(ckpt / "G_ema.safetensors", trainer.ema.module, meta)
        save_config(ckpt / "config.json", cfg)

    def diverged(where: str) -> Diverged:
        last = "the last good checkpoint is kept in " + str(ckpt)
        return Diverged(
            f"training diverged at {where}: a loss or weight is NaN or inf; {last}; try a lower --lr"
        )

    def checkpoint(epoch: int, pos: int, order: torch.Tensor | None, where: str) -> None:
        """Save the full state, never a non-finite one: that would replace the last good state."""
        if not (_finite(trainer.G) and _finite(trainer.D)):
            raise diverged(where)
        tensors, meta = trainer.state()
        tensors["rng.data"] = data_rng.get_state()
        tensors["data.order"] = order if order is not None else torch.zeros(0, dtype=torch.int64)
        elapsed = elapsed0 + time.perf_counter() - start
        meta.update(epoch=epoch, pos=pos, step=step, elapsed_s=elapsed, config=cfg.to_dict())
        save_state(ckpt / "state.safetensors", tensors, meta)

    def interrupted(signum: int, where: str) -> Interrupted:
        name = signal.Signals(signum).name
        return Interrupted(
            signum, f"{name}: stopped {where}; state saved; continue with: digitgan train --resume {run_dir}"
        )

    all_stats: list[dict] = []

    def record(row: dict, group: str, scalars: tuple[str, ...], x: int) -> None:
        """One row into stats.jsonl (and TensorBoard's ``group/`` scalars at ``x``)."""
        stats_file.write(json.dumps(row) + "\n")
        stats_file.flush()
        all_stats.append(row)
        if board is not None:
            for key in scalars:
                board.add_scalar(f"{group}/{key}", row[key], x)

    start = last_time = time.perf_counter()
    last_step = first_step = step
    try:
        with StopSignals() as stop:
            while epoch < cfg.epochs:
                if pos == 0:
                    order = epoch_order(n_images, B, data_rng)
                for i, (real, labels) in enumerate(
                    epoch_batches(images_u8, labels_all, order, pos), start=pos
                ):
                    out = trainer.step(real, labels)
                    step += 1
                    if bar is not None:
                        bar.update(1)
                    logging = (i + 1) % cfg.log_every == 0
                    if (check_every_step or logging) and not all(
                        bool(torch.isfinite(out[k])) for k in ("d_loss", "g_loss") if k in out
                    ):
                        raise diverged(f"epoch {epoch + 1}, step {i + 1}")
                    if logging:
                        now = time.perf_counter()
                        row = {
                            "epoch": epoch,
                            "step": i + 1,
                            "global_step": step,
                            "d_loss": out["d_loss"].item(),
                            "g_loss": out["g_loss"].item() if "g_loss" in out else math.nan,
                            "D(x)": objective.score(out["real_logits"]).item(),
                            "D(G(z))": objective.score(out["fake_logits"]).item(),
                            "images_per_s": (step - last_step) * B / max(now - last_time, 1e-9),
                            "elapsed_s": elapsed0 + now - start,
                        }
                        last_time, last_step = now, step
                        # The tutorial's line, character for character (its epoch counts from 0).
                        log(
                            f"Epoch [{epoch}/{cfg.epochs}], Step [{i + 1}/{steps_per_epoch}], "
                            f"d_loss: {row['d_loss']:.4f}, g_loss: {row['g_loss']:.4f}, "
                            f"D(x): {row['D(x)']:.2f}, D(G(z)): {row['D(G(z))']:.2f}"
                        )
                        record(row, "train", ("d_loss", "g_loss", "D(x)", "D(G(z))", "images_per_s"), step)
                        if bar is not None:
                            bar.set_postfix(
                                epoch=epoch + 1, d_loss=f"{row['d_loss']:.3f}", g_loss=f"{row['g_loss']:.3f}"
                            )
                    if stop.signum is not None and i + 1 < steps_per_epoch:
                        checkpoint(epoch, i + 1, order, f"epoch {epoch + 1}, step {i + 1}")
                        raise interrupted(stop.signum, f"at epoch {epoch + 1}, step {i + 1}")
                pos = 0
                # As the tutorial: the last real batch of the first epoch, and every epoch the
                # fakes of its last G step, as save_image grids (8 per row).
                if epoch == 0:
                    save_image(denorm(real), run_dir / "samples" / "real_images.png")
                save_image(denorm(out["fake"]), run_dir / "samples" / f"fake_images-{epoch + 1}.png")
                grid_path = run_dir / "samples" / f"fixed-{epoch + 1:04d}.png"
                fixed_grid(trainer, grid_path)
                if board is not None:
                    grid = torch.from_numpy(np.array(Image.open(grid_path).convert("L")))[None]  # (1, H, W)
                    board.add_image("samples/fixed_noise", grid, epoch + 1)
                if evaluate is not None and (epoch + 1) % cfg.eval_every == 0:
                    row = {"epoch": epoch, "global_step": step, **evaluate(trainer.sampler)}
                    log(
                        f"digitgan: epoch {epoch + 1}: FID {row['fid']:.3f}, IS {row['is']:.3f} "
                        f"(n = {row['eval_n']}, {row['eval_s']:.2f} s)"
                    )
                    record(row, "eval", ("fid", "is"), epoch + 1)
                epoch += 1
                if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or stop.signum is not None:
                    checkpoint(epoch, 0, None, f"the end of epoch {epoch}")
                    save_snapshot()
                if stop.signum is not None and epoch < cfg.epochs:
                    raise interrupted(stop.signum, f"after epoch {epoch}")
        seconds = time.perf_counter() - start
        if bar is not None:
            bar.close()
            log.bar = None
        try:
            made = make_pictures(run_dir)
            log("digitgan: wrote " + ", ".join(p.name for p in made))
        except Exception as exc:  # noqa: BLE001 - a picture must never cost the trained weights
            log(f"digitgan: warning: could not draw the pictures ({type(exc).__name__}: {exc})")
        log(
            f"digitgan: done: {cfg.epochs} epochs, {step} steps; {seconds:.1f} s in this session "
            f"({(step - first_step) * B / max(seconds, 1e-9):,.0f} images/s); weights in {ckpt}"
        )
    except (Diverged, Interrupted) as exc:
        log(f"digitgan: {exc}")
        raise
    finally:
        if bar is not None:
            bar.close()
        if board is not None:
            board.close()
        log.close()
        stats_file.close()
    return TrainResult(run_dir=run_dir, seconds=seconds, steps=step, stats=all_stats)
