"""Seconds per epoch: the tutorial's own training loop against digitgan's seed preset.

    python bench/seed_vs_tutorial.py --data-root ../shared/data --steps 300 --rounds 5

All run in this process on the same machine and threads, for the same number of steps,
alternating (tutorial, autograd, digitgan, tutorial, ...) so that load from elsewhere hits
all alike. "autograd" is digitgan's seed step through autograd (``GanFamily(fast=False)``),
"digitgan" the default, with the backward written out (src/digitgan/mlp_step.py).
Seconds per epoch = seconds per step x 600 (60,000 images / batch 100). The table shows the
median over rounds and the ratio of medians; JSON goes to bench/results/ (or --json).

The tutorial side is ``digitgan.reference.tutorial.TutorialLoop``: the code of
shared/reference/mnist-gan-tutorial.md as written (DataLoader over torchvision's MNIST with
ToTensor + Normalize, Sigmoid + BCELoss, real/fake labels made every step, reset_grad).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from machine import cpu_name

from digitgan.config.presets import make_config
from digitgan.data.digits import epoch_batches, epoch_order, load_dataset
from digitgan.reference.tutorial import TutorialLoop
from digitgan.training.gan_family import GanFamily

STEPS_PER_EPOCH = 600


class DigitganLoop:
    """digitgan's seed preset through its real GanFamily and batching; logs every 200 steps.
    ``fast=False``: the same step through autograd instead of the hand-written backward."""

    def __init__(self, data_root: str, device: torch.device, fast: bool = True) -> None:
        cfg = make_config("seed", data_root=data_root, device=device.type)
        self.trainer = GanFamily(cfg, device, fast=fast)
        data = load_dataset("mnist", data_root)
        self.images, self.labels = data.images.to(device), data.labels.to(device)
        self.rng = torch.Generator().manual_seed(1)
        self.batch_size = cfg.batch_size

    def run(self, steps: int) -> None:
        score = self.trainer.objective.score
        for i, (real, labels) in enumerate(
            epoch_batches(self.images, self.labels, epoch_order(len(self.images), self.batch_size, self.rng))
        ):
            if i == steps:
                break
            out = self.trainer.step(real, labels)
            if (i + 1) % 200 == 0:
                _ = (out["d_loss"].item(), out["g_loss"].item(), score(out["real_logits"]).item())
        if self.trainer.device.type == "cuda":
            torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--steps", type=int, default=300, help="steps per timed run (600 = one epoch)")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, default=Path("bench/results/seed_vs_tutorial.json"))
    args = p.parse_args()
    device = torch.device(args.device)
    loops = {
        "tutorial": TutorialLoop(args.data_root, device),
        "autograd": DigitganLoop(args.data_root, device, fast=False),
        "digitgan": DigitganLoop(args.data_root, device),
    }
    for loop in loops.values():  # warm-up: first-call allocations, thread pools
        loop.run(20)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for r in range(args.rounds):
        for name, loop in loops.items():
            t0 = time.perf_counter()
            loop.run(args.steps)
            times[name].append((time.perf_counter() - t0) / args.steps * STEPS_PER_EPOCH)
        print(
            f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {t[-1]:.2f} s/epoch" for n, t in times.items())
        )
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["tutorial"] / med["digitgan"]
    fast_gain = med["autograd"] / med["digitgan"]
    print()
    print(f"{'loop':<10} {'s/epoch (median)':>17} {'images/s':>10} {'min':>7} {'max':>7}")
    for name, t in times.items():
        print(f"{name:<10} {med[name]:>17.2f} {60_000 / med[name]:>10,.0f} {min(t):>7.2f} {max(t):>7.2f}")
    print(f"speed-up (tutorial / digitgan): {ratio:.2f}x")
    print(f"hand-written step (autograd / digitgan): {fast_gain:.2f}x")
    result = {
        "benchmark": "seed_vs_tutorial",
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "device": str(device),
        },
        "steps_per_run": args.steps,
        "rounds": args.rounds,
        "seconds_per_epoch": times,
        "median_seconds_per_epoch": med,
        "speedup": ratio,
        "speedup_of_handwritten_step_over_autograd": fast_gain,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
