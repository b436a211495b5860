"""A real ``digitgan serve`` in a fresh process on a free loopback port, for the tests and
bench/serve_load.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

URL = re.compile(r"at (http://\S+/) ")


@contextmanager
def live_server(*args: str, timeout: float = 120):
    """Start ``digitgan serve ARGS --port 0``; yield (process, base URL without the final /).
    The process is stopped (SIGINT, as Ctrl-C) on the way out."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "digitgan", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DIGITGAN_NO_DOWNLOAD": "1"},
        # Ctrl-C as a terminal delivers it: a shell that starts pytest in the background (CI)
        # has it ignored, which children inherit, and a server not yet serving then ignored
        # the Ctrl-C below and was killed after the 20 s wait
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"digitgan serve ended before it listened: {''.join(lines)}")
            lines.append(line)
            if match := URL.search(line):
                proc.first_lines = lines
                yield proc, match.group(1).rstrip("/")
                break
        else:
            raise RuntimeError(f"digitgan serve did not listen within {timeout} s: {''.join(lines)}")
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
