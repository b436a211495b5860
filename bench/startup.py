"""Start-up time of the command line: `digitgan --help`, `digitgan train --help` and a bad
flag value (answered before PyTorch is imported), beside `python -c "import torch"` and
`import torchvision`, each a fresh process, measured alternately in the same run.

    python bench/startup.py --rounds 7

Prints the medians and writes JSON (bench/results/startup.json, or --json). The goal of
issue 43: `--help` within 0.3 s, or within a quarter of torch's own import.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_name

CASES = {
    "digitgan --help": [sys.executable, "-m", "digitgan", "--help"],
    "digitgan train --help": [sys.executable, "-m", "digitgan", "train", "--help"],
    "digitgan train --epochs 0 (refused)": [sys.executable, "-m", "digitgan", "train", "--epochs", "0"],
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    'python -c "import torchvision"': [sys.executable, "-c", "import torchvision"],
    'python -c "pass"': [sys.executable, "-c", "pass"],
}


def seconds(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each")
    p.add_argument("--json", type=Path, default=Path("bench/results/startup.json"))
    args = p.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for command in [] if args.no_warmup else CASES.values():  # warm the page cache, untimed
        seconds(command)
    for _ in range(args.rounds):
        for name, command in CASES.items():
            times[name].append(seconds(command))
    torch_s = statistics.median(times['python -c "import torch"'])
    rows = {
        name: {
            "median_s": statistics.median(t),
            "of_torch_import": statistics.median(t) / torch_s,
            "runs_s": t,
        }
        for name, t in times.items()
    }
    print(f"{'command':<40} {'median s':>9} {'x torch import':>15}")
    for name, row in rows.items():
        print(f"{name:<40} {row['median_s']:>9.3f} {row['of_torch_import']:>15.2f}")
    result = {"machine": cpu_name(), "rounds": args.rounds, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
