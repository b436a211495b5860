"""Where a command may write: the checks every output path passes before any work is done.

    digitgan sample runs/00001-seed --out digits.png            # refused if digits.png exists
    digitgan sample runs/00001-seed --out digits.png --force    # replaces it

One rule for every command that writes a file or folder you name (``sample``,
``interpolate``, ``export``, ``handwrite``, ``translate``, ``evaluate``, ``dataset``):

- an existing output is replaced only with ``--force``;
- an output that is one of the command's inputs, a run folder's ``checkpoints/`` (weights,
  state, config) or a run folder's own records (``config.json``, ``log.txt``,
  ``stats.jsonl``) is refused, ``--force`` or not;
- the name must end as the command writes it (``--onnx`` in ``.onnx``, ...).

Files a command names itself inside a run folder (``report.html``, ``metrics.json``,
``interpolation-*.png``) are that run's derived views and are written again each time.
Every write is atomic (files.atomic_write_bytes), so a refused or failed command
leaves what was there.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from digitgan.basics.errors import UserError

RUN_RECORDS = ("config.json", "log.txt", "stats.jsonl")


def is_run_folder(folder: Path) -> bool:
    """Does ``folder`` look like a digitgan run folder (a ``checkpoints/`` and a config)?"""
    folder = Path(folder)
    return (folder / "checkpoints").is_dir() and (
        (folder / "config.json").is_file() or (folder / "checkpoints" / "config.json").is_file()
    )


def _refuse_run_files(path: Path, flag: str) -> None:
    """A run's weights, state and records are never an output."""
    resolved = path.resolve()
    for folder in resolved.parents:
        if folder.name == "checkpoints" and is_run_folder(folder.parent):
            raise UserError(
                f"{flag} {path} is inside the run folder {folder.parent}'s checkpoints/, which holds its "
                "weights and state; write somewhere else"
            )
    if resolved.name in RUN_RECORDS and is_run_folder(resolved.parent):
        raise UserError(
            f"{flag} {path} is a record of the run folder {resolved.parent}; write somewhere else"
        )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return a.resolve() == b.resolve()


def check_output_file(
    path: Path,
    flag: str,
    suffixes: tuple[str, ...],
    force: bool,
    inputs: Iterable[tuple[str, Path | None]] = (),
) -> Path:
    """Refuse ``path`` as the output of ``flag`` unless it ends in one of ``suffixes``, lies
    in an existing folder, is none of ``inputs`` (``(flag, path)`` pairs) and none of a
    run's files, and is new or ``force`` is given. Returns it."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {path} is a folder; give a file name ending in {' or '.join(suffixes)}")
    if path.suffix not in suffixes:
        raise UserError(f"{flag} must end in {' or '.join(suffixes)}, got {path}")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist; create it or choose another {flag}")
    _refuse_run_files(path, flag)
    for name, given in inputs:
        if given is not None and _same_file(path, Path(given)):
            raise UserError(f"{flag} {path} is this command's input ({name}); write to another file")
    if path.exists() and not force:
        raise UserError(f"{flag} {path} exists; pass --force to replace it, or choose another name")
    return path


def check_output_folder(path: Path, flag: str, force: bool) -> Path:
    """Refuse ``path`` as an output folder if it is a file, a run folder or inside one's
    ``checkpoints/``, lies in a folder that does not exist, or holds anything (unless
    ``force``). Returns it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is a file; give a folder")
    if not path.resolve().parent.is_dir():
        raise UserError(f"folder {path.parent} does not exist; create it or choose another {flag}")
    if is_run_folder(path):
        raise UserError(f"{flag} {path} is a run folder; write somewhere else")
    _refuse_run_files(path / "x", flag)
    if path.is_dir() and any(path.iterdir()) and not force:
        raise UserError(
            f"{flag} {path} is not empty; choose another folder, or pass --force to write into it"
        )
    return path
