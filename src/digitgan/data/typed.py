"""Typed digits: 0-9 printed in the fonts of Debian's font packages, made the way MNIST was.

    digitgan fonts                                   # the fonts, their licences, the split, the counts
    digitgan train --preset cgan --dataset typed     # any preset on typed digits

The other domain for a typed <-> handwritten translation, and a data set of its own. Each
digit is rendered with Pillow at 64 px, augmented as printed text really varies (a small
rotation and shear, stroke weight, size, blur), then preprocessed as MNIST's digits were
(LeCun et al. 1998): fitted into a 20 x 20 box keeping the aspect ratio, anti-aliased, and
placed in 28 x 28 with its centre of mass at the centre. Everything is drawn from one seed,
so the same fonts give the same bytes. The split is by font family: the test split's
designs (about a fifth of the typefaces) are never seen in training. Fonts without the ten digits, symbol
fonts, and fonts whose ten digits come out pixel-identical to an earlier font's are
dropped. The set is written once, as MNIST-format IDX files, into the cache folder.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes, cache_dir
from digitgan.data.idx import ALL_FILES, SPLIT_FILES, idx_bytes

VERSION = 1  # bump when rendering or augmentation changes: a new cache folder
SEED = 0
TRAIN_IMAGES, TEST_IMAGES = 60_000, 10_000  # MNIST's sizes, rounded up to whole fonts x digits
TEST_SHARE = 0.2  # of the font families
RENDER_PX = 64

# Where each Debian package puts its fonts, and its licence (debian/copyright).
FONT_DIRS = {
    "/usr/share/fonts/truetype/dejavu": ("fonts-dejavu-core", "Bitstream Vera licence (permissive)"),
    "/usr/share/fonts/truetype/liberation2": ("fonts-liberation2", "SIL OFL 1.1"),
    "/usr/share/fonts/opentype/urw-base35": ("fonts-urw-base35", "AGPL-3 with font exception"),
    "/usr/share/fonts/truetype/freefont": ("fonts-freefont-ttf", "GPL-3+ with font exception"),
    "/usr/share/fonts/truetype/croscore": ("fonts-croscore", "Apache-2.0"),
    "/usr/share/fonts/truetype/noto": ("fonts-noto-core", "SIL OFL 1.1"),
    "/usr/share/fonts/truetype/open-sans": ("fonts-open-sans", "Apache-2.0"),
    "/usr/share/fonts/fonts-go": ("fonts-go", "BSD-3-Clause"),
}
PACKAGES = " ".join(package for package, _ in FONT_DIRS.values())
# Metric-compatible clones and derivatives draw the same digits: one design for the split.
SAME_DESIGN = {
    "Arimo": "LiberationSans",
    "Tinos": "LiberationSerif",
    "Cousine": "LiberationMono",
    "FreeSans": "NimbusSans",
    "FreeSerif": "NimbusRoman",
    "FreeMono": "NimbusMonoPS",
}
SYMBOL_FONTS = {"D050000L": "Dingbats: pictograms where the digits would be"}
NOT_A_GLYPH = "\U000f0000"  # a private-use code point: renders as the font's 'missing' box


@dataclass(frozen=True)
class Font:
    path: Path
    package: str
    licence: str

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def family(self) -> str:
        """The design: weights and slants of one typeface together, Noto's script variants
        with their Latin parent, and metric clones with their original, so that the split
        holds out designs, not styles."""
        stem = self.name.split("-")[0]
        stem = re.sub(r"(Bold|Oblique|Italic|Regular)+$", "", stem)
        for parent in ("NotoSans", "NotoSerif"):
            if stem.startswith(parent):
                return parent
        return SAME_DESIGN.get(stem, stem)


def installed_fonts(dirs: dict[str, tuple[str, str]] = FONT_DIRS) -> list[Font]:
    """The .ttf and .otf files of ``dirs`` (folder -> (package, licence)) that are installed."""
    fonts = []
    for directory, (package, licence) in dirs.items():
        for path in sorted(Path(directory).glob("*")):
            if path.suffix in (".ttf", ".otf"):
                fonts.append(Font(path, package, licence))
    return fonts


def render(font: ImageFont.FreeTypeFont, text: str, stroke: int = 0) -> Image.Image:
    """White text on black, cropped to its ink (an empty image if there is none). The canvas
    is sized from the text's own bounding box, so tall scripts are never clipped."""
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text(
        (4 - left, 4 - top), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255
    )
    box = canvas.getbbox()
    return canvas.crop(box) if box else Image.new("L", (1, 1), 0)


def mnist_style(glyph: Image.Image, box: int = 20) -> np.ndarray:
    """MNIST's preprocessing: fit into a ``box`` x ``box`` square keeping the aspect ratio
    (anti-aliased), then place in 28 x 28 with the centre of mass at the centre. uint8
    (28, 28), 0 = background."""
    scale = box / max(glyph.size)
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    small = np.asarray(glyph.resize(size, Image.LANCZOS), dtype=np.float64)
    out = np.zeros((28, 28))
    mass = small.sum()
    if mass == 0:
        return out.astype(np.uint8)
    rows, cols = np.indices(small.shape)
    cy, cx = (rows * small).sum() / mass, (cols * small).sum() / mass
    top = int(np.clip(round(13.5 - cy), 0, 28 - size[1]))
    left = int(np.clip(round(13.5 - cx), 0, 28 - size[0]))
    out[top : top + size[1], left : left + size[0]] = small
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def digit_glyphs(font: Font) -> list[Image.Image] | None:
    """The ten digits at RENDER_PX, or None if the font lacks one (no ink, or the missing box)."""
    try:
        face = ImageFont.truetype(str(font.path), RENDER_PX)
    except OSError:
        return None
    missing = np.asarray(render(face, NOT_A_GLYPH))
    glyphs = [render(face, str(d)) for d in range(10)]
    for g in glyphs:
        ink = np.asarray(g)
        if ink.max() == 0 or (ink.shape == missing.shape and np.array_equal(ink, missing)):
            return None
    return glyphs


@functools.cache
def usable_fonts() -> tuple[list[Font], list[tuple[Font, str]]]:
    """(fonts kept, [(font dropped, why)]) of the installed fonts of FONT_DIRS: symbol
    fonts, fonts without the ten digits, and fonts whose ten MNIST-style digits equal an
    earlier font's pixel for pixel. Scanned once per process (a few seconds: every font's
    digits are rendered); callers must not change the lists."""
    return scan_fonts(installed_fonts())


def digit_signature(glyphs: list[Image.Image]) -> bytes:
    """The ten digits MNIST-style, as bytes: equal for fonts that draw the same digits."""
    return b"".join(mnist_style(g).tobytes() for g in glyphs)


def scan_fonts(
    fonts: list[Font], seen: dict[bytes, str] | None = None
) -> tuple[list[Font], list[tuple[Font, str]]]:
    """:func:`usable_fonts` for any fonts; ``seen`` (signature -> font name) drops the ones
    that draw the digits of fonts already seen, and gains the kept ones."""
    kept, dropped, seen = [], [], {} if seen is None else seen
    for font in fonts:
        if font.name in SYMBOL_FONTS:
            dropped.append((font, SYMBOL_FONTS[font.name]))
            continue
        glyphs = digit_glyphs(font)
        if glyphs is None:
            dropped.append((font, "lacks the digits 0-9"))
            continue
        signature = digit_signature(glyphs)
        if signature in seen:
            dropped.append((font, f"same digits as {seen[signature]}"))
            continue
        seen[signature] = font.name
        kept.append(font)
    return kept, dropped


def split_fonts(fonts: list[Font]) -> dict[str, list[Font]]:
    """Train and test fonts, split by family (a seeded shuffle of the family names), so that
    no test font shares its design with a training font's bold or italic."""
    families = sorted({f.family for f in fonts})
    order = np.random.default_rng(SEED).permutation(len(families))
    test_families = {families[i] for i in order[: max(1, round(TEST_SHARE * len(families)))]}
    return {
        "train": [f for f in fonts if f.family not in test_families],
        "test": [f for f in fonts if f.family in test_families],
    }


def augmented(glyph_font: ImageFont.FreeTypeFont, digit: int, rng: np.random.Generator) -> np.ndarray:
    """One typed digit as printing varies it: stroke weight, rotation +-8 degrees, shear
    +-0.25, size (a 15-20 px box), blur; then MNIST's preprocessing."""
    weight = int(rng.choice([-1, 0, 0, 1, 2]))
    glyph = render(glyph_font, str(digit), stroke=max(weight, 0))
    if weight < 0:
        glyph = glyph.filter(ImageFilter.MinFilter(3))  # a lighter stroke
    angle, shear = math.radians(rng.uniform(-8, 8)), rng.uniform(-0.25, 0.25)
    pad = Image.new("L", (glyph.width * 2 + 8, glyph.height * 2 + 8), 0)
    pad.paste(glyph, ((pad.width - glyph.width) // 2, (pad.height - glyph.height) // 2))
    cx, cy = pad.width / 2, pad.height / 2
    a, b = math.cos(angle), math.sin(angle)
    # output (x, y) -> input: rotate by angle, then shear x by y, about the centre
    m = (a, -b + shear, cx - a * cx - (-b + shear) * cy, b, a, cy - b * cx - a * cy)
    glyph = pad.transform(pad.size, Image.AFFINE, m, resample=Image.BICUBIC)
    glyph = glyph.crop(glyph.getbbox() or (0, 0, 1, 1))
    image = Image.fromarray(mnist_style(glyph, box=int(rng.integers(15, 21))))
    radius = rng.uniform(0, 0.6)
    if radius > 0.15:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(image, dtype=np.uint8)


def per_font_digit(total: int, fonts: list[Font]) -> int:
    """Images per (font, digit) so that a split holds at least ``total``."""
    return math.ceil(total / (10 * max(1, len(fonts))))


def render_split(fonts: list[Font], total: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    """About ``total`` digits, the same number for every (font, digit), in a seeded order."""
    per = per_font_digit(total, fonts)
    images, labels = [], []
    for i, font in enumerate(fonts):
        face = ImageFont.truetype(str(font.path), RENDER_PX)
        for digit in range(10):
            for k in range(per):
                rng = np.random.default_rng([SEED, split == "test", i, digit, k])
                images.append(augmented(face, digit, rng))
                labels.append(digit)
    order = np.random.default_rng([SEED, split == "test"]).permutation(len(images))
    return np.stack(images)[order], np.asarray(labels, dtype=np.uint8)[order]


def typed_files(stream=None, split: str | None = None) -> dict[str, Path]:
    """The four IDX files of the typed-digit set, rendered into the cache the first time it is
    asked for: ``split``'s two (train or test; a sixth of the work for test) or, for None, all."""
    kept, _ = usable_fonts()
    if not kept:
        raise UserError(
            f"no fonts with digits found in {', '.join(FONT_DIRS)}; install them: apt-get install -y {PACKAGES}"
        )
    fonts = [(f.name, f.path.stat().st_size) for f in kept]
    key = hashlib.md5(repr((VERSION, SEED, TRAIN_IMAGES, TEST_IMAGES, fonts)).encode()).hexdigest()
    folder = cache_dir() / f"typed-v{VERSION}-{key[:12]}" / "TYPED" / "raw"
    files = {name: folder / name for name in ALL_FILES}
    wanted = [name for name in ("train", "test") if split in (None, name)]
    missing = [name for name in wanted if not all(files[f].is_file() for f in SPLIT_FILES[name])]
    if not missing:
        return files
    fonts_of = split_fonts(kept)
    print(
        f"digitgan: rendering typed digits from {len(kept)} fonts into {folder} (once, about a minute)",
        file=stream or sys.stdout,
        flush=True,
    )
    folder.mkdir(parents=True, exist_ok=True)
    for name in missing:
        images, labels = render_split(fonts_of[name], TRAIN_IMAGES if name == "train" else TEST_IMAGES, name)
        image_file, label_file = SPLIT_FILES[name]
        atomic_write_bytes(files[label_file], idx_bytes(labels))
        atomic_write_bytes(files[image_file], idx_bytes(images))
    return files


def font_report() -> str:
    """Every font found: kept (with its split) or dropped (with why); licences; counts."""
    kept, dropped = usable_fonts()
    split = split_fonts(kept) if kept else {"train": [], "test": []}
    which = {f.name: s for s, fonts in split.items() for f in fonts}
    lines = [f"{'font':<40} {'package':<20} {'licence':<36} use"]
    for f in kept:
        lines.append(f"{f.name:<40} {f.package:<20} {f.licence:<36} {which[f.name]}")
    for f, why in dropped:
        lines.append(f"{f.name:<40} {f.package:<20} {f.licence:<36} dropped: {why}")
    families = {s: len({f.family for f in fonts}) for s, fonts in split.items()}
    per = {s: per_font_digit(n, split[s]) for s, n in (("train", TRAIN_IMAGES), ("test", TEST_IMAGES))}
    lines.append(
        f"{len(kept) + len(dropped)} fonts found, {len(kept)} kept, {len(dropped)} dropped; "
        f"train: {len(split['train'])} fonts of {families['train']} designs, "
        f"{10 * per['train'] * len(split['train']):,} images; test: {len(split['test'])} fonts of "
        f"{families['test']} designs, {10 * per['test'] * len(split['test']):,} images"
    )
    return "\n".join(lines)
