"""A translator on typed digits in fonts it never saw: per digit, per font package.

    python bench/unseen_fonts.py cyclegan --data-root ../shared/data     # the shipped model
    python bench/unseen_fonts.py runs/00001-cyclegan --per-digit 10

Renders ``--per-digit`` digits of each digit in each font of the unseen Debian packages
(data/unseen_fonts.py; at most ``--fonts-per-package`` fonts of each, spread over its
styles), as the typed data set prints its own, and translates them into handwriting. The
MNIST evaluator reads each translation, and so does a nearest-neighbour classifier that
shares nothing with any network here (an independent check); the typed-digit reader (cyclegan/reader.py) says
which inputs are not readable digits. Prints the share read as the source digit for each
digit and package, the worst digit beside the mean, on every input and on the readable ones;
writes it all to bench/results/unseen_fonts.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from digitgan.api.loading import load
from digitgan.cyclegan.cycle_scores import worst_digit
from digitgan.cyclegan.reader import load_reader, unreadable
from digitgan.data.digits import load_dataset
from digitgan.data.unseen_fonts import PACKAGES, render_unseen, unseen_fonts
from digitgan.evaluation.classifier import ensure_evaluator
from digitgan.evaluation.metrics import per_digit_accuracy


def spread(fonts: list, k: int) -> list:
    """At most ``k`` fonts of each package, evenly over its sorted fonts."""
    by_package: dict[str, list] = {}
    for font in fonts:
        by_package.setdefault(font.package, []).append(font)
    chosen = []
    for group in by_package.values():
        idx = np.unique(np.linspace(0, len(group) - 1, min(k, len(group))).round().astype(int))
        chosen += [group[i] for i in idx]
    return chosen


def summary(probs: torch.Tensor, labels: np.ndarray, packages: np.ndarray) -> dict:
    """The share read as the source digit: overall, per digit (evaluate's own figure),
    the worst digit, and per package."""
    per_digit = per_digit_accuracy(probs, torch.from_numpy(labels))
    digit, worst = worst_digit(per_digit)
    right = probs.argmax(1).numpy() == labels
    return {
        "n": int(right.size),
        "read_as_source": float(right.mean()),
        "per_digit": {str(d): a for d, a in enumerate(per_digit) if a is not None},
        "worst_digit": {"digit": digit, "read_as_source": worst},
        "per_package": {p: float(right[packages == p].mean()) for p in sorted(set(packages))},
    }


class NearestNeighbours:
    """An independent reader of handwriting: the ``k`` nearest MNIST training digits by
    Euclidean distance in their first ``dims`` principal components, by majority (the
    nearest on a tie). No network and no gradient: a translator trained against a network
    cannot have learnt to please it."""

    def __init__(self, data_root: str | None, k: int = 3, dims: int = 50) -> None:
        train = load_dataset("mnist", data_root, "train")
        x = train.images.view(len(train), -1).double() / 255
        self.mean = x.mean(0)
        _, vectors = torch.linalg.eigh((x - self.mean).T @ (x - self.mean))
        self.basis = vectors[:, -dims:].flip(1).float()
        self.points, self.labels, self.k = self.project(train.images), train.labels, k

    def project(self, images: torch.Tensor) -> torch.Tensor:
        x = images.reshape(len(images), -1).double() / 255
        return ((x - self.mean).float()) @ self.basis

    def read(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 28, 28) -> the digit each is read as, (N,)."""
        out = []
        for chunk in self.project(images).split(1000):
            near = torch.cdist(chunk, self.points).topk(self.k, largest=False).indices
            votes = torch.nn.functional.one_hot(self.labels[near], 10).sum(1).float()
            votes[torch.arange(len(near)), self.labels[near[:, 0]]] += 0.5  # the nearest breaks ties
            out.append(votes.argmax(1))
        return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a shipped model's name (cyclegan) or a cyclegan run folder")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--per-digit", type=int, default=10)
    ap.add_argument("--fonts-per-package", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/results/unseen_fonts.json"))
    args = ap.parse_args()
    start = time.perf_counter()
    fonts = spread(unseen_fonts()[0], args.fonts_per_package)
    if not fonts:
        print(
            f"unseen_fonts.py: no unseen font package is installed; apt-get install -y {PACKAGES}",
            file=sys.stderr,
        )
        sys.exit(2)
    data = render_unseen(fonts, args.per_digit, args.seed)
    images, labels = torch.from_numpy(data["images"]), data["labels"]
    packages = np.array([fonts[i].package for i in data["font"]])
    hand = load(args.model).translate(data["images"], to="handwritten")
    evaluator = ensure_evaluator(None, args.data_root, dataset="mnist")
    read = evaluator.embed(torch.from_numpy(hand))[1]
    typed_read = evaluator.embed(images)[1]
    bad = np.zeros(len(labels), bool)
    bad[unreadable(load_reader(), images)] = True
    ok = torch.from_numpy(~bad)
    knn = torch.nn.functional.one_hot(NearestNeighbours(args.data_root).read(torch.from_numpy(hand)), 10)
    report = {
        "model": args.model,
        "fonts": len(fonts),
        "packages": len(set(packages)),
        "translated": summary(read, labels, packages),
        "translated_readable": summary(read[ok], labels[~bad], packages[~bad]),
        "nearest_neighbours_readable": summary(knn[ok], labels[~bad], packages[~bad]),
        "untranslated": summary(typed_read, labels, packages),
        "unreadable": {"n": int(bad.sum()), "fonts": sorted({fonts[i].name for i in data["font"][bad]})},
        "seconds": time.perf_counter() - start,
    }
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out} in {report['seconds']:.0f} s")


def print_table(report: dict) -> None:
    cols = ("translated", "translated_readable", "nearest_neighbours_readable", "untranslated")
    print(
        f"{report['fonts']} fonts of {report['packages']} unseen packages; read by the MNIST evaluator "
        "(nearest_neighbours: by the 3 nearest MNIST training digits, a reader that shares nothing with it)"
    )
    print(f"{'':<26}" + "".join(f"{c:>28}" for c in cols))
    print(f"{'all digits':<26}" + "".join(f"{report[c]['read_as_source']:>28.2%}" for c in cols))
    for d in range(10):
        print(f"{f'digit {d}':<26}" + "".join(f"{report[c]['per_digit'][str(d)]:>28.2%}" for c in cols))
    worst = [
        f"{report[c]['worst_digit']['digit']}: {report[c]['worst_digit']['read_as_source']:.2%}" for c in cols
    ]
    print(f"{'worst digit':<26}" + "".join(f"{w:>28}" for w in worst))
    low = sorted(report["translated"]["per_package"].items(), key=lambda kv: kv[1])[:8]
    print("packages read worst after translation: " + ", ".join(f"{p} {v:.1%}" for p, v in low))
    print(f"unreadable inputs: {report['unreadable']['n']} ({', '.join(report['unreadable']['fonts'][:8])})")


if __name__ == "__main__":
    main()
