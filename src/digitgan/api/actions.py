"""``digitgan.train`` and ``digitgan.evaluate``: the commands' work, from Python.

>>> run = digitgan.train("seed", epochs=1, limit=2000, data_root="../shared/data")   # doctest: +SKIP
>>> digitgan.evaluate(run, n=1000)["metrics"]["fid"]                                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from digitgan.api.generator import Generator
from digitgan.basics.errors import UserError
from digitgan.basics.images import check_digits


def train(preset: str = "seed", progress: bool = False, quiet: bool = False, **settings: Any) -> Path:
    """Train ``preset`` with ``settings`` (TrainConfig's fields: ``epochs=1``,
    ``data_root="../shared/data"``, ``limit=2000``, ...) into a new run folder, and return it.
    The log goes to stdout (nowhere with ``quiet``), as ``digitgan train`` prints it.

    >>> digitgan.train("cdcgan", epochs=1, limit=1280)   # doctest: +SKIP
    PosixPath('runs/00003-cdcgan')
    """
    from digitgan.config.presets import make_config
    from digitgan.evaluation.scores import make_epoch_evaluator
    from digitgan.training.loop import train as train_run

    cfg = make_config(preset, **settings)
    stream = io.StringIO() if quiet else sys.stdout
    return train_run(cfg, stream=stream, progress=progress, epoch_evaluator=make_epoch_evaluator).run_dir


def evaluate(
    model: str | os.PathLike | Generator | np.ndarray,
    n: int = 10_000,
    seed: int = 0,
    labels: np.ndarray | None = None,
    data_root: str | os.PathLike | None = None,
    evaluator: str | os.PathLike | None = None,
) -> dict:
    """The evaluator's figures beside the real-data floor: ``{"n", "metrics", "real_floor",
    "evaluator"}`` as ``digitgan evaluate`` computes them. ``model``: a run folder or a
    :class:`Generator` (``n`` digits drawn with ``seed``), or uint8 digits (N, 28, 28) with
    their optional ``labels``.

    Examples:
        >>> digitgan.evaluate("runs/00002-cdcgan", n=2000)["metrics"]["precision"]   # doctest: +SKIP
    """
    from digitgan.evaluation.scores import check_n, score_against_floor
    from digitgan.models.draw import sample_labels

    if isinstance(model, np.ndarray):
        images, dataset = torch.from_numpy(check_digits(model)), "mnist"
        given = None if labels is None else torch.as_tensor(labels)
    else:
        generator = model if isinstance(model, Generator) else load_generator_of(model)
        check_n(n)
        given = sample_labels(generator.cfg, n)
        images, _, _ = generator.draw(n, seed=seed)
        images, dataset = images[:, 0], generator.cfg.dataset
        data_root = data_root or generator.cfg.data_root
    metrics, floor_metrics, used = score_against_floor(images, given, data_root, dataset, evaluator, seed)
    return {"n": len(images), "metrics": metrics, "real_floor": floor_metrics, "evaluator": used.describe()}


def load_generator_of(model: str | os.PathLike) -> Generator:
    """The generator ``digitgan.load`` gives for a name or run folder; a translator is
    measured by ``digitgan evaluate`` (both directions), not here."""
    from digitgan.api.loading import load

    loaded = load(model)
    if not isinstance(loaded, Generator):
        raise UserError(f"{model} is a cyclegan: digitgan evaluate measures its two directions")
    return loaded
