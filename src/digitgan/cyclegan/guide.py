"""The frozen classifier that keeps CycleGAN's translations the same digit (CyCADA's semantic
consistency, Hoffman et al. 2018), trained on the typed training fonts, or (``--guide-data
both``) on those and the handwritten training digits.

    python -c "from digitgan.data.digits import load_dataset as l; from digitgan.cyclegan.guide import ensure_guide; print(ensure_guide(l('typed', None, 'train'), l('typed', None, 'test')))"

It must not be a classifier that later measures the result. The evaluators
(evaluation/classifier.py) have another architecture, another seed and no augmentation; this
one is a LeNet-style network (two 3x3 conv blocks, max pooling, one linear layer; LeCun et al.
1998) trained with random affine distortions, so that it reads a digit by its shape rather
than by one font's strokes. Trained on typed digits alone it reads only 81% of MNIST's test
digits, so it judges a translation into handwriting poorly; trained on both domains it reads
98% of them and as many typed digits as before (docs/cyclegan.md). Translations are then
also read by a nearest-neighbour classifier that shares nothing with either network
(bench/unseen_fonts.py). Saved in the cache once; a run keeps its own copy in its state.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import TextIO

import torch
import torch.nn.functional as F
from torch import nn

from digitgan.basics.files import cache_dir
from digitgan.basics.images import to_model_range
from digitgan.data.digits import Digits
from digitgan.runs.checkpoint import load_weights, save_weights

GUIDE_VERSION = 1


class GuideNet(nn.Module):
    """LeNet-style: two 3x3 conv blocks, max pooling, one linear layer to ``classes`` logits
    (the ten digits; the typed-digit reader adds "not a digit")."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 32, 14, 14)
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (B, 64, 7, 7)
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, 28, 28) in [-1, 1] -> logits (B, classes), fp32 under autocast too."""
        return self.net(x).float()


def guide_path(train: Digits, handwritten: Digits | None = None) -> Path:
    """Keyed by the digits it learns from: other fonts or other handwriting, another guide."""
    if handwritten is None:
        return cache_dir() / f"guide-typed-v{GUIDE_VERSION}-{train.md5[:12]}.safetensors"
    key = hashlib.md5(f"{train.md5}+{handwritten.md5}".encode()).hexdigest()[:12]
    return cache_dir() / f"guide-typed+{handwritten.name}-v{GUIDE_VERSION}-{key}.safetensors"


def train_guide(
    out: Path,
    train: Digits,
    test: Digits,
    handwritten: Digits | None = None,
    *,
    epochs: int = 2,
    batch_size: int = 128,
    seed: int = 1,
    stream: TextIO,
) -> GuideNet:
    """The typed training fonts (and the ``handwritten`` digits, when given), each batch
    distorted by a random affine map (rotation, shear, scale, shift): about a minute per
    60,000 digits and epoch on two cores; measured on the held-out fonts."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    net = GuideNet()
    start = time.perf_counter()
    images, labels, dataset = train.images, train.labels, "typed"
    if handwritten is not None:
        images, labels = torch.cat((images, handwritten.images)), torch.cat((labels, handwritten.labels))
        dataset = f"typed+{handwritten.name}"
    fit_distorted(net, images, labels, epochs=epochs, batch_size=batch_size, rng=rng)
    net.eval()
    with torch.no_grad():
        correct = sum(
            (net(to_model_range(im[:, None])).argmax(1) == lab).sum().item()
            for im, lab in zip(test.images.split(1000), test.labels.split(1000), strict=True)
        )
    save_weights(out, net, {"accuracy": f"{correct / len(test):.6f}", "seed": str(seed), "dataset": dataset})
    print(
        f"digitgan: digit guide ({dataset}) trained in {time.perf_counter() - start:.0f} s: "
        f"{correct / len(test):.2%} on the held-out fonts, saved to {out}",
        file=stream,
        flush=True,
    )
    return net


def fit_distorted(
    net: nn.Module,
    images: torch.Tensor,
    classes: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    rng: torch.Generator,
) -> None:
    """Adam (1e-3) on uint8 digits (N, 28, 28) and their classes, each batch distorted by a
    random affine map (rotation, shear, scale, shift), so that a class is read by its shape
    rather than by one font's strokes; ``rng`` orders the batches. The guide and the
    typed-digit reader (reader.py) are trained by it."""
    from torchvision.transforms import v2  # here: commands that only read typed digits skip its import

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    distort = v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.8, 1.15), shear=(-20, 20, -5, 5))
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=rng).split(batch_size):
            batch = images.index_select(0, idx)[:, None]  # (B, 1, 28, 28) uint8
            x = to_model_range(torch.stack([distort(im) for im in batch]))
            loss = F.cross_entropy(net(x), classes.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def first_digits(digits: Digits, limit: int | None) -> Digits:
    """The first ``limit`` digits of a split (all without a limit), named by their own md5."""
    if limit is None or limit >= len(digits):
        return digits
    md5 = hashlib.md5(f"{digits.md5}:first {limit}".encode()).hexdigest()
    return Digits(digits.images[:limit], digits.labels[:limit], digits.name, digits.split, md5)


def ensure_guide(
    train: Digits,
    test: Digits,
    stream: TextIO | None = None,
    limit: int | None = None,
    handwritten: Digits | None = None,
) -> GuideNet:
    """The cached guide of the typed ``train`` split (and of the ``handwritten`` one, when
    given; the first ``limit`` digits of each, as train --limit bounds everything a run
    trains), trained first (saying so) when missing; frozen, in eval mode."""
    stream = stream or sys.stdout
    train = first_digits(train, limit)
    handwritten = None if handwritten is None else first_digits(handwritten, limit)
    path = guide_path(train, handwritten)
    if path.is_file():
        net = load_weights(path, GuideNet())
    else:
        n = len(train) + (0 if handwritten is None else len(handwritten))
        about = f"about {round(n / 30_000)} minutes" if n > 10_000 else "seconds"
        print(f"digitgan: no digit guide at {path}; training one ({about}, once)", file=stream)
        path.parent.mkdir(parents=True, exist_ok=True)
        net = train_guide(path, train, test, handwritten, stream=stream)
    return net.eval().requires_grad_(False)
