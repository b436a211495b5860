"""Load on ``digitgan serve`` from a second process on loopback: throughput, latency, and
the highest request rate whose p99 latency stays under 100 ms.

    python bench/serve_load.py --data-root ../shared/data
    python bench/serve_load.py --runs runs/00001-seed runs/00002-cdcgan --requests 2000

Starts ``digitgan serve`` (the same launcher as the tests) on the runs given, or on a
1-epoch run of the seed (MLP) and cdcgan (conv) presets trained here on 640 digits (speed
depends on the architecture, not on how well it was trained). For each run and n (digits
per request): a closed loop of --requests requests, --concurrency at a time (httpx async);
then an open loop at rising fixed rates, latency counted from each request's scheduled
start (no coordinated omission), up to the first rate whose p99 passes 100 ms. Prints a
table and writes bench/results/serve_load.json. Client and server share this machine's
cores: the figures are for both on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from live_server import live_server  # noqa: E402
from machine import cpu_name  # noqa: E402

P99_GOAL_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def closed_loop(url: str, params: dict, requests: int, concurrency: int) -> dict:
    """``requests`` GETs, ``concurrency`` in flight at a time."""
    latencies: list[float] = []
    errors = 0
    todo = iter(range(requests))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal errors
            for i in todo:
                start = time.perf_counter()
                response = await client.get(url, params={**params, "seed": i})
                latencies.append(time.perf_counter() - start)
                errors += response.status_code != 200 or not response.content.startswith(b"\x89PNG")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    ms = [1000 * v for v in latencies]
    return {
        "requests": requests,
        "errors": errors,
        "per_s": requests / seconds,
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
    }


async def open_loop(url: str, params: dict, rate: float, seconds: float) -> dict:
    """Requests started at a fixed ``rate`` for ``seconds``; latency from the scheduled start."""
    count = max(20, int(rate * seconds))
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=256)) as client:

        async def one(i: int, due: float) -> None:
            nonlocal errors
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            response = await client.get(url, params={**params, "seed": i})
            latencies.append(time.perf_counter() - due)
            errors += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(one(i, start + i / rate) for i in range(count)))
    ms = [1000 * v for v in latencies]
    return {
        "rate": rate,
        "requests": count,
        "errors": errors,
        "p50_ms": statistics.median(ms),
        "p99_ms": percentile(ms, 99),
    }


async def sustainable_rate(
    url: str, params: dict, rates: list[float], seconds: float
) -> tuple[float | None, list]:
    """The highest of ``rates`` (tried in rising order) whose p99 stays under P99_GOAL_MS."""
    best, tried = None, []
    for rate in rates:
        result = await open_loop(url, params, rate, seconds)
        tried.append(result)
        if result["p99_ms"] >= P99_GOAL_MS or result["errors"]:
            break
        best = rate
    return best, tried


def tiny_runs(data_root: str, outdir: Path) -> list[Path]:
    from digitgan.config.presets import make_config
    from digitgan.training.loop import train

    runs = []
    for preset in ("seed", "cdcgan"):
        cfg = make_config(preset, data_root=data_root, epochs=1, limit=640, outdir=str(outdir))
        runs.append(train(cfg, stream=io.StringIO(), progress=False).run_dir)
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", type=Path, help="run folders (default: 1-epoch seed and cdcgan runs)")
    p.add_argument("--data-root", default="../shared/data", help="MNIST, for the default runs")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--ns", default="1,64", help="digits per request, comma-separated")
    p.add_argument(
        "--rates", default="25,50,75,100,150,200,300,400,600,800", help="open-loop rates to try, per second"
    )
    p.add_argument("--seconds", type=float, default=4, help="length of each open-loop rate")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "serve_load.json")
    args = p.parse_args()

    machine = {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0))}
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(args.runs or tiny_runs(args.data_root, Path(tmp)), args)
    print_table(rows, machine)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {"concurrency": args.concurrency, "machine": machine, "rows": rows}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


def measure(runs: list[Path], args: argparse.Namespace) -> list[dict]:
    """The closed and open loops for every run and n, against one server."""
    rows = []
    rates = [float(r) for r in args.rates.split(",")]
    with live_server(*map(str, runs)) as (_, url):
        served = httpx.get(f"{url}/api/runs").json()
        for run in served:
            for n in map(int, args.ns.split(",")):
                params = {"run": run["name"], "n": n}
                endpoint = f"{url}/api/generate"
                closed = asyncio.run(closed_loop(endpoint, params, args.requests, args.concurrency))
                best, tried = asyncio.run(sustainable_rate(endpoint, params, rates, args.seconds))
                rows.append(
                    {"run": run["name"], "preset": run["preset"], "n": n, **closed}
                    | {"rate_p99_under_100ms": best, "open_loop": tried}
                )
    return rows


def print_table(rows: list[dict], machine: dict) -> None:
    print(f"{machine['cpu']}, {machine['cores']} cores shared by client and server")
    header = ("preset", "n", "requests", "errors", "req/s", "p50 ms", "p99 ms", "rate p99<100ms")
    print(f"{header[0]:10}" + "".join(f"{h:>9}" for h in header[1:7]) + f"{header[7]:>16}")
    for r in rows:
        best = "-" if r["rate_p99_under_100ms"] is None else f"{r['rate_p99_under_100ms']:.0f}/s"
        cells = (
            r["n"],
            r["requests"],
            r["errors"],
            f"{r['per_s']:.1f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
        )
        print(f"{r['preset']:10}" + "".join(f"{c:>9}" for c in cells) + f"{best:>16}")


if __name__ == "__main__":
    main()
