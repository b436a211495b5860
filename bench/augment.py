"""Do synthetic digits help a classifier that has few real ones? Accuracy on MNIST's 10,000
real test digits of the evaluator's classifier trained on: 1,000 real digits alone; 1,000
real + N synthetic (N = 1k, 10k, 60k) from a conditional run; 60,000 real.

    python bench/augment.py --run runs/00001-cdcgan --data-root ../shared/data --seeds 0,1,2

Every row trains for the same number of steps (--steps, batches of 128) from the same
seeds, so the rows differ only in their data. The 1,000 real digits are a seeded random
choice of MNIST's training set (balanced by chance, not by hand); the synthetic digits
are drawn by the run with balanced labels (digitgan dataset's recipe), seed 0. Prints the
table (mean and range over seeds) and writes bench/results/augment.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from machine import cpu_name

from digitgan.data.digits import load_dataset
from digitgan.evaluation.classifier import accuracy, fit_classifier
from digitgan.generation.synthetic import draw_labelled
from digitgan.runs.checkpoint import load_generator

REPO = Path(__file__).resolve().parents[1]


def synthetic(run: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What digitgan dataset --seed 0 writes as its training digits."""
    G, cfg = load_generator(run)
    images, labels = draw_labelled(G, cfg, n, seed=0)
    return torch.from_numpy(images), labels


def rows(args: argparse.Namespace) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    real = load_dataset("mnist", args.data_root, "train")
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(1234))[: args.few]
    few = (real.images[pick], real.labels[pick])
    fake_images, fake_labels = synthetic(args.run, max(args.synthetic))
    sets = {f"{args.few:,} real": few}
    for n in args.synthetic:
        sets[f"{args.few:,} real + {n:,} synthetic"] = (
            torch.cat([few[0], fake_images[:n]]),
            torch.cat([few[1], fake_labels[:n]]),
        )
    most = max(args.synthetic)
    sets[f"{most:,} synthetic alone"] = (fake_images[:most], fake_labels[:most])
    sets[f"{len(real):,} real"] = (real.images, real.labels)
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True, help="a conditional run folder")
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--few", type=int, default=1000, help="real digits of the small set")
    p.add_argument("--synthetic", default="1000,10000,60000", help="synthetic digits added, comma-separated")
    p.add_argument("--steps", type=int, default=600, help="training steps of every classifier")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "augment.json")
    args = p.parse_args()
    args.synthetic = [int(v) for v in args.synthetic.split(",")]
    seeds = [int(v) for v in args.seeds.split(",")]
    test = load_dataset("mnist", args.data_root, "test")
    results = []
    for name, (images, labels) in rows(args).items():
        start = time.perf_counter()
        accs = [accuracy(fit_classifier(images, labels, args.steps, seed=s), test) for s in seeds]
        results.append(
            {"train_set": name, "n": len(images), "accuracy": accs, "seconds": time.perf_counter() - start}
        )
        print(f"{name:32} {statistics.mean(accs):.2%} ({min(accs):.2%} - {max(accs):.2%})", flush=True)
    report = {"cpu": cpu_name(), "run": str(args.run), "steps": args.steps, "seeds": seeds, "rows": results}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
