"""A run's folder and what the loop writes into it as it goes: the numbered folder itself,
``log.txt`` and ``stats.jsonl`` (both cut back to what the saved state had seen when a run
resumes), and the signals that stop a run at a clean point.

    runs/00001-seed/  config.json  log.txt  stats.jsonl  samples/  checkpoints/
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from digitgan.basics.errors import UserError, write_error


def require_run_dir(path: str | os.PathLike, example: str = "runs/00001-seed") -> Path:
    """``path`` as a run folder to read from, or the one-line error: it does not exist, or it
    is a file (such as the run's config.json) rather than the folder."""
    path = Path(path)
    if path.is_file():
        raise UserError(f"{path} is a file, not a run folder; pass the folder itself, such as {example}")
    if not path.is_dir():
        raise UserError(f"run folder {path} does not exist; pass a folder such as {example}")
    return path


def create_run_dir(outdir: str | os.PathLike, preset: str) -> Path:
    """``outdir/NNNNN-preset`` with its ``samples/`` and ``checkpoints/``, numbered one past
    the highest existing number, never reused."""
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
        except FileExistsError:
            number += 1
            continue
        except OSError as exc:
            raise write_error(run_dir, exc) from exc
        for sub in ("samples", "checkpoints"):
            try:
                (run_dir / sub).mkdir()
            except OSError as exc:
                raise write_error(run_dir / sub, exc) from exc
        return run_dir


class AppendFile:
    """A text file the loop appends lines to, flushed line by line; a failed write (a full
    disk, a file-size limit) is a :class:`UserError` naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise write_error(path, exc) from exc

    def write_line(self, line: str) -> None:
        try:
            self.file.write(line + "\n")
            self.file.flush()
        except OSError as exc:
            raise write_error(self.path, exc) from exc

    def size(self) -> int:
        """Bytes written so far: what a checkpoint records, and a resume cuts back to."""
        return self.file.tell()

    def close(self) -> None:
        try:
            self.file.close()
        except OSError:
            pass  # the write that failed has been reported


class RunLog(AppendFile):
    """Prints a line (above the progress bar when there is one) and appends it to log.txt."""

    def __init__(self, path: Path, stream: TextIO, bar: tqdm | None) -> None:
        super().__init__(path)
        self.stream, self.bar = stream, bar

    def __call__(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)
        self.write_line(line)


class Discard:
    """What a rank other than the writer has in place of log.txt and stats.jsonl (under
    torchrun rank 0 alone writes them)."""

    bar = None

    def __call__(self, line: str) -> None:
        pass

    def write_line(self, line: str) -> None:
        pass

    def size(self) -> int:
        return 0

    def close(self) -> None:
        pass


def truncate_logs(run_dir: Path, sizes: dict[str, int]) -> None:
    """Cut log.txt and stats.jsonl back to the sizes a saved state recorded: the rows written
    after it (a kill -9 leaves them, perhaps half a line) are written again by the resumed
    run, and must not appear twice."""
    for name, size in sizes.items():
        path = run_dir / name
        if path.is_file() and path.stat().st_size > size:
            try:
                os.truncate(path, size)
            except OSError as exc:
                raise write_error(path, exc) from exc


@dataclass
class TrainResult:
    run_dir: Path
    seconds: float
    steps: int
    stats: list[dict] = field(default_factory=list)


class Diverged(Exception):
    """A loss or a weight became NaN or inf. The CLI prints it and exits with status 3."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; the state was saved (or, after a second signal, the run
    stopped at once). Carries the signal number: the CLI exits with 128 + it."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class StopSignals:
    """While active, a first SIGINT or SIGTERM only raises a flag that the loop checks after
    each step, so that the state can be saved at a clean point. A second one stops at once
    (raising :class:`Interrupted` wherever the program is, say inside a slow evaluation),
    losing at most the work since the last saved state, as a kill -9 would."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, run_dir: Path) -> None:
        self.signum: int | None = None
        self.run_dir = run_dir
        self._old: dict = {}

    def __enter__(self) -> StopSignals:
        for sig in self.SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            return
        name = signal.Signals(signum).name
        if (self.run_dir / "checkpoints" / "state.safetensors").is_file():
            way_on = f"continue from the last saved state with: digitgan train --resume {self.run_dir}"
        else:
            way_on = "nothing had been saved yet, so there is nothing to resume: start the run again"
        raise Interrupted(signum, f"second {name}: stopped at once, without saving; {way_on}")

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def read_stats(path: Path) -> list[dict]:
    """The rows of a stats.jsonl; a line that is not a JSON object (half-written by a crash)
    is skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows
