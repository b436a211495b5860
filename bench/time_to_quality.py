"""Time to quality: FID and IS against seconds of training, for one preset.

    python bench/time_to_quality.py --preset seed --data-root ../shared/data --budget 300 --interval 30

Trains the preset for a fixed wall-clock budget of training time, and every --interval
seconds scores --n digits from fixed noise with the evaluator (evaluation time is not
counted against the budget). Writes the curve as JSON and a plot (two panels, FID on a log
scale and IS, with the real-data floor dashed) under bench/results/.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from digitgan.config import GAN_PRESETS, make_config  # noqa: E402
from digitgan.data import endless_batches, load_dataset, to_uint8  # noqa: E402
from digitgan.evaluation import floor, quick_scores, reference  # noqa: E402
from digitgan.evaluator import ensure_evaluator  # noqa: E402
from digitgan.sampling import (
    generate,  # noqa: E402
    sample_labels,  # noqa: E402
)
from digitgan.trainer import Trainer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="seed", choices=sorted(GAN_PRESETS))
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--budget", type=float, default=300, help="seconds of training")
    p.add_argument("--interval", type=float, default=30, help="seconds of training between evaluations")
    p.add_argument("--n", type=int, default=5000, help="digits per evaluation")
    p.add_argument("--evaluator", type=Path, help="evaluator file (default: the cache)")
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    args = p.parse_args()

    cfg = make_config(args.preset, data_root=args.data_root, device="cpu")
    evaluator = ensure_evaluator(args.evaluator, args.data_root)
    ref = reference(evaluator, args.data_root)
    real = floor(ref, args.n)
    data = load_dataset(cfg.dataset, cfg.data_root)
    images, labels = data.images, data.labels
    trainer = Trainer(cfg, images.device)
    if cfg.clusters:  # self-conditioning: the clusters stand in for the labels, as in training
        labels = trainer.fit_clusters(images).assignment
    rng = torch.Generator().manual_seed(cfg.seed + 1)
    batches = endless_batches(images, labels, cfg.batch_size, rng)

    def evaluate(seconds: float, steps: int) -> dict:
        labels = sample_labels(cfg, args.n)
        fakes = to_uint8(generate(trainer.sampler, args.n, seed=0, latent_dim=cfg.latent_dim, labels=labels))[
            :, 0
        ]
        row = {"train_s": seconds, "steps": steps, "epochs": steps * cfg.batch_size / len(images)}
        row.update(quick_scores(fakes, evaluator, ref))
        print(
            f"{seconds:8.1f} s  {steps:7d} steps  {row['epochs']:6.2f} epochs  FID {row['fid']:9.3f}  IS {row['is']:.3f}"
        )
        return row

    curve = [evaluate(0.0, 0)]
    trained, steps = 0.0, 0
    next_eval = args.interval
    while trained < args.budget:
        start = time.perf_counter()
        while time.perf_counter() - start < min(next_eval, args.budget) - trained:
            for _ in range(50):  # check the clock every 50 steps
                trainer.step(*next(batches))
            steps += 50
        trained += time.perf_counter() - start
        curve.append(evaluate(trained, steps))
        next_eval += args.interval

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"time_to_quality-{args.preset}"
    result = {
        "preset": args.preset,
        "n": args.n,
        "budget_s": args.budget,
        "evaluator_accuracy": evaluator.accuracy,
        "real_floor": {"fid": real["fid"], "is": real["is"]},
        "curve": curve,
        "threads": torch.get_num_threads(),
    }
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")

    fig, (ax_fid, ax_is) = plt.subplots(1, 2, figsize=(10, 3.8))
    xs = [r["train_s"] for r in curve]
    ax_fid.plot(xs, [r["fid"] for r in curve], marker="o")
    ax_fid.axhline(real["fid"], linestyle="--", color="gray", label="real-data floor")
    ax_fid.set(
        yscale="log",
        xlabel="training seconds",
        ylabel="FID (evaluator features)",
        title="FID, lower is better",
    )
    ax_is.plot(xs, [r["is"] for r in curve], marker="o")
    ax_is.axhline(real["is"], linestyle="--", color="gray", label="real-data floor")
    ax_is.set(xlabel="training seconds", ylabel="classifier IS", title="IS, higher is better (max 10)")
    for ax in (ax_fid, ax_is):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{args.preset}: time to quality (n = {args.n}, {torch.get_num_threads()} CPU threads)")
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=90)
    print(f"wrote {stem}.json and {stem}.png")


if __name__ == "__main__":
    main()
