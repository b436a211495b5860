"""Time to quality: FID and IS against minutes of training, for every noise-to-digit preset.

    python bench/time_to_quality.py --data-root ../shared/data              # all six, 10 min each
    python bench/time_to_quality.py --presets seed cdcgan --budget 300 --interval 30
    python bench/time_to_quality.py --presets cdcgan --update   # re-time one, keep the others

Trains each preset at its default settings for a fixed budget of training time and, every
--interval seconds, scores --n digits from fixed noise (the EMA generator, as `sample` and
`evaluate` use) with the evaluator; evaluation time is not counted against the budget.
Prints a table of the minutes each preset needed to reach FID <= 5x the real-data floor
and IS >= 9.5 (issue 13's goals; the floor is computed at the same n), and writes the
curves as JSON and one plot under --out. `cyclegan` is a translator, not a noise-to-digit
GAN, and is not timed here.
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
from machine import cpu_name  # noqa: E402

from digitgan.cli.argtypes import positive_int  # noqa: E402
from digitgan.config.presets import GAN_PRESETS, make_config  # noqa: E402
from digitgan.data.digits import endless_batches, load_dataset  # noqa: E402
from digitgan.evaluation.classifier import ensure_evaluator  # noqa: E402
from digitgan.evaluation.scores import floor, quick_scores, reference  # noqa: E402
from digitgan.models.draw import generate, sample_labels  # noqa: E402
from digitgan.training.gan_family import GanFamily  # noqa: E402

PRESETS = list(GAN_PRESETS)  # every preset that draws from noise, from the registry
FID_TIMES_FLOOR, IS_GOAL = 5.0, 9.5
CHECK_EVERY = 10  # steps between looks at the clock (--check-every)


def train_curve(preset: str, args, evaluator, ref) -> list[dict]:
    """Train ``preset`` for ``args.budget`` seconds; FID and IS every ``args.interval``."""
    cfg = make_config(preset, data_root=args.data_root, device="cpu", seed=args.seed, limit=args.limit)
    data = load_dataset(cfg.dataset, cfg.data_root)
    images, labels = data.images[: cfg.limit or None], data.labels[: cfg.limit or None]
    trainer = GanFamily(cfg, images.device)
    if cfg.clusters:  # self-conditioning: the clusters stand in for the labels, as in training
        labels = trainer.fit_clusters(images, labels).assignment
    batches = endless_batches(images, labels, cfg.batch_size, torch.Generator().manual_seed(cfg.seed + 1))

    def scores(seconds: float, steps: int) -> dict:
        fakes = generate(
            trainer.sampler, args.n, 0, cfg.latent_dim, sample_labels(cfg, args.n), as_uint8=True
        )
        row = {"train_s": seconds, "steps": steps, "epochs": steps * cfg.batch_size / len(images)}
        row.update(quick_scores(fakes[:, 0], evaluator, ref))
        print(
            f"{preset:8s} {seconds:7.1f} s {row['epochs']:7.2f} epochs  FID {row['fid']:8.2f}  IS {row['is']:.3f}"
        )
        return row

    curve, trained, steps = [scores(0.0, 0)], 0.0, 0
    while trained < args.budget - 1e-9:
        target = min(trained + args.interval, args.budget)
        start = time.perf_counter()
        while trained + time.perf_counter() - start < target:
            for _ in range(args.check_every):
                trainer.step(*next(batches))
            steps += args.check_every
        trained += time.perf_counter() - start
        curve.append(scores(trained, steps))
    return curve


def minutes_to(curve: list[dict], reached) -> float | None:
    """Training minutes at the first evaluation that meets ``reached``, None if none does."""
    return next((row["train_s"] / 60 for row in curve if reached(row)), None)


def summary(curve: list[dict], real: dict) -> dict:
    return {
        "minutes_to_fid_goal": minutes_to(curve, lambda r: r["fid"] <= FID_TIMES_FLOOR * real["fid"]),
        "minutes_to_is_goal": minutes_to(curve, lambda r: r["is"] >= IS_GOAL),
        "best_fid": min(r["fid"] for r in curve),
        "best_is": max(r["is"] for r in curve),
        "final": {k: curve[-1][k] for k in ("train_s", "epochs", "fid", "is")},
    }


def print_table(results: dict, real: dict, budget_min: float) -> None:
    def when(m):
        return f"{m:.1f}" if m is not None else f"not in {budget_min:g}"

    print(
        f"\nreal floor at this n: FID {real['fid']:.2f} (goal <= {FID_TIMES_FLOOR * real['fid']:.2f}), IS {real['is']:.2f}"
    )
    print(
        "| preset | minutes to FID <= 5x floor | minutes to IS >= 9.5 | best FID | best IS | epochs in budget |"
    )
    print("|---|---|---|---|---|---|")
    for preset, r in results.items():
        s = r["summary"]
        print(
            f"| `{preset}` | {when(s['minutes_to_fid_goal'])} | {when(s['minutes_to_is_goal'])} | "
            f"{s['best_fid']:.1f} | {s['best_is']:.2f} | {s['final']['epochs']:.1f} |"
        )


def plot(results: dict, real: dict, path: Path, title: str) -> None:
    fig, (ax_fid, ax_is) = plt.subplots(1, 2, figsize=(11, 4))
    for preset, r in results.items():
        minutes = [row["train_s"] / 60 for row in r["curve"]]
        ax_fid.plot(minutes, [row["fid"] for row in r["curve"]], marker=".", label=preset)
        ax_is.plot(minutes, [row["is"] for row in r["curve"]], marker=".", label=preset)
    ax_fid.axhline(FID_TIMES_FLOOR * real["fid"], linestyle="--", color="black", label="5x real floor")
    ax_fid.axhline(real["fid"], linestyle=":", color="gray", label="real floor")
    ax_is.axhline(IS_GOAL, linestyle="--", color="black", label=f"IS {IS_GOAL}")
    ax_is.axhline(real["is"], linestyle=":", color="gray", label="real floor")
    ax_fid.set(
        yscale="log",
        xlabel="training minutes",
        ylabel="FID (evaluator features)",
        title="FID, lower is better",
    )
    ax_is.set(
        xlabel="training minutes", ylabel="classifier IS", title="IS, higher is better (max 10)", ylim=(1, 10)
    )
    for ax in (ax_fid, ax_is):
        ax.grid(alpha=0.3)
    ax_is.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def earlier_results(path: Path, header: dict) -> dict:
    """The curves of an earlier run that ``--update`` keeps: only from the same n, budget,
    interval, seed and limit, so that every row of the table answers the same question."""
    if not path.is_file():
        raise SystemExit(f"--update: {path} not found; run without --update first")
    earlier = json.loads(path.read_text())
    differ = [k for k, v in header.items() if earlier.get(k) != v]
    if differ:
        raise SystemExit(
            f"--update: {path} was measured with other {', '.join(differ)}; run without --update"
        )
    for result in earlier["presets"].values():  # the header's machine will be this run's
        result.setdefault("machine", earlier.get("machine"))
    return earlier["presets"]


def preset_order(preset: str) -> int:
    return PRESETS.index(preset) if preset in PRESETS else len(PRESETS)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=PRESETS, choices=sorted(GAN_PRESETS))
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--budget", type=float, default=600, help="seconds of training per preset")
    p.add_argument("--interval", type=float, default=30, help="seconds of training between evaluations")
    p.add_argument("--n", type=int, default=5000, help="digits per evaluation")
    p.add_argument(
        "--check-every",
        type=positive_int,
        default=CHECK_EVERY,
        help="training steps between looks at the clock",
    )
    p.add_argument("--seed", type=int, default=0, help="training seed of every preset")
    p.add_argument(
        "--limit",
        type=positive_int,
        help="train on the first N digits only (as train --limit; a quick check)",
    )
    p.add_argument("--evaluator", type=Path, help="evaluator file (default: the cache)")
    p.add_argument("--out", type=Path, default=Path("bench/results"))
    p.add_argument(
        "--update",
        action="store_true",
        help="replace only these presets' curves in OUT's JSON, kept from a run with the same "
        "n, budget, interval, seed and limit; table and plot show every preset",
    )
    args = p.parse_args()

    stem = args.out / "time_to_quality"
    header = {
        "n": args.n,
        "budget_s": args.budget,
        "interval_s": args.interval,
        "seed": args.seed,
        "limit": args.limit,
    }
    results = earlier_results(stem.with_suffix(".json"), header) if args.update else {}
    evaluator = ensure_evaluator(args.evaluator, args.data_root)
    ref = reference(evaluator, args.data_root)
    real = floor(ref, args.n)
    machine = f"{cpu_name()}, {torch.get_num_threads()} CPU threads"
    header.update(machine=machine, evaluator_accuracy=evaluator.accuracy)
    header["real_floor"] = {"fid": real["fid"], "is": real["is"]}
    args.out.mkdir(parents=True, exist_ok=True)
    for preset in args.presets:
        curve = train_curve(preset, args, evaluator, ref)
        results[preset] = {
            "curve": curve,
            "summary": summary(curve, real),
            "machine": machine,
            "date": time.strftime("%Y-%m-%d"),
        }
        results = {p: results[p] for p in sorted(results, key=preset_order)}
        # after every preset: an hour's run that fails late keeps what it measured (--update)
        stem.with_suffix(".json").write_text(json.dumps({**header, "presets": results}, indent=2) + "\n")
    print_table(results, real, args.budget / 60)
    plot(results, real, stem.with_suffix(".png"), f"time to quality (n = {args.n}, {machine})")
    print(f"wrote {stem}.json and {stem}.png")


if __name__ == "__main__":
    main()
