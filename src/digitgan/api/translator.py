"""A trained CycleGAN (typed <-> handwritten digits), as the Python API hands it out.

    >>> t = digitgan.load("cyclegan")                # or a run folder: "runs/00001-cyclegan"
    >>> t.handwrite("2026").save("2026.png")         # doctest: +SKIP
    >>> hand = t.translate(typed_digits, to="handwritten")   # doctest: +SKIP

``handwrite`` draws what ``digitgan handwrite`` writes, and ``translate`` returns what
``digitgan translate`` writes: the commands call these.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from digitgan.basics.errors import UserError
from digitgan.basics.images import check_digits
from digitgan.cyclegan.reader import describe, load_reader, unreadable
from digitgan.cyclegan.translation import DIRECTIONS, handwriting_png, load_translator, translate


class Translator:
    """Both directions of a cyclegan run: ``to`` handwritten and ``to`` typed.

    >>> t = digitgan.load("cyclegan")
    >>> sevens = digitgan.load("cdcgan").sample(4, digit=7)
    >>> t.translate(t.translate(sevens, to="typed"), to="handwritten").shape
    (4, 28, 28)
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir, self.name = Path(run_dir), Path(run_dir).name
        self._nets: dict[str, torch.nn.Module] = {}

    def __repr__(self) -> str:
        return f"<digitgan.Translator {self.name}: typed <-> handwritten>"

    def net(self, to: str) -> torch.nn.Module:
        """The network that translates into ``to``, loaded once."""
        if to not in DIRECTIONS:
            raise UserError(f"to must be handwritten or typed, got {to!r}")
        if to not in self._nets:
            self._nets[to] = load_translator(self.run_dir, to)[0]
        return self._nets[to]

    def handwrite_png(
        self, text: str, font: str | None = None, seed: int = 0, compare: bool = False
    ) -> bytes:
        """The PNG of :meth:`handwrite`, as ``digitgan handwrite`` writes it."""
        return handwriting_png(self.net("handwritten"), text, font, seed, compare).png

    def handwrite(
        self, text: str, font: str | None = None, seed: int = 0, compare: bool = False
    ) -> Image.Image:
        """``text`` (digits and spaces) printed in a held-out font (or ``font``) and written by
        hand; the printed line above it with ``compare``.

        >>> digitgan.load("cyclegan").handwrite("2026").size   # 4 digits of 28 pixels, at 4x
        (448, 112)
        """
        return Image.open(io.BytesIO(self.handwrite_png(text, font, seed, compare)))

    def translate(self, images: np.ndarray, to: str = "handwritten") -> np.ndarray:
        """uint8 digits (N, 28, 28), 0 the background, into ``to``: uint8 (N, 28, 28).
        Typed inputs the reader cannot read as digits (:meth:`unreadable`) are translated
        too, with an :class:`UnreadableInput` warning naming them."""
        array = check_digits(np.asarray(images), "images")
        if to == "handwritten":
            bad = unreadable(load_reader(), torch.from_numpy(array))
            if bad:
                warnings.warn(
                    f"{describe(bad, len(array))} cannot be read as typed digits (boxed, inverted or "
                    "not a digit): each is translated into whatever digit the translator sees in it",
                    UnreadableInput,
                    stacklevel=2,
                )
        return translate(self.net(to), torch.from_numpy(array)).numpy()

    def unreadable(self, images: np.ndarray) -> list[int]:
        """Indices of typed digits (uint8 (N, 28, 28)) that the shipped typed-digit reader
        cannot read as a digit: printed white in a box, inverted, a letter.

        >>> t = digitgan.load("cyclegan")
        >>> sevens = t.translate(digitgan.load("cdcgan").sample(4, digit=7), to="typed")
        >>> t.unreadable(np.concatenate([sevens, 255 - sevens]))  # the inverted four
        [4, 5, 6, 7]
        """
        array = check_digits(np.asarray(images), "images")
        return unreadable(load_reader(), torch.from_numpy(array))


class UnreadableInput(UserWarning):
    """Some typed inputs of :meth:`Translator.translate` cannot be read as digits; the
    message names them.

    >>> t = digitgan.load("cyclegan")
    >>> typed = t.translate(digitgan.load("cdcgan").sample(8, digit=3), to="typed")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     hand = t.translate(255 - typed)  # printed white on black
    >>> caught[0].category.__name__, hand.shape
    ('UnreadableInput', (8, 28, 28))
    """
