"""Training throughput against the hardware: steps/s, share of the matmul peak, FLOP floor.

    python bench/throughput.py --data-root ../shared/data --steps 300 --rounds 3

For the seed and dcgan presets: FLOPs of one training step counted by PyTorch's
FlopCounterMode (the analytic formula of every matmul and convolution, forward and
backward), this machine's fp32 peak from a 2048 x 2048 matrix product, and the measured
step time. Prints each loop's achieved GFLOP/s, its share of the peak, and the floor in
seconds per epoch (the epoch's FLOPs at peak). The seed preset also runs against the
tutorial's own loop, alternating in one process. Then: the time to sample 10,000 digits,
and the resident memory after each of three seed epochs (growth would be a leak). JSON
goes to bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from digitgan.config import make_config
from digitgan.data import load_dataset
from digitgan.sampling import generate
from digitgan.training_loop import Trainer, epoch_batches, epoch_order
from digitgan.tutorial import TutorialLoop


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9  # GFLOP/s


class PresetLoop:
    def __init__(self, preset: str, data_root: str) -> None:
        self.cfg = make_config(preset, data_root=data_root, device="cpu")
        self.trainer = Trainer(self.cfg, torch.device("cpu"))
        data = load_dataset("mnist", data_root)
        self.images, self.labels = data.images, data.labels
        self.rng = torch.Generator().manual_seed(1)
        self.steps_per_epoch = len(self.images) // self.cfg.batch_size
        self._batches = self._forever()

    def _forever(self):
        while True:
            order = epoch_order(len(self.images), self.cfg.batch_size, self.rng)
            yield from epoch_batches(self.images, self.labels, order)

    def step_flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self.trainer.step(*next(self._batches))
        return counter.get_total_flops()

    def run(self, steps: int) -> None:
        for _ in range(steps):
            out = self.trainer.step(*next(self._batches))
        out["d_loss"].item()


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--steps", type=int, default=300, help="steps per timed run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    p.add_argument("--json", type=Path, default=Path("bench/results/throughput.json"))
    args = p.parse_args()

    peak = matmul_peak()
    print(f"fp32 matmul peak (2048 x 2048): {peak:.0f} GFLOP/s on {torch.get_num_threads()} threads")
    results: dict = {"peak_gflops": peak, "threads": torch.get_num_threads(), "presets": {}}

    seed, dcgan = PresetLoop("seed", args.data_root), PresetLoop("dcgan", args.data_root)
    tutorial = TutorialLoop(args.data_root)
    loops = {"tutorial (seed)": tutorial, "seed": seed, "dcgan": dcgan}
    flops = {"tutorial (seed)": seed.step_flops(), "seed": seed.step_flops(), "dcgan": dcgan.step_flops()}
    steps_per_epoch = {"tutorial (seed)": 600, "seed": seed.steps_per_epoch, "dcgan": dcgan.steps_per_epoch}
    batch = {"tutorial (seed)": 100, "seed": 100, "dcgan": dcgan.cfg.batch_size}
    for loop in loops.values():
        loop.run(20)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(args.rounds):
        for name, loop in loops.items():
            steps = args.steps if name != "dcgan" else max(args.steps // 10, 10)
            t = time.perf_counter()
            loop.run(steps)
            times[name].append((time.perf_counter() - t) / steps)
        print(f"round {r + 1}/{args.rounds} done")

    print()
    print(
        f"{'loop':<16} {'ms/step':>8} {'steps/s':>8} {'images/s':>9} {'GFLOP/step':>10} {'GFLOP/s':>8} {'of peak':>7} {'s/epoch':>8} {'floor':>6} {'x floor':>7}"
    )
    for name in loops:
        step_s = statistics.median(times[name])
        gflop = flops[name] / 1e9
        floor = flops[name] * steps_per_epoch[name] / (peak * 1e9)
        row = {
            "ms_per_step": step_s * 1e3,
            "steps_per_s": 1 / step_s,
            "images_per_s": batch[name] / step_s,
            "gflop_per_step": gflop,
            "achieved_gflops": gflop / step_s,
            "share_of_peak": gflop / step_s / peak,
            "s_per_epoch": step_s * steps_per_epoch[name],
            "floor_s_per_epoch": floor,
            "times_floor": step_s * steps_per_epoch[name] / floor,
            "runs_s_per_step": times[name],
        }
        results["presets"][name] = row
        print(
            f"{name:<16} {row['ms_per_step']:>8.2f} {row['steps_per_s']:>8.1f} {row['images_per_s']:>9,.0f} "
            f"{gflop:>10.3f} {row['achieved_gflops']:>8.1f} {row['share_of_peak']:>7.1%} "
            f"{row['s_per_epoch']:>8.2f} {floor:>6.2f} {row['times_floor']:>7.2f}"
        )
    speedup = results["presets"]["tutorial (seed)"]["ms_per_step"] / results["presets"]["seed"]["ms_per_step"]
    results["seed_speedup_vs_tutorial"] = speedup
    print(f"seed speed-up over the tutorial's loop: {speedup:.2f}x")

    sampling = {}
    for name, loop in (("seed", seed), ("dcgan", dcgan)):
        G = loop.trainer.sampler
        generate(G, 1000, 0, loop.cfg.latent_dim)
        t = time.perf_counter()
        generate(G, 10_000, 0, loop.cfg.latent_dim)
        sampling[name] = time.perf_counter() - t
        print(f"sampling 10,000 digits, {name}: {sampling[name]:.3f} s")
    results["sampling_10k_s"] = sampling

    rss = [rss_mb()]
    for _ in range(3):
        seed.run(seed.steps_per_epoch)
        rss.append(rss_mb())
    results["seed_rss_mb_after_epochs"] = rss
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"resident memory before and after 3 seed epochs (MB): {', '.join(f'{v:.0f}' for v in rss)}")
    print(f"peak resident memory of this process: {results['peak_rss_mb']:.0f} MB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
