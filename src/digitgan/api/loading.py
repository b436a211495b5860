"""``digitgan.load``: a trained model by its shipped name or its run folder, as a :class:`Generator` (the GANs)
or a :class:`Translator` (cyclegan).

    >>> import digitgan
    >>> digitgan.load("cdcgan").grid(digit=7).save("sevens.png")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

from digitgan.api.generator import Generator
from digitgan.api.translator import Translator
from digitgan.basics.errors import UserError
from digitgan.runs.checkpoint import is_cyclegan_run
from digitgan.runs.run_folder import require_run_dir
from digitgan.runs.shipped import NAMES, is_model_folder, pretrained_dir, verify


def load(
    name_or_run_dir: str | os.PathLike,
    device: str = "cpu",
    raw: bool = False,
    truncation: float | None = None,
) -> Generator | Translator:
    """A trained model: a shipped one by its name (``cdcgan``, ``scdcgan``, ``cyclegan``;
    ``digitgan pretrained`` lists them) or the one a run folder trained. A
    :class:`Generator` draws digits from noise; a cyclegan is a :class:`Translator` between
    typed and handwritten digits. A folder of the same name as a shipped model wins. For a
    generator: its EMA weights unless ``raw``, drawing with ``truncation`` (default: the
    run's), on ``device`` (cpu, cuda or auto). A missing or damaged file is a
    :class:`digitgan.UserError` naming it.

    >>> digitgan.load("cdcgan")
    <digitgan.Generator cdcgan: cdcgan, conditional>
    >>> digitgan.load("runs/00001-seed")   # doctest: +SKIP
    <digitgan.Generator 00001-seed: seed, unconditional>
    """
    path = Path(name_or_run_dir)
    if str(name_or_run_dir) in NAMES and not path.exists():
        path = pretrained_dir(str(name_or_run_dir))
    path = require_run_dir(path)
    if is_model_folder(path):
        verify(path)  # at load, not at first use: a damaged model never reaches the caller
    if is_cyclegan_run(path):
        if raw or truncation is not None:
            raise UserError("raw and truncation are a generator's; a cyclegan run translates digits")
        return Translator(path)
    return Generator.from_run(path, device, raw, truncation)
