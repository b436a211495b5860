"""Classification Accuracy Score (Ravuri & Vinyals 2019): train a classifier on generated
digits alone, test it on real ones; beside it, the same classifier trained on as many real
training digits (the floor this score can reach).

    digitgan evaluate runs/00001-cdcgan --cas

The classifier is the evaluator's architecture and recipe (evaluator.fit_classifier), fresh
for each score: ``epochs`` passes over the N digits, batches of 128, seeded.
"""

from __future__ import annotations

import time

import torch

from digitgan.basics.errors import UserError
from digitgan.data.digits import load_dataset
from digitgan.evaluation.classifier import accuracy, fit_classifier

BATCH = 128


def classifier_accuracy(
    images: torch.Tensor, labels: torch.Tensor, data_root, epochs: int, seed: int
) -> float:
    """Test accuracy on MNIST's 10,000 test digits of a classifier trained on ``images``."""
    steps = max(1, epochs * len(images) // BATCH)
    net = fit_classifier(images, labels, steps, batch_size=min(BATCH, len(images)), seed=seed)
    return accuracy(net, load_dataset("mnist", data_root, "test"))


def require_labels(labels: torch.Tensor | None) -> None:
    if labels is None:
        raise UserError(
            "--cas needs the digits' labels: a conditional run (cgan, cdcgan), or an .npz with 'labels'"
        )


def classification_accuracy_score(
    images: torch.Tensor, labels: torch.Tensor | None, data_root, epochs: int = 4, seed: int = 0
) -> dict:
    """CAS of uint8 ``images`` (N, 28, 28) with their ``labels``, and the real floor: the same
    classifier, steps and seed on N real training digits (a seeded random choice)."""
    require_labels(labels)
    start = time.perf_counter()
    n = len(images)
    cas = classifier_accuracy(images, labels.long(), data_root, epochs, seed)
    real = load_dataset("mnist", data_root, "train")
    if n > len(real):
        raise UserError(f"--cas compares with as many real digits; use at most {len(real):,} digits")
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n]
    floor = classifier_accuracy(real.images[pick], real.labels[pick], data_root, epochs, seed)
    return {
        "cas": cas,
        "real_floor": floor,
        "n": n,
        "epochs": epochs,
        "seed": seed,
        "seconds": time.perf_counter() - start,
    }


def format_cas(result: dict) -> str:
    return (
        f"Classification Accuracy Score: {result['cas']:.2%} on MNIST's test digits, for a classifier trained on "
        f"these {result['n']:,} digits alone; {result['real_floor']:.2%} trained on {result['n']:,} real ones "
        f"(the floor; {result['epochs']} epochs, seed {result['seed']}, {result['seconds']:.0f} s)"
    )
