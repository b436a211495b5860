"""Train the typed-digit reader (cyclegan/reader.py) and write it into the package:
pretrained/reader/model.safetensors, its card README.md, and its line in SHA256SUMS.

    OMP_NUM_THREADS=1 python scripts/make_reader.py --data-root ../shared/data

It learns the typed training fonts' digits and, as an eleventh class, what is not a digit
in those fonts (letters and signs, inverted digits, digits cut out of a box); it is measured
on the held-out typed fonts, on the unseen Debian packages where installed, and on MNIST.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from make_pretrained import cpu_name, write_sums

from digitgan.cyclegan import reader
from digitgan.data.digits import load_dataset
from digitgan.data.unseen_fonts import render_unseen, unseen_fonts
from digitgan.runs.checkpoint import save_weights
from digitgan.runs.shipped import PRETRAINED_ROOT, READER, sha256


def flagged(net: torch.nn.Module, images: torch.Tensor) -> float:
    return len(reader.unreadable(net, images)) / len(images)


def measure(net: torch.nn.Module, data_root: str | None) -> dict:
    test = load_dataset("typed", None, "test")
    probs = reader.digit_probabilities(net, test.images)
    figures = {
        "typed_test_accuracy": float((probs.argmax(1) == test.labels.long()).double().mean()),
        "typed_test_flagged": flagged(net, test.images),
        "not_digits_test_flagged": flagged(net, torch.from_numpy(reader.not_digits("test", 300, seed=1))),
    }
    kept = unseen_fonts()[0]
    if kept:
        rendered = render_unseen(kept, 3)
        bad = reader.unreadable(net, torch.from_numpy(rendered["images"]))
        fonts, counts = np.unique(rendered["font"][bad], return_counts=True)
        figures |= {
            "unseen_fonts": len(kept),
            "unseen_digits_flagged": len(bad) / len(rendered["images"]),
            "unseen_fonts_mostly_flagged": sorted(
                kept[f].name for f, c in zip(fonts, counts, strict=True) if c > 15
            ),
        }
    if data_root:
        figures["mnist_test_flagged"] = flagged(net, load_dataset("mnist", data_root, "test").images)
    return figures


CARD = """---
license: mit
library_name: digitgan
pipeline_tag: image-classification
tags: [digitgan, typed-digits, out-of-distribution]
---

# digitgan typed-digit reader

Reads a printed digit (MNIST-style, 28 x 28) as one of eleven classes: the digits 0-9 and
"not a digit". digitgan's translators into handwriting use it to name the inputs they cannot
translate (a digit printed white in a box, an inverted one, a letter) instead of silently
turning them into another digit: `digitgan translate` and `handwrite` warn, the Python API
raises a `digitgan.UnreadableInput` warning, `/api/handwrite` answers a `Digitgan-Unreadable`
header. An input is unreadable when "not a digit" is its most likely class or no digit has
p > {readable}.

## Figures

| inputs | share flagged unreadable |
|---|---|
{rows}

Test accuracy on the held-out typed fonts' digits (of 11 classes): {accuracy:.2%}. The
unseen fonts (of {unseen} in the packages of `data/unseen_fonts.py`) whose digits it mostly
flags (over half of 30): {mostly}.

## Training

- Command: `{command}`
- {minutes:.1f} minutes on {cpu}, torch {torch}, CPU only
- Data: the typed data set's training fonts, {digits:,} digits and {others:,} inputs that are
  not digits (letters and signs printed as the digits are, digits inverted, digits cut out of
  a box); each batch distorted by a random affine map; {epochs} epochs, Adam 1e-3, seed {seed}
  (outlier exposure, Hendrycks et al. 2019)
- Network: two 3x3 convolution blocks with max pooling, 11 logits (50,507 parameters), float32

## Files

- `model.safetensors`: sha256 `{sha}` (in `../SHA256SUMS`, checked at every load)

## Licences

MIT (the weights and code); the fonts it learnt from: `digitgan fonts` lists each with its
licence. Not a general OCR model: it knows one printed character, centred as MNIST's digits.
"""

ROWS = {
    "typed_test_flagged": "digits of the held-out typed fonts (should be near 0)",
    "unseen_digits_flagged": "digits of the unseen Debian font packages (should be near 0)",
    "mnist_test_flagged": "MNIST's handwritten test digits (not its domain)",
    "not_digits_test_flagged": "letters, signs, inverted and boxed digits of the held-out fonts (should be near 1)",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None, help="also measure MNIST's test digits")
    ap.add_argument("--per-font", type=int, default=300, help="inputs that are not digits, per training font")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    start = time.perf_counter()
    train = load_dataset("typed", None, "train")
    others = torch.from_numpy(reader.not_digits("train", args.per_font, seed=0))
    net = reader.train_reader(train.images, train.labels, others, epochs=args.epochs, seed=args.seed)
    minutes = (time.perf_counter() - start) / 60
    figures = measure(net, args.data_root)
    folder = PRETRAINED_ROOT / READER
    folder.mkdir(exist_ok=True)
    save_weights(folder / "model.safetensors", net, {"figures": json.dumps(figures), "seed": str(args.seed)})
    rows = "\n".join(f"| {ROWS[k]} | {figures[k]:.2%} |" for k in ROWS if k in figures)
    command = "OMP_NUM_THREADS=1 python scripts/make_reader.py" + (
        " --data-root DATA" if args.data_root else ""
    )
    card = CARD.format(
        readable=reader.READABLE, rows=rows, unseen=figures.get("unseen_fonts", 0),
        mostly=", ".join(figures.get("unseen_fonts_mostly_flagged", [])) or "none", accuracy=figures["typed_test_accuracy"], command=command,
        minutes=minutes, cpu=cpu_name(), torch=torch.__version__, digits=len(train), others=len(others),
        epochs=args.epochs, seed=args.seed, sha=sha256(folder / "model.safetensors"),
    )  # fmt: skip
    (folder / "README.md").write_text(card)
    write_sums(READER, folder, ("model.safetensors",))
    print(json.dumps(figures, indent=2), f"\n{minutes:.1f} min; wrote {folder}")


if __name__ == "__main__":
    main()
