"""Discriminator rejection: does keeping the digits a run's own D rates most real help?

    python bench/rejection.py runs/00001-cdcgan --data-root ../shared/data

After Azadi et al. 2019 ("Discriminator Rejection Sampling"), in its simplest form: draw
--pool candidates per wanted digit from the EMA generator, keep for each digit class the
share --keep that the trained D scores highest, and score the kept n digits with the
evaluator (keep 1 = the first n drawn, no rejection). Conditional runs only: the choice is
made per digit so that the classes stay balanced.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from digitgan.basics.images import to_uint8
from digitgan.evaluation.classifier import ensure_evaluator
from digitgan.evaluation.scores import reference, score_images
from digitgan.models.draw import generate
from digitgan.models.networks import build_networks
from digitgan.runs.checkpoint import load_generator, load_weights

SHOWN = ("fid", "is", "precision", "recall", "confident_share", "conditional_accuracy")


def d_scores(run: Path, cfg, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The run's D output on each image, in batches of the run's batch size, eval mode."""
    _, D = build_networks(cfg)
    load_weights(run / "checkpoints" / "D.safetensors", D)
    D.eval()
    with torch.inference_mode():
        pairs = zip(images.split(cfg.batch_size), labels.split(cfg.batch_size), strict=True)
        return torch.cat([D(x, y).float().flatten() for x, y in pairs])


def kept(labels: torch.Tensor, scores: torch.Tensor, n: int, keep: float) -> torch.Tensor:
    """Indices of n digits, n/10 per class: each class's best-scored of its first
    n/10/keep candidates."""
    chosen = []
    for digit in range(10):
        candidates = torch.nonzero(labels == digit).flatten()[: round(n // 10 / keep)]
        chosen.append(candidates[scores[candidates].argsort(descending=True)[: n // 10]])
    return torch.cat(chosen)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--n", type=int, default=10_000, help="digits scored per row (a multiple of 10)")
    p.add_argument("--keep", type=float, nargs="+", default=[1.0, 0.75, 0.5, 0.25])
    p.add_argument("--evaluator", type=Path, help="evaluator file (default: the cache)")
    p.add_argument("--json", type=Path, default=Path("bench/results/rejection.json"))
    args = p.parse_args()

    G, cfg = load_generator(args.run)
    if not cfg.conditional:
        raise SystemExit("bench/rejection.py: needs a conditional run (cgan, cdcgan)")
    evaluator = ensure_evaluator(args.evaluator, args.data_root)
    ref = reference(evaluator, args.data_root)
    pool = round(1 / min(args.keep))
    labels = torch.arange(10).repeat_interleave(args.n // 10 * pool)
    images = generate(G, len(labels), seed=0, latent_dim=cfg.latent_dim, labels=labels)
    scores = d_scores(args.run, cfg, images, labels)
    rows = []
    print("| kept share | " + " | ".join(SHOWN) + " |")
    for keep in args.keep:
        idx = kept(labels, scores, args.n, keep)
        metrics = score_images(to_uint8(images[idx])[:, 0], evaluator, ref, labels=labels[idx])
        rows.append({"keep": keep, **{k: metrics[k] for k in SHOWN}})
        print(f"| {keep:g} | " + " | ".join(f"{metrics[k]:.4g}" for k in SHOWN) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"run": str(args.run), "n": args.n, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
