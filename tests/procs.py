"""Running digitgan in a fresh process, as a user does: plainly, with a signal sent to
itself at a chosen training step, or under a file-size limit (a real OS-level write fault)."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys

# The real CLI in a fresh process; GanFamily.step sends the process a real signal (os.kill)
# right after its AT-th discriminator update, so the stop lands at a known step.
SIGNAL_AT_STEP = """
import os, sys
from digitgan.cli.main import main
from digitgan.training.gan_family import GanFamily
at, signum = int(sys.argv[1]), int(sys.argv[2])
original = GanFamily.step
def step(self, *args, **kwargs):
    out = original(self, *args, **kwargs)
    if self.d_steps == at:
        os.kill(os.getpid(), signum)
    return out
GanFamily.step = step
sys.exit(main(sys.argv[3:]))
"""


def env() -> dict[str, str]:
    return {**os.environ, "DIGITGAN_NO_DOWNLOAD": "1"}


def run_cli(*args: str, cwd=None, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    """``digitgan ARGS`` in a fresh process; with ``file_size_limit`` no file it writes may
    grow past that many bytes (RLIMIT_FSIZE, SIGXFSZ ignored): a write fails with EFBIG, as
    one on a full disk fails with ENOSPC."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [sys.executable, "-m", "digitgan", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env(),
        timeout=300,
        preexec_fn=limit if file_size_limit is not None else None,
    )


def run_with_signal_at(step: int, signum: int, *args: str) -> subprocess.CompletedProcess:
    """``digitgan ARGS`` in a fresh process that receives ``signum`` after training step ``step``."""
    command = [sys.executable, "-c", SIGNAL_AT_STEP, str(step), str(int(signum)), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env(), timeout=300)
