"""Typed digits in fonts that no digitgan model ever trains on: the test of a translator on
the type people really use.

    python bench/unseen_fonts.py cyclegan --data-root ../shared/data

The typed data set (data/typed.py) holds out a fifth of its own families, but five designs
are too few to stand for the fonts people type in, and a mean over them hides a digit that
fails. These are further Debian font packages, chosen for variety: flagged and plain 1s,
open and closed 6s and 9s, slab serifs, rounded, monospace, condensed, old-style figures,
seven-segment displays, handwriting-like and script faces, and a few that draw their digits
white in a black box. None of their folders is in typed.FONT_DIRS, and a font whose ten
digits equal a training font's is dropped, so not one of their digits was seen in training.
Each package is one family here. They are an evaluation set only: nothing renders them
unless asked (`.ci/run` does not install them; a test uses what is installed).
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import ImageFont

from digitgan.data.typed import RENDER_PX, Font, augmented, installed_fonts, scan_fonts, usable_fonts

# Folder -> (Debian package, licence: see the package's debian/copyright).
_PACKAGES = {
    "opentype/b612": "fonts-b612",
    "opentype/cabin": "fonts-cabin",
    "opentype/cantarell": "fonts-cantarell",
    "opentype/comic-neue": "fonts-comic-neue",
    "opentype/courier-prime": "fonts-courier-prime",
    "opentype/ebgaramond": "fonts-ebgaramond",
    "opentype/fantasque-sans/Normal/OTF": "fonts-fantasque-sans",
    "opentype/inter": "fonts-inter",
    "opentype/league-spartan": "fonts-league-spartan",
    "opentype/linux-libertine": "fonts-linuxlibertine",
    "opentype/lobster": "fonts-lobster",
    "opentype/radisnoir": "fonts-radisnoir",
    "opentype/stix": "fonts-stix",
    "opentype/yanone-kaffeesatz": "fonts-yanone-kaffeesatz",
    "truetype/3270": "fonts-3270",
    "truetype/adf": "fonts-adf-*",
    "truetype/agave": "fonts-agave",
    "truetype/andika": "fonts-sil-andika",
    "truetype/anonymous-pro": "fonts-anonymous-pro",
    "truetype/averia-gwf": "fonts-averia-gwf",
    "truetype/beteckna": "fonts-beteckna",
    "truetype/breip": "fonts-breip",
    "truetype/charis": "fonts-sil-charis",
    "truetype/crosextra": "fonts-crosextra-carlito",
    "truetype/dseg": "fonts-dseg",
    "truetype/dustin": "fonts-dustin",
    "truetype/femkeklaver": "fonts-femkeklaver",
    "truetype/firacode": "fonts-firacode",
    "truetype/gentium": "fonts-sil-gentium",
    "truetype/hack": "fonts-hack",
    "truetype/humor-sans": "fonts-humor-sans",
    "truetype/inconsolata": "fonts-inconsolata",
    "truetype/isabella": "fonts-isabella",
    "truetype/jetbrains-mono": "fonts-jetbrains-mono",
    "truetype/lato": "fonts-lato",
    "truetype/manrope": "fonts-manrope",
    "truetype/monofur": "fonts-monofur",
    "truetype/mononoki": "fonts-mononoki",
    "truetype/okolaks": "fonts-okolaks",
    "truetype/oxygen": "fonts-oxygen",
    "truetype/paratype": "fonts-paratype",
    "truetype/quicksand": "fonts-quicksand",
    "truetype/roboto/unhinted": "fonts-roboto-unhinted",
    "truetype/staypuft": "fonts-staypuft",
    "truetype/tomsontalks": "fonts-tomsontalks",
}
UNSEEN_DIRS = {
    f"/usr/share/fonts/{folder}": (package, f"see /usr/share/doc/{package}/copyright")
    for folder, package in _PACKAGES.items()
}
PACKAGES = " ".join(sorted(set(_PACKAGES.values())))


@functools.cache
def unseen_fonts() -> tuple[list[Font], list[tuple[Font, str]]]:
    """(fonts kept, [(font dropped, why)]) of the installed unseen packages: as
    typed.usable_fonts keeps fonts, and also dropping any that draws a training font's digits."""
    seen = {}
    scan_fonts(usable_fonts()[0], seen)  # the project's own fonts' signatures
    return scan_fonts(installed_fonts(UNSEEN_DIRS), seen)


def render_unseen(fonts: list[Font], per_digit: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``per_digit`` typed digits of each digit in each font, printed as the typed data set
    prints them (stroke, slant, size and blur drawn from ``seed``): ``images`` uint8 (N, 28,
    28), ``labels`` (N,), ``font`` (N,) the index into ``fonts``."""
    images, labels, font_index = [], [], []
    for i, font in enumerate(fonts):
        face = ImageFont.truetype(str(font.path), RENDER_PX)
        rng = np.random.default_rng([seed, i])
        for digit in range(10):
            for _ in range(per_digit):
                images.append(augmented(face, digit, rng))
                labels.append(digit)
                font_index.append(i)
    return {"images": np.stack(images), "labels": np.array(labels), "font": np.array(font_index)}
