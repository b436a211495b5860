"""The typed-digit reader: which inputs a translator cannot translate, named before it
silently turns them into some other digit.

    python scripts/make_reader.py                    # trains it and writes pretrained/reader/

A translator into handwriting turns anything into a handwritten digit: a digit printed
white in a black box, an inverted one, a letter. A classifier's confidence alone does not
see them (the guide, trained on digits only, reads 68% of inverted digits and 84% of
letters with p > 0.9), so this one learns what is not a digit as an eleventh class
(outlier exposure, Hendrycks et al. 2019): letters and signs printed in the typed training
fonts as the digits are, and those fonts' digits inverted or boxed. An input is unreadable
when its most likely class is "not a digit" or no digit has p > READABLE. The reader ships
in the package (216 KB), so the shipped cyclegan checks its input without training.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from digitgan.basics.images import to_model_range
from digitgan.cyclegan.guide import GuideNet, fit_distorted

NOT_A_DIGIT = 10
READABLE = 0.5  # the top digit's probability (of 11 classes) below which an input is unreadable
# Signs that no one reads as a digit: no O, I, l, Z, S, B, G, b, g, q (0, 1, 2, 5, 8, 6, 9).
NOT_DIGITS = "ACDEFHJKLMNPRTUVWXYacdefhkmnprtuvwxy#%&@?+=*!$<>"


def reader_net() -> GuideNet:
    """The guide's LeNet-style network with an eleventh class, "not a digit"."""
    return GuideNet(classes=NOT_A_DIGIT + 1)


def boxed(glyph: Image.Image, margin: int) -> Image.Image:
    """The glyph cut out of a white box, ``margin`` pixels around it: a digit printed white
    on black, as some fonts draw them."""
    ink = np.asarray(glyph)
    box = np.full((ink.shape[0] + 2 * margin, ink.shape[1] + 2 * margin), 255, np.uint8)
    box[margin:-margin, margin:-margin] = 255 - ink
    return Image.fromarray(box)


def not_digits(split: str, per_font: int, seed: int = 0) -> np.ndarray:
    """uint8 (N, 28, 28) inputs that are not digits, from ``split``'s typed fonts: letters
    and signs printed as the typed digits are, and digits inverted or in a box."""
    from PIL import ImageFont

    from digitgan.data.typed import RENDER_PX, augmented, mnist_style, render, split_fonts, usable_fonts

    fonts = split_fonts(usable_fonts()[0])[split]
    out = []
    for i, font in enumerate(fonts):
        face = ImageFont.truetype(str(font.path), RENDER_PX)
        rng = np.random.default_rng([seed, i])
        for _ in range(per_font):
            kind = rng.integers(3)
            if kind == 0:
                out.append(augmented(face, str(rng.choice(list(NOT_DIGITS))), rng))
            elif kind == 1:
                out.append(255 - augmented(face, int(rng.integers(10)), rng))
            else:
                out.append(mnist_style(boxed(render(face, str(rng.integers(10))), int(rng.integers(2, 16)))))
    return np.stack(out)


def train_reader(
    digits: torch.Tensor, labels: torch.Tensor, others: torch.Tensor, *, epochs: int = 3, seed: int = 1
) -> GuideNet:
    """Digits (their labels) and non-digits (class 10), uint8 (N, 28, 28), each batch
    distorted by a random affine map, as the guide is trained."""
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    images = torch.cat([digits, others])
    targets = torch.cat([labels.long(), torch.full((len(others),), NOT_A_DIGIT)])
    net = reader_net()
    fit_distorted(net, images, targets, epochs=epochs, batch_size=128, rng=rng)
    return net.eval().requires_grad_(False)


@torch.no_grad()
def digit_probabilities(reader: nn.Module, images_u8: torch.Tensor) -> torch.Tensor:
    """(N, 11) probabilities: the ten digits, then "not a digit"."""
    x = to_model_range(images_u8.reshape(-1, 1, 28, 28))
    return torch.cat([torch.softmax(reader(b), 1) for b in x.split(1000)])


def unreadable(reader: nn.Module, images_u8: torch.Tensor) -> list[int]:
    """Indices of the inputs the reader cannot read as a digit with confidence. Blank inputs
    (a space in handwrite) are not unreadable: they stay blank."""
    if images_u8.shape[0] == 0:
        return []
    probs = digit_probabilities(reader, images_u8)
    top, best = probs.max(1)
    bad = (best == NOT_A_DIGIT) | (top < READABLE)
    blank = images_u8.reshape(images_u8.shape[0], -1).amax(1) == 0
    return [int(i) for i in torch.nonzero(bad & ~blank).flatten()]


def describe(indices: list[int], n: int, shown: int = 10) -> str:
    """'3 of 100 inputs (0, 5, 17)': the count and the first indices."""
    listed = ", ".join(str(i) for i in indices[:shown]) + (", ..." if len(indices) > shown else "")
    return f"{len(indices):,} of {n:,} inputs ({listed})"


def load_reader() -> GuideNet:
    """The shipped reader (pretrained/reader/), in eval mode: read and checked against
    SHA256SUMS once per process, not on every translation, line written or request served."""
    from digitgan.runs.shipped import PRETRAINED_ROOT, READER

    return _reader_of(PRETRAINED_ROOT / READER)


@functools.cache
def _reader_of(folder: Path) -> GuideNet:
    """The reader in ``folder`` (one per root: tests use copies of the shipped folder)."""
    from digitgan.runs.checkpoint import load_weights
    from digitgan.runs.shipped import shipped_weights

    path = shipped_weights(folder.name)
    return load_weights(path, reader_net()).eval().requires_grad_(False)
