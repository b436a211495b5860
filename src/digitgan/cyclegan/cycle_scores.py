"""Measuring a cyclegan run in both directions, on digits it never trained on.

    digitgan evaluate runs/00001-cyclegan

typed -> handwritten: 10,000 digits of the held-out typed fonts, translated, scored by the
MNIST evaluator against MNIST's test digits: the share it reads as the digit they were
translated from, FID, precision, recall; beside the same figures for the untranslated typed
digits and for real MNIST digits (the floor). Translation should close most of the distance
between the first and the last.

handwritten -> typed: MNIST's 10,000 test digits, translated, read by the typed evaluator
(trained on the typed training fonts, not the guide that steered training), beside the
typed test digits' own floor.
"""

from __future__ import annotations

import os
from pathlib import Path

from digitgan.cyclegan.translation import load_translator, translate
from digitgan.data.digits import load_dataset
from digitgan.evaluation.classifier import ensure_evaluator
from digitgan.evaluation.scores import MAX_N, floor, reference, score_images

KEYS = ("conditional_accuracy", "fid", "kid", "precision", "recall", "confident_share")
LABELS = {
    "conditional_accuracy": "read as the source digit",
    "fid": "FID",
    "kid": "KID",
    "precision": "precision (k=3)",
    "recall": "recall (k=3)",
    "confident_share": "share with probability > 0.9",
}


def direction(net, source, evaluator, ref, n: int = MAX_N, data_seed: int = 0) -> dict:
    """Scores of the first ``n`` ``source`` digits translated by ``net``, of the same digits
    untranslated, and of real digits of the target domain (the floor), all by the target's
    evaluator; ``data_seed`` picks KID's subsets."""
    images, labels = source.images[:n], source.labels[:n].long()
    translated = score_images(translate(net, images), evaluator, ref, labels=labels, seed=data_seed)
    untranslated = score_images(images, evaluator, ref, labels=labels, seed=data_seed)
    real = {**floor(ref, images.shape[0]), "conditional_accuracy": evaluator.accuracy}  # its test accuracy
    closed = (untranslated["fid"] - translated["fid"]) / max(untranslated["fid"] - real["fid"], 1e-9)
    return {
        "n": int(images.shape[0]),
        "translated": translated,
        "untranslated": untranslated,
        "real_floor": real,
        "fid_gap_closed": closed,
        "evaluator": {
            "dataset": evaluator.dataset,
            "path": str(evaluator.path),
            "accuracy": evaluator.accuracy,
        },
    }


def evaluate_translation(
    run_dir: Path,
    data_root: str | os.PathLike | None,
    evaluator: Path | None,
    n: int = MAX_N,
    seed: int = 0,
) -> dict:
    """Both directions of a cyclegan run on the first ``n`` held-out digits of each
    (``evaluator``: the MNIST evaluator's file, if not the cached one)."""
    to_hand, cfg = load_translator(run_dir, "handwritten")
    to_typed, _ = load_translator(run_dir, "typed")
    data_root = data_root or cfg.data_root
    mnist_eval = ensure_evaluator(evaluator, data_root, dataset="mnist")
    typed_eval = ensure_evaluator(None, None, dataset="typed")
    typed_test = load_dataset("typed", None, "test")
    mnist_test = load_dataset("mnist", data_root, "test")
    return {
        "run": str(run_dir),
        "family": "cyclegan",
        "typed_to_handwritten": direction(
            to_hand, typed_test, mnist_eval, reference(mnist_eval, data_root), n, seed
        ),
        "handwritten_to_typed": direction(
            to_typed, mnist_test, typed_eval, reference(typed_eval, None), n, seed
        ),
    }


def format_translation(report: dict) -> str:
    lines = []
    for key, title, target in (
        ("typed_to_handwritten", "typed -> handwritten (held-out fonts; MNIST evaluator)", "MNIST floor"),
        ("handwritten_to_typed", "handwritten -> typed (MNIST test digits; typed evaluator)", "typed floor"),
    ):
        d = report[key]
        lines += [title, f"{'metric':<30} {'translated':>10} {'untranslated':>12} {target:>12}", "-" * 68]
        for k in KEYS:
            row = [d[part].get(k) for part in ("translated", "untranslated", "real_floor")]
            cells = ["-" if v is None else f"{v:.4f}" if k != "fid" else f"{v:.2f}" for v in row]
            lines.append(f"{LABELS[k]:<30} {cells[0]:>10} {cells[1]:>12} {cells[2]:>12}")
        lines += [
            f"translation closes {d['fid_gap_closed']:.1%} of the FID gap to the floor (n = {d['n']:,})",
            "",
        ]
    return "\n".join(lines + per_digit_lines(report)).rstrip()


def worst_digit(accuracies: list[float | None]) -> tuple[int, float]:
    """(digit, share read right) of the digit read right least often."""
    return min(((d, a) for d, a in enumerate(accuracies) if a is not None), key=lambda da: da[1])


def per_digit_lines(report: dict) -> list[str]:
    """Each digit's share read as itself, both ways, translated and not, and the worst
    digit under each column: a mean over digits hides one that fails. Empty for reports
    written before the per-digit figures were kept."""
    columns = [
        (report[key][part].get("digit_accuracy"), title)
        for key, short in (("typed_to_handwritten", "typed->hand"), ("handwritten_to_typed", "hand->typed"))
        for part, title in (("translated", short), ("untranslated", "untranslated"))
    ]
    if any(accuracies is None for accuracies, _ in columns):
        return []
    lines = ["read as the source digit, per digit", f"{'digit':<6}" + "".join(f"{t:>14}" for _, t in columns)]
    lines.append("-" * (6 + 14 * len(columns)))
    for d in range(10):
        cells = ["-" if a[d] is None else f"{a[d]:.2%}" for a, _ in columns]
        lines.append(f"{d:<6}" + "".join(f"{c:>14}" for c in cells))
    worst = [worst_digit(a) for a, _ in columns]
    lines.append(f"{'worst':<6}" + "".join(f"{f'{d}: {a:.2%}':>14}" for d, a in worst))
    return lines
