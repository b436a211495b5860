"""Using a trained cyclegan run: translate arrays of digits, write a number by hand, and
measure both directions on held-out data.

    digitgan handwrite runs/00001-cyclegan "2026" --out 2026.png --compare
    digitgan translate runs/00001-cyclegan --samples typed.npz --to handwritten --out hand.npz
    digitgan evaluate runs/00001-cyclegan

Every entry point loads the run's EMA translators once (the raw networks when EMA was off)
and translates without gradients, in batches; inputs and outputs are uint8 digits
(N, 28, 28) with 0 = background, as MNIST's files and ``digitgan sample`` have them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.images import to_model_range, to_uint8
from digitgan.basics.safe_output import check_output_file
from digitgan.config.train_config import TrainConfig
from digitgan.cyclegan.cycle_networks import ResnetGenerator, translate_batches
from digitgan.cyclegan.reader import load_reader, unreadable
from digitgan.runs.checkpoint import load_trained, trained_config
from digitgan.runs.run_folder import require_run_dir

DIRECTIONS = {"handwritten": "to_handwritten", "typed": "to_typed"}
MAX_TEXT = 40  # characters of a handwritten line: 40 digits are 1,120 px wide at scale 1
HANDWRITE_SCALE = 4  # pixels per MNIST pixel in the written picture


def load_translator(run_dir: Path, to: str) -> tuple[nn.Module, TrainConfig]:
    """The run's network that translates into ``to`` (handwritten or typed), in eval mode."""
    run_dir = require_run_dir(run_dir, "runs/00001-cyclegan")
    cfg = trained_config(run_dir)
    if cfg.family != "cyclegan":
        raise UserError(
            f"{run_dir} is a {cfg.preset} run, which draws digits from noise; translating needs a run "
            "trained with --preset cyclegan"
        )
    if to not in DIRECTIONS:
        raise UserError(f"--to must be handwritten or typed, got {to!r}")
    net = load_trained(run_dir, DIRECTIONS[to], ResnetGenerator(cfg.hidden_dim, cfg.res_blocks))
    return net.eval(), cfg


def translate(net: nn.Module, images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> their translations, uint8 (N, 28, 28)."""
    return to_uint8(translate_batches(net, to_model_range(images_u8).view(-1, 1, 28, 28)))[:, 0]


def check_text(text: str) -> str:
    if not text.strip():
        raise UserError('the text to write is empty; pass digits such as "2026"')
    if len(text) > MAX_TEXT:
        raise UserError(f"the text is {len(text)} characters long; write at most {MAX_TEXT} at a time")
    bad = sorted({c for c in text if not (c.isascii() and (c.isdigit() or c == " "))})
    if bad:
        raise UserError(f"only digits 0-9 and spaces can be written, not {''.join(bad)!r}")
    return text


def typed_line(text: str, font_name: str | None, seed: int) -> tuple[torch.Tensor, str]:
    """The digits of ``text`` printed in a font, MNIST-style, as the typed data set prints
    them (stroke, slant and size drawn from ``seed``): uint8 (len(text), 28, 28), spaces
    blank; and the font's name."""
    from PIL import ImageFont

    from digitgan.data.typed import RENDER_PX, augmented, split_fonts, usable_fonts

    kept, _ = usable_fonts()
    if not kept:
        raise UserError("no fonts with digits are installed; see digitgan fonts")
    by_name = {f.name: f for f in kept}
    if font_name is None:
        font = split_fonts(kept)["test"][0]  # a held-out design: one the run never saw
    elif font_name in by_name:
        font = by_name[font_name]
    else:
        raise UserError(f"unknown font {font_name!r}; digitgan fonts lists the {len(kept)} usable ones")
    face = ImageFont.truetype(str(font.path), RENDER_PX)
    digits = []
    for i, c in enumerate(text):
        if c == " ":
            digits.append(np.zeros((28, 28), np.uint8))
        else:
            digits.append(augmented(face, int(c), np.random.default_rng([seed, i])))
    return torch.from_numpy(np.stack(digits)), font.name


def handwrite(
    run_dir: Path, text: str, out: Path, font: str | None, seed: int, compare: bool, force: bool = False
) -> Handwriting:
    """Write ``text`` by hand into the PNG ``out`` (the typed line above it with
    ``compare``; an existing ``out`` only with ``force``)."""
    check_text(text)
    check_output_file(out, "--out", (".png",), force)
    net, _ = load_translator(run_dir, "handwritten")
    written = handwriting_png(net, text, font, seed, compare)
    atomic_write_bytes(out, written.png)
    return written


@dataclass(frozen=True)
class Handwriting:
    """A handwritten line: the PNG, the font it was printed in, and the positions in the
    text of the printed digits the reader could not read (empty unless the font is odd)."""

    png: bytes
    font: str
    unreadable: list[int]


def handwriting_png(net: nn.Module, text: str, font: str | None, seed: int, compare: bool) -> Handwriting:
    """``text`` printed in ``font``, translated by ``net`` into handwriting: a one-channel PNG
    at 4x (the typed line above with ``compare``)."""
    check_text(text)
    typed, font_name = typed_line(text, font, seed)
    bad = unreadable(load_reader(), typed)
    hand = translate(net, typed)
    hand[typed.flatten(1).amax(1) == 0] = 0  # a space stays blank
    rows = [typed, hand] if compare else [hand]
    picture = torch.cat([torch.cat(list(row), dim=1) for row in rows], dim=0)  # (28 rows, 28 n)
    image = Image.fromarray(picture.numpy()).resize(
        (picture.shape[1] * HANDWRITE_SCALE, picture.shape[0] * HANDWRITE_SCALE), Image.NEAREST
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Handwriting(buffer.getvalue(), font_name, bad)


def translate_file(
    run_dir: Path, samples: Path, to: str, out: Path, force: bool = False
) -> tuple[int, list[int]]:
    """Translate the digits of an .npz (``images``, optional ``labels``, kept) into ``out``
    (an existing one only with ``force``; never the input). Returns how many, and the
    indices of typed inputs that the reader cannot read as digits (into handwriting only)."""
    from digitgan.evaluation.scores import load_samples
    from digitgan.generation.sampling import write_samples

    check_output_file(out, "--out", (".npz",), force, inputs=[("--samples", samples)])
    net, _ = load_translator(run_dir, to)
    images, labels = load_samples(samples, min_n=1)
    bad = unreadable(load_reader(), images) if to == "handwritten" else []
    write_samples(translate(net, images)[:, None], out, labels)  # as digitgan sample writes .npz
    return images.shape[0], bad
