"""Images per second of training with 1 and 2 processes (torchrun, gloo), same global batch.

    python bench/ddp_throughput.py --data-root ../shared/data --rounds 3

On a 2-core machine this is the cost of the engine, not a speed-up: one process with 2
threads and two processes with one thread each use the same cores; the second adds a
flat all-reduce of every gradient per update and a per-step agreement on the stop flag.
Rows: 1 process x 1 thread, 1 process x 2 threads, 2 processes x 1 thread, for the seed
(MLP) and dcgan (conv) presets, each trained for --epochs on the first --limit digits;
images/s is what the run's closing line reports (training steps only), median of --rounds.
Writes bench/results/ddp_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import cpu_name

REPO = Path(__file__).resolve().parents[1]
DONE = re.compile(r"\(([\d,]+) images/s\)")
LAYOUTS = {"1 process x 1 thread": (1, 1), "1 process x 2 threads": (1, 2), "2 processes x 1 thread": (2, 1)}


def images_per_s(preset: str, processes: int, threads: int, args: argparse.Namespace, outdir: Path) -> float:
    train = ["train", "--preset", preset, "--data-root", args.data_root, "--epochs", str(args.epochs)]
    train += ["--limit", str(args.limit), "--outdir", str(outdir), "--no-progress", "--log-every", "100000"]
    if processes == 1:
        command = [sys.executable, "-m", "digitgan", *train]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(processes),
        ]
        command += ["-m", "digitgan", *train]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(DONE.findall(result.stdout)[-1].replace(",", ""))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--presets", default="seed,dcgan")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--limit", type=int, default=12_800)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "ddp_throughput.json")
    args = p.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            for name, (processes, threads) in LAYOUTS.items():
                runs = [images_per_s(preset, processes, threads, args, Path(tmp)) for _ in range(args.rounds)]
                rows.append(
                    {"preset": preset, "layout": name, "images_per_s": statistics.median(runs), "runs": runs}
                )
    print(f"{cpu_name()}, {len(os.sched_getaffinity(0))} cores; median of {args.rounds} rounds")
    print(f"{'preset':8} {'layout':24} {'images/s':>10} {'vs 1 x 2':>9}")
    for r in rows:
        base = next(b for b in rows if b["preset"] == r["preset"] and b["layout"] == "1 process x 2 threads")
        print(
            f"{r['preset']:8} {r['layout']:24} {r['images_per_s']:>10,.0f} {r['images_per_s'] / base['images_per_s']:>8.2f}x"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
