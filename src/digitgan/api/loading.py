"""``digitgan.load``: a trained model by its run folder, as a :class:`Generator` (the GANs)
or a :class:`Translator` (cyclegan).

    >>> import digitgan
    >>> digitgan.load("runs/00002-cdcgan").grid(digit=7).save("sevens.png")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from digitgan.api.generator import Generator
from digitgan.api.translator import Translator
from digitgan.basics.errors import UserError
from digitgan.runs.checkpoint import is_cyclegan_run
from digitgan.runs.run_folder import require_run_dir


def load(
    run_dir: str | os.PathLike, device: str = "cpu", raw: bool = False, truncation: float | None = None
) -> Generator | Translator:
    """The model a run folder trained: a :class:`Generator` that draws digits from noise, or
    for a cyclegan run a :class:`Translator` between typed and handwritten digits. For a
    generator: its EMA weights unless ``raw``, drawing with ``truncation`` (default: the
    run's), on ``device`` (cpu, cuda or auto). A missing or damaged file is a
    :class:`digitgan.UserError` naming it.

    >>> digitgan.load("runs/00001-seed")   # doctest: +SKIP
    <digitgan.Generator 00001-seed: seed, unconditional>
    """
    path = require_run_dir(Path(run_dir))
    if is_cyclegan_run(path):
        if raw or truncation is not None:
            raise UserError("raw and truncation are a generator's; a cyclegan run translates digits")
        return Translator(path)
    return Generator.from_run(path, device, raw, truncation)
