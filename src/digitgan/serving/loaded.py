"""The runs a server draws from: loaded once at start, each behind its own lock.

    digitgan serve runs/00001-cdcgan runs/00002-scdcgan

Every drawing goes through the functions ``digitgan sample``, ``interpolate`` and
``handwrite`` use (generation/sampling.py, cyclegan/translation.py), so the same request gives the same bytes
as the command line. A damaged run fails here, at start, with the one-line error.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from digitgan.basics.errors import UserError
from digitgan.basics.images import grid_png_bytes, png_bytes, to_uint8, walk_gif_bytes
from digitgan.config.train_config import TrainConfig
from digitgan.generation.sampling import check_walk, interpolate, requested_labels
from digitgan.models.draw import generate
from digitgan.runs.checkpoint import is_cyclegan_run, load_generator

MAX_RUNS = 32
METRIC_KEYS = (
    "fid",
    "kid",
    "is",
    "precision",
    "recall",
    "confident_share",
    "min_digit_share",
    "conditional_accuracy",
)


@dataclass
class ServedRun:
    """One run folder's network in eval mode, its config and the lock that serialises its calls."""

    name: str
    run_dir: Path
    cfg: TrainConfig
    net: nn.Module
    translator: bool
    lock: threading.Lock = field(default_factory=threading.Lock)

    def info(self) -> dict:
        """What the page and ``/api/runs`` show of the run."""
        return {
            "name": self.name,
            "preset": self.cfg.preset,
            "kind": "translator" if self.translator else "generator",
            "conditional": bool(self.cfg.conditional),
            "epochs": self.cfg.epochs,
            "latent_dim": None if self.translator else self.cfg.latent_dim,
            "evaluation": self.evaluation(),
        }

    def evaluation(self) -> dict | None:
        """The run's ``digitgan evaluate`` figures beside the real-data floor, if it was evaluated."""
        path = self.run_dir / "metrics.json"
        try:
            report = json.loads(path.read_text())
            metrics, floor = report["metrics"], report["real_floor"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not evaluated (or a cyclegan report, whose two directions differ)
        pick = lambda m: {k: m[k] for k in METRIC_KEYS if isinstance(m.get(k), int | float)}  # noqa: E731
        return {"n": report.get("n"), "metrics": pick(metrics), "real_floor": pick(floor)}


def load_runs(run_dirs: list[Path]) -> dict[str, ServedRun]:
    """Each run folder's inference network (EMA weights when kept), by folder name."""
    from digitgan.cyclegan.translation import load_translator

    if not 1 <= len(run_dirs) <= MAX_RUNS:
        raise UserError(f"serve between 1 and {MAX_RUNS} run folders, got {len(run_dirs)}")
    runs: dict[str, ServedRun] = {}
    for run_dir in map(Path, run_dirs):
        name = run_dir.resolve().name
        if name in runs:
            raise UserError(f"two run folders are named {name}; serve runs whose folder names differ")
        if is_cyclegan_run(run_dir):
            net, cfg = load_translator(run_dir, "handwritten")
        else:
            net, cfg = load_generator(run_dir)
        runs[name] = ServedRun(name, run_dir, cfg, net, translator=cfg.family == "cyclegan")
    return runs


def _need_generator(run: ServedRun) -> None:
    if run.translator:
        raise UserError(f"{run.name} is a cyclegan run: it writes digits with /api/handwrite, not from noise")


def draw(
    run: ServedRun, n: int, seed: int, digit: int | None, per_digit: bool
) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The digits ``digitgan sample`` draws for the same request: images (N, 1, 28, 28) in
    [-1, 1], their labels, and the grid's columns (0: square-ish)."""
    _need_generator(run)
    labels, nrow = requested_labels(run.cfg, n, digit, per_digit, name=run.name)
    with run.lock, torch.inference_mode():
        images = generate(run.net, n * 10 if per_digit else n, seed, run.cfg.latent_dim, labels)
    return images, labels, nrow


def grid_png(run: ServedRun, n: int, seed: int, digit: int | None, per_digit: bool) -> bytes:
    images, _, nrow = draw(run, n, seed, digit, per_digit)
    return grid_png_bytes(images, nrow or None)


def digits_json(run: ServedRun, n: int, seed: int, digit: int | None, per_digit: bool) -> dict:
    """Each digit as its own base64 one-channel PNG, with its index in the grid, its digit
    (conditional runs) and the seed that drew the grid."""
    images, labels, _ = draw(run, n, seed, digit, per_digit)
    pixels = to_uint8(images)[:, 0].numpy()
    return {
        "run": run.name,
        "seed": seed,
        "images": [
            {
                "index": i,
                "seed": seed,
                "digit": None if labels is None else int(labels[i]),
                "png": base64.b64encode(png_bytes(p)).decode(),
            }
            for i, p in enumerate(pixels)
        ],
    }


def walk(
    run: ServedRun,
    steps: int,
    seeds: tuple[int, int] | None,
    digits: tuple[int, int] | None,
    seed: int,
    digit: int,
) -> torch.Tensor:
    """``digitgan interpolate``'s walk: (steps, 1, 28, 28)."""
    _need_generator(run)
    check_walk(run.cfg, digits, run.name)
    if seeds is None and digits is None:
        raise UserError("give seeds=A,B (a walk between two noise seeds) or digits=A,B (between two digits)")
    with run.lock, torch.inference_mode():
        return interpolate(
            run.net, run.cfg.latent_dim, steps, seeds=seeds, digits=digits, seed=seed, digit=digit
        )


def walk_bytes(images: torch.Tensor, gif: bool) -> bytes:
    return walk_gif_bytes(images) if gif else grid_png_bytes(images, nrow=images.shape[0])


def handwriting(run: ServedRun, text: str, seed: int, compare: bool):
    """``digitgan handwrite``'s picture (translation.Handwriting), for a cyclegan run."""
    from digitgan.cyclegan.translation import handwriting_png

    if not run.translator:
        raise UserError(f"{run.name} is a {run.cfg.preset} run; /api/handwrite needs a cyclegan run")
    with run.lock, torch.inference_mode():
        return handwriting_png(run.net, text, None, seed, compare)
