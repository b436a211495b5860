"""Files written whole or not at all: every output of digitgan goes through here.

    python -c "from digitgan.basics.files import atomic_write_bytes; atomic_write_bytes('x.txt', b'hi')"

A write goes to a temporary file in the same folder, is flushed and fsync'ed, then renamed
over the target, so a crash leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from digitgan.basics.errors import write_error

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename: the old file
    stays whole until the new one is. A failed write (a full disk, a file-size limit)
    leaves no temporary file and is a :class:`UserError` naming ``path``."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp's 0600 would make outputs private
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from exc
        raise


def cache_dir() -> Path:
    """Where evaluators, real-data statistics and generated data sets are kept."""
    return Path(os.environ.get("DIGITGAN_CACHE") or Path.home() / ".cache" / "digitgan")
