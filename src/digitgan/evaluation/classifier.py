"""The MNIST classifier that every metric is measured with, and its training.

    digitgan evaluator train --data-root ../shared/data

FID with ImageNet Inception features fits 28 x 28 grayscale digits badly (and its weights
would have to be downloaded); the practice for MNIST is a classifier trained on MNIST as
the feature extractor. This one is a small CNN (two 5x5 conv blocks with BatchNorm, a
128-unit penultimate layer whose activations are the features, 10 logits), trained on the
60,000 training digits with Adam and a one-cycle schedule; it reaches >= 99.2% on the test
digits in a few minutes on two CPU cores, and the same seed gives the same weights.

The one trained on MNIST ships in the package (``digitgan/pretrained/evaluator/``, 99.40% on
the test digits): one fixed measuring stick, as FID's Inception weights are, so that figures
measured on two machines compare. ``digitgan evaluator train --evaluator PATH`` trains another
(``--evaluator PATH`` measures with it); evaluators of other data sets are trained on first
use into the cache folder (``$DIGITGAN_CACHE``, else ``~/.cache/digitgan``). Each file holds
its test accuracy, seed and the md5 of the data it was trained on in its metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from torch import nn
from tqdm import tqdm

from digitgan.basics.errors import UserError
from digitgan.basics.files import cache_dir
from digitgan.basics.images import to_model_range
from digitgan.data.digits import Digits, load_dataset
from digitgan.runs.checkpoint import load_weights, save_weights, weights_metadata
from digitgan.runs.shipped import shipped_evaluator

FEATURE_DIM = 128
EVALUATOR_VERSION = 1  # bump when the architecture or recipe changes: old caches are ignored


class EvaluatorNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 5, padding=2, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 7, 7)
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, FEATURE_DIM),
            nn.ReLU(),  # (B, 128): the features for FID, KID, precision and recall
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, 1, 28, 28) in [-1, 1] -> (features (B, 128), logits (B, 10))."""
        f = self.features(x)
        return f, self.head(self.dropout(f))


@dataclass
class Evaluator:
    net: EvaluatorNet
    path: Path
    accuracy: float
    data_md5: str
    digest: str  # md5 of the weights: keys the cached real-data statistics
    dataset: str = "mnist"  # what it classifies: a run is measured only by its own dataset's

    def describe(self) -> dict:
        """What a metrics report says of the evaluator it was measured with."""
        return {
            "dataset": self.dataset,
            "path": str(self.path),
            "accuracy": self.accuracy,
            "md5": self.digest,
        }

    @torch.no_grad()
    def embed(self, images_u8: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 digits (N, 28, 28) -> (features (N, 128) float64, probabilities (N, 10) float64)."""
        self.net.eval()
        feats, probs = [], []
        for chunk in images_u8.split(batch_size):
            f, logits = self.net(to_model_range(chunk).view(-1, 1, 28, 28))
            feats.append(f.double())
            probs.append(torch.softmax(logits.double(), dim=1))
        return torch.cat(feats), torch.cat(probs)


def cached_evaluator_path(dataset: str) -> Path:
    """Where an evaluator of ``dataset`` is trained on first use (all but MNIST's, which ships)."""
    return cache_dir() / f"evaluator-{dataset}-v{EVALUATOR_VERSION}.safetensors"


def default_evaluator_path(dataset: str = "mnist") -> Path:
    """The evaluator of ``dataset`` when ``--evaluator`` is not given: MNIST's ships with
    digitgan (checked against its sha256 here); the others are trained once into the cache."""
    return shipped_evaluator() if dataset == "mnist" else cached_evaluator_path(dataset)


@torch.no_grad()
def accuracy(net: EvaluatorNet, data: Digits, batch_size: int = 1000) -> float:
    net.eval()
    correct = 0
    for images, labels in zip(data.images.split(batch_size), data.labels.split(batch_size), strict=True):
        _, logits = net(to_model_range(images).view(-1, 1, 28, 28))
        correct += (logits.argmax(1) == labels).sum().item()
    return correct / len(data)


def fit_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    steps: int,
    *,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = False,
    stream: TextIO | None = None,
) -> EvaluatorNet:
    """A fresh EvaluatorNet trained for ``steps`` steps on uint8 ``images`` (N, 28, 28) and
    their ``labels``: Adam with a one-cycle learning rate, batches drawn epoch by epoch from
    seeded permutations. The evaluator's recipe, and the Classification Accuracy Score's."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    net = EvaluatorNet()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    per_epoch = max(1, len(images) // batch_size)
    bar = tqdm(total=steps, unit="step", desc="classifier", file=stream or sys.stdout, disable=not progress)
    net.train()
    done = 0
    while done < steps:
        order = torch.randperm(len(images), generator=rng)[: per_epoch * batch_size]
        for idx in order.view(per_epoch, -1)[: steps - done]:
            x = to_model_range(images.index_select(0, idx)).view(-1, 1, 28, 28)
            _, logits = net(x)
            loss = F.cross_entropy(logits, labels.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            done += 1
    bar.close()
    return net.eval()


def train_evaluator(
    data_root: str | os.PathLike | None,
    out: Path,
    *,
    epochs: int = 4,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    limit: int | None = None,
    stream: TextIO | None = None,
    progress: bool | None = None,
    dataset: str = "mnist",
) -> Evaluator:
    """Train the classifier on ``dataset``'s train split (MNIST, or Fashion-MNIST for runs
    trained on it), measure it on the test split, save it."""
    stream = stream or sys.stdout
    train = load_dataset(dataset, data_root, "train")
    test = load_dataset(dataset, data_root, "test")
    images, labels = train.images[:limit], train.labels[:limit]
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create {out.parent} for the evaluator: {exc.strerror}; pass --evaluator PATH"
        ) from exc

    show = stream.isatty() if progress is None else progress
    start = time.perf_counter()
    steps = epochs * (len(images) // batch_size)
    net = fit_classifier(
        images, labels, steps, batch_size=batch_size, lr=lr, seed=seed, progress=show, stream=stream
    )
    acc = accuracy(net, test)
    meta = {
        "accuracy": f"{acc:.6f}",
        "seed": str(seed),
        "epochs": str(epochs),
        "limit": str(limit),
        "train_md5": train.md5,
        "test_md5": test.md5,
        "version": str(EVALUATOR_VERSION),
        "dataset": dataset,
    }
    save_weights(out, net, meta)
    print(
        f"digitgan: {dataset} evaluator trained in {time.perf_counter() - start:.0f} s: test accuracy {acc:.2%}, "
        f"saved to {out}",
        file=stream,
        flush=True,
    )
    return load_evaluator(out)


def load_evaluator(path: Path) -> Evaluator:
    path = Path(path)
    net = EvaluatorNet()
    load_weights(path, net)  # names the file on any problem
    try:
        meta = weights_metadata(path)
        acc = float(meta["accuracy"])
    except (SafetensorError, KeyError, ValueError) as exc:
        raise UserError(
            f"{path} has no evaluator metadata; train one with: digitgan evaluator train"
        ) from exc
    digest = hashlib.md5()
    for key, tensor in sorted(net.state_dict().items()):  # the weights, not the file's byte order
        digest.update(key.encode())
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    data_md5 = json.dumps([meta.get("train_md5"), meta.get("test_md5")])
    return Evaluator(net.eval(), path, acc, data_md5, digest.hexdigest(), meta.get("dataset", "mnist"))


def ensure_evaluator(
    path: str | os.PathLike | None,
    data_root: str | os.PathLike | None,
    stream: TextIO | None = None,
    dataset: str = "mnist",
) -> Evaluator:
    """The evaluator of ``dataset`` at ``path`` (default: the shipped one for MNIST, that
    dataset's file in the cache otherwise); trained first, saying so, if missing. One trained on another dataset is refused: its
    classes and features would measure the wrong thing."""
    stream = stream or sys.stdout
    path = Path(path) if path else default_evaluator_path(dataset)
    if not path.exists():
        print(
            f"digitgan: no evaluator at {path}; training one on {dataset} (a minute or two, once)",
            file=stream,
        )
        return train_evaluator(data_root, path, stream=stream, dataset=dataset)
    evaluator = load_evaluator(path)
    if evaluator.dataset != dataset:
        raise UserError(
            f"{path} is a {evaluator.dataset} evaluator, but these images are {dataset}: pass --evaluator "
            f"with a {dataset} one, or leave --evaluator out to use (or train) the cached one"
        )
    return evaluator
