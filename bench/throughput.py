"""Training throughput against the hardware: steps/s, share of the matmul peak, FLOP floor.

    python bench/throughput.py --data-root ../shared/data --steps 300 --rounds 3

For the seed and dcgan presets: FLOPs of one training step counted by PyTorch's
FlopCounterMode (the analytic formula of every matmul and convolution, forward and
backward), this machine's fp32 peak from a 2048 x 2048 matrix product (8192 on a GPU,
``--device cuda``), and the measured
step time. Prints each loop's achieved GFLOP/s, its share of the peak, and the floor in
seconds per epoch (the epoch's FLOPs at peak). The seed preset also runs against the
tutorial's own loop and against its own step through autograd (``GanFamily(fast=False)``),
all alternating in one process. The ", kernels" rows replay the matrix products,
convolutions and fused Adam updates recorded from one real step, back to back with nothing
between them: the attainable floor with these kernels on this machine. Then: the time to
sample 10,000 digits, and the resident memory after each of --memory-epochs seed epochs
(growth would be a leak). JSON goes to bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map_only
from torch.utils.flop_counter import FlopCounterMode

from digitgan.config.presets import make_config
from digitgan.data.digits import endless_batches, load_dataset
from digitgan.models.draw import generate
from digitgan.reference.tutorial import TutorialLoop
from digitgan.training.gan_family import GanFamily


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock time covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    device: torch.device, n: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32
) -> float:
    """GFLOP/s of an n x n matrix product in ``dtype`` (median of ``repeats``)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9  # GFLOP/s


# The work a step cannot do without: its matrix products and convolutions (forward and
# backward) and the optimisers' fused updates.
KERNELS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.convolution.default,
    torch.ops.aten.convolution_backward.default,
    torch.ops.aten._fused_adam_.default,
}


class RecordKernels(TorchDispatchMode):
    """Records every call to a :data:`KERNELS` op with copies of its arguments."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in KERNELS:
            copy = tree_map_only(torch.Tensor, lambda t: t.detach().clone(), (args, kwargs))
            self.calls.append((func, *copy))
        return func(*args, **kwargs)


def kernels_only(calls: list, repeats: int, device: torch.device) -> float:
    """Seconds per step for a step's recorded kernels run back to back, nothing between."""
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        for func, args, kwargs in calls:
            func(*args, **kwargs)
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


class PresetLoop:
    def __init__(self, preset: str, data_root: str, device: torch.device, fast: bool = True) -> None:
        self.cfg = make_config(preset, data_root=data_root, device=device.type)
        self.trainer = GanFamily(self.cfg, device, fast=fast)
        data = load_dataset("mnist", data_root)
        self.images, self.labels = data.images.to(device), data.labels.to(device)
        self.steps_per_epoch = len(self.images) // self.cfg.batch_size
        rng = torch.Generator().manual_seed(1)
        self._batches = endless_batches(self.images, self.labels, self.cfg.batch_size, rng)

    def step_flops(self) -> int:
        with FlopCounterMode(display=False) as counter:
            self.trainer.step(*next(self._batches))
        return counter.get_total_flops()

    def step_kernels(self) -> list:
        with RecordKernels() as recorder:
            self.trainer.step(*next(self._batches))
        return recorder.calls

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
    p.add_argument("--warmup", type=int, default=20, help="untimed steps of each loop first")
    p.add_argument("--memory-epochs", type=int, default=3, help="seed epochs over which memory is tracked")
    p.add_argument("--device", default="cpu", help="cpu or cuda: where every loop runs")
    p.add_argument("--json", type=Path, default=Path("bench/results/throughput.json"))
    args = p.parse_args()
    device = torch.device(args.device)

    peak_n = 2048 if device.type == "cpu" else 8192  # a GPU needs a larger product to fill
    peak = matmul_peak(device, peak_n)
    where = (
        f"{torch.get_num_threads()} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
    )
    print(f"fp32 matmul peak ({peak_n} x {peak_n}): {peak:.0f} GFLOP/s on {where}")
    results: dict = {
        "device": where,
        "peak_gflops": peak,
        "peak_matrix_size": peak_n,
        "threads": torch.get_num_threads(),
        "presets": {},
    }

    seed, dcgan = PresetLoop("seed", args.data_root, device), PresetLoop("dcgan", args.data_root, device)
    autograd = PresetLoop("seed", args.data_root, device, fast=False)
    tutorial = TutorialLoop(args.data_root, device)
    loops = {"tutorial (seed)": tutorial, "seed, autograd": autograd, "seed": seed, "dcgan": dcgan}
    seed_flops = seed.step_flops()
    assert autograd.step_flops() == seed_flops  # the hand-written step does the same products
    flops = {name: seed_flops for name in loops} | {"dcgan": dcgan.step_flops()}
    steps_per_epoch = {name: 600 for name in loops} | {"dcgan": dcgan.steps_per_epoch}
    batch = {name: 100 for name in loops} | {"dcgan": dcgan.cfg.batch_size}
    # The same step's products, convolutions and Adam updates replayed back to back: what
    # the step would cost if nothing else took any time.
    kernels = {"seed": seed.step_kernels(), "dcgan": dcgan.step_kernels()}
    for loop in loops.values():
        loop.run(args.warmup)
    times: dict[str, list[float]] = {name: [] for name in loops}
    kernel_times: dict[str, list[float]] = {"seed": [], "dcgan": []}
    for r in range(args.rounds):
        for name, loop in loops.items():
            steps = args.steps if name != "dcgan" else max(args.steps // 10, 10)
            sync(device)
            t = time.perf_counter()
            loop.run(steps)
            sync(device)
            times[name].append((time.perf_counter() - t) / steps)
        kernel_times["seed"].append(kernels_only(kernels["seed"], 50, device))
        kernel_times["dcgan"].append(kernels_only(kernels["dcgan"], 5, device))
        print(f"round {r + 1}/{args.rounds} done")

    print()
    header = (
        "loop",
        "ms/step",
        "steps/s",
        "images/s",
        "GFLOP/step",
        "GFLOP/s",
        "of peak",
        "s/epoch",
        "floor",
        "x floor",
    )
    widths = (16, 8, 8, 9, 10, 8, 7, 8, 6, 7)
    print(
        " ".join(
            f"{h:<{w}}" if i == 0 else f"{h:>{w}}"
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    rows = [(name, statistics.median(times[name])) for name in loops]
    rows += [(f"{name}, kernels", statistics.median(kernel_times[name])) for name in kernel_times]
    for name, step_s in rows:
        base = name.removesuffix(", kernels")
        gflop = flops[base] / 1e9
        floor = flops[base] * steps_per_epoch[base] / (peak * 1e9)
        row = {
            "ms_per_step": step_s * 1e3,
            "steps_per_s": 1 / step_s,
            "images_per_s": batch[base] / step_s,
            "gflop_per_step": gflop,
            "achieved_gflops": gflop / step_s,
            "share_of_peak": gflop / step_s / peak,
            "s_per_epoch": step_s * steps_per_epoch[base],
            "floor_s_per_epoch": floor,
            "times_floor": step_s * steps_per_epoch[base] / floor,
            "runs_s_per_step": times.get(name) or kernel_times[base],
        }
        results["presets"][name] = row
        print(
            f"{name:<16} {row['ms_per_step']:>8.2f} {row['steps_per_s']:>8.1f} {row['images_per_s']:>9,.0f} "
            f"{gflop:>10.3f} {row['achieved_gflops']:>8.1f} {row['share_of_peak']:>7.1%} "
            f"{row['s_per_epoch']:>8.2f} {floor:>6.2f} {row['times_floor']:>7.2f}"
        )
    print(
        "(', kernels': the step's products, convolutions and Adam updates replayed back to back, "
        "nothing else)"
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
    for _ in range(args.memory_epochs):
        seed.run(seed.steps_per_epoch)
        rss.append(rss_mb())
    results["seed_rss_mb_after_epochs"] = rss
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"resident memory before and after {args.memory_epochs} seed epochs (MB): {', '.join(f'{v:.0f}' for v in rss)}"
    )
    print(f"peak resident memory of this process: {results['peak_rss_mb']:.0f} MB")
    if device.type == "cuda":
        results["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak GPU memory allocated: {results['peak_gpu_memory_mb']:.0f} MB")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
