"""What every benchmark here shares: the machine it ran on and how a training step is timed.

python -c "import sys; sys.path.insert(0, 'bench'); from machine import cpu_name; print(cpu_name())"
"""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def result_header(steps: int, rounds: int) -> dict:
    """The head of a benchmark's JSON: where and how it was measured."""
    return {
        "cpu": cpu_name(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "steps": steps,
        "rounds": rounds,
    }


def seconds_per_step(trainer, batches: Iterator, steps: int) -> float:
    """Wall time of ``steps`` training steps on the next batches, per step; reading one loss
    at the end waits for all the queued work (a GPU's too)."""
    t = time.perf_counter()
    for _ in range(steps):
        out = trainer.step(*next(batches))
    out["d_loss"].item()
    return (time.perf_counter() - t) / steps
