"""Synthetic MNIST: a conditional run's digits written in MNIST's own IDX format.

    digitgan dataset runs/00001-cdcgan --n 60000 --out synthetic-mnist

writes ``OUT/MNIST/raw/`` with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, so that
``torchvision.datasets.MNIST(OUT)`` and ``digitgan ... --data-root OUT`` read it unchanged;
``SYNTHETIC.json`` beside them holds each file's md5 (digitgan's loader checks them in place
of the official sums) and ``OUT/README.txt`` says which run, preset, seed and settings made
it. Labels are the digits requested, balanced (0-9 in turn); train and test come from
different noise (seeds S and S + 1). Every file is written atomically.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from digitgan.basics.errors import UserError, write_error
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.safe_output import check_output_folder
from digitgan.config.train_config import MAX_SEED
from digitgan.data.digits import SYNTHETIC_MARKER
from digitgan.data.idx import SPLIT_FILES, idx_bytes
from digitgan.models.draw import generate, sample_labels
from digitgan.runs.checkpoint import load_generator

MAX_TRAIN = 1_000_000  # 784 MB of digits: more is not what a digit data set needs
MAX_TEST = 100_000


def draw_labelled(G: torch.nn.Module, cfg, count: int, seed: int) -> tuple[np.ndarray, torch.Tensor]:
    """``count`` digits of a conditional G, balanced (0-9 in turn): uint8 (N, 28, 28) and labels."""
    labels = sample_labels(cfg, count)
    with torch.inference_mode():
        images = generate(G, count, seed, cfg.latent_dim, labels, as_uint8=True)[:, 0].numpy()
    return images, labels


def check_request(out: Path, n: int, test_n: int, force: bool) -> None:
    if not 1 <= n <= MAX_TRAIN:
        raise UserError(f"--n must be between 1 and {MAX_TRAIN:,}, got {n}")
    if not 1 <= test_n <= MAX_TEST:
        raise UserError(f"--test-n must be between 1 and {MAX_TEST:,}, got {test_n}")
    check_output_folder(out, "--out", force)


def write_dataset(run_dir: Path, out: Path, n: int, test_n: int, seed: int, force: bool = False) -> dict:
    """Draw ``n`` training and ``test_n`` test digits from a conditional run and write them as
    MNIST; returns what README.txt records."""
    out = Path(out)
    check_request(out, n, test_n, force)
    if not 0 <= seed < MAX_SEED:
        raise UserError(
            f"--seed must be between 0 and {MAX_SEED - 1} (the test split uses seed + 1), got {seed}"
        )
    G, cfg = load_generator(run_dir)
    if not cfg.conditional:
        raise UserError(
            f"{run_dir} is an unconditional run ({cfg.preset}): its digits have no labels to write; "
            "use a conditional run (cgan, cdcgan)"
        )
    made = {
        "run": str(Path(run_dir).resolve()),
        "preset": cfg.preset,
        "seed": seed,
        "train": n,
        "test": test_n,
    }
    # Everything goes to a hidden folder beside OUT and is moved into place at the end, so
    # that an interrupted or failed command leaves OUT as it was (or absent).
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.resolve().parent))
    except OSError as exc:
        raise write_error(out, exc) from exc
    try:
        _write_files(stage, G, cfg, made)
        _move_into_place(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return made


def _write_files(folder: Path, G: torch.nn.Module, cfg, made: dict) -> None:
    """The four IDX files, SYNTHETIC.json and README.txt, under ``folder``."""
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    sums = {}
    for split, count, split_seed in (
        ("train", made["train"], made["seed"]),
        ("test", made["test"], made["seed"] + 1),
    ):
        images, labels = draw_labelled(G, cfg, count, split_seed)
        for name, data in zip(
            SPLIT_FILES[split], (idx_bytes(images), idx_bytes(labels.numpy())), strict=True
        ):
            atomic_write_bytes(raw / name, data)
            sums[name] = hashlib.md5(data).hexdigest()
    atomic_write_bytes(
        raw / SYNTHETIC_MARKER, (json.dumps({**made, "files": sums}, indent=2) + "\n").encode()
    )
    atomic_write_bytes(folder / "README.txt", readme(made, cfg).encode())


def _move_into_place(stage: Path, out: Path) -> None:
    """A new ``out`` is the staged folder renamed (one atomic step); into an existing one
    (empty, or with --force) each file is renamed over its namesake."""
    try:
        if not out.exists():
            stage.rename(out)
            return
        raw = out / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for path in sorted((stage / "MNIST" / "raw").iterdir()):
            path.replace(raw / path.name)
        (stage / "README.txt").replace(out / "README.txt")
    except OSError as exc:
        raise write_error(out, exc) from exc


def readme(made: dict, cfg) -> str:
    return (
        "Synthetic MNIST written by digitgan dataset: handwritten-style digits drawn by a GAN, not by people.\n\n"
        f"run: {made['run']}\npreset: {made['preset']} ({cfg.epochs} epochs, seed {cfg.seed})\n"
        f"noise seeds: train {made['seed']}, test {made['seed'] + 1}\n"
        f"digits: {made['train']:,} train, {made['test']:,} test; labels are the digits requested, 0-9 in turn\n"
        "generator: the run's EMA weights when kept, eval mode\n\n"
        "Files: MNIST/raw/, in MNIST's IDX format (torchvision.datasets.MNIST(this folder) reads it);\n"
        "MNIST/raw/SYNTHETIC.json holds each file's md5.\n"
        f"Training config: {json.dumps(cfg.to_dict(), sort_keys=True)}\n"
    )
