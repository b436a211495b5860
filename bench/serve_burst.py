"""Memory of ``digitgan serve`` under bursts, and whether idle clients lock it.

    python bench/serve_burst.py --data-root ../shared/data
    python bench/serve_burst.py --runs runs/00001-seed --bursts 4 --requests 200 --connections 40

Starts ``digitgan serve`` (the tests' launcher) on the run given, or on a 1-epoch seed run
trained here on 500 digits. Then: the server's RSS at rest; after each of --bursts bursts of
--requests requests for 256 digits, --connections at a time (httpx async, loopback); and the
status of 10 real requests while --idle idle and --idle half-sent connections are held open.
Prints a table and writes bench/results/serve_burst.json.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from live_server import live_server  # noqa: E402
from machine import cpu_name  # noqa: E402


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


async def burst(url: str, run: str, requests: int, connections: int) -> dict[str, int]:
    params = [{"run": run, "n": 256, "seed": i} for i in range(requests)]
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=connections)) as client:
        answers = await asyncio.gather(*(client.get(f"{url}/api/generate", params=p) for p in params))
    counts: dict[str, int] = {}
    for answer in answers:
        counts[str(answer.status_code)] = counts.get(str(answer.status_code), 0) + 1
    return counts


def under_loris(url: str, run: str, idle: int) -> list[int]:
    """Statuses of 10 real requests while ``idle`` idle and ``idle`` half-sent sockets are open."""
    host, port = url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(2 * idle)]
    for sock in held[idle:]:
        sock.sendall(b"GET /api/runs HTTP/1.1\r\nHost: x\r\n")
    try:
        return [httpx.get(f"{url}/api/generate", params={"run": run, "n": 4}).status_code for _ in range(10)]
    finally:
        for sock in held:
            sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", type=Path, help="run folders to serve (default: train one)")
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--bursts", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--idle", type=int, default=150)
    args = parser.parse_args()
    runs = args.runs
    if not runs:
        from digitgan.config.presets import make_config
        from digitgan.training.loop import train

        cfg = make_config("seed", data_root=args.data_root, epochs=1, limit=500, outdir=tempfile.mkdtemp())
        runs = [train(cfg, stream=io.StringIO(), progress=False).run_dir]
    rows = []
    with live_server(*map(str, runs)) as (proc, url):
        run = runs[0].name
        rows.append({"what": "at rest", "rss_mb": rss_mb(proc.pid)})
        for i in range(args.bursts):
            start = time.perf_counter()
            counts = asyncio.run(burst(url, run, args.requests, args.connections))
            rows.append({"what": f"after burst {i + 1}", "rss_mb": rss_mb(proc.pid), "statuses": counts,
                         "seconds": time.perf_counter() - start})  # fmt: skip
        statuses = under_loris(url, run, args.idle)
        rows.append({"what": f"{args.idle} idle + {args.idle} half-sent open", "statuses": statuses})
    print(
        f"digitgan serve, {cpu_name()}; bursts of {args.requests} x n=256 over {args.connections} connections"
    )
    print(f"{'':<32} {'RSS MB':>8} {'seconds':>8}  statuses")
    for row in rows:
        rss, seconds = row.get("rss_mb"), row.get("seconds")
        print(
            f"{row['what']:<32} {'' if rss is None else f'{rss:.0f}':>8} "
            f"{'' if seconds is None else f'{seconds:.1f}':>8}  {row.get('statuses', '')}"
        )
    out = REPO / "bench" / "results" / "serve_burst.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"cpu": cpu_name(), "args": vars(args) | {"runs": list(map(str, runs))}, "rows": rows}, indent=2
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
