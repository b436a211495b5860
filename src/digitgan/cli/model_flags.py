"""The flags of the commands that use a trained model: a run folder (RUN_DIR) or, with
``--pretrained``, a model that ships with digitgan (runs/shipped.py). cli/main.py builds the
parser from these; cli/commands.py holds what each command calls."""

from __future__ import annotations

from pathlib import Path

from digitgan.cli import argtypes as at
from digitgan.cli.argtypes import HelpFormatter


def add_truncation(parser) -> None:
    parser.add_argument(
        "--truncation",
        metavar="PSI",
        type=at.spread,
        help="draw with the noise's spread times PSI, at most 2 (below 1: truncation; 1 = off; default: the run's)",
    )


def add_force(parser, what: str = "--out") -> None:
    parser.add_argument(
        "--force", action="store_true", help=f"replace {what} if it exists (never a run's weights or records)"
    )


GENERATORS = ("cdcgan", "scdcgan")  # the shipped models that draw from noise (runs/shipped.py)
SHIPPED = (*GENERATORS, "cyclegan")


def add_model(parser, run_help: str, names: tuple[str, ...] = GENERATORS) -> None:
    """RUN_DIR, or --pretrained NAME: a model that ships with digitgan (one of ``names``)."""
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", type=Path, nargs="?", help=f"{run_help}; or --pretrained"
    )
    parser.add_argument(
        "--pretrained",
        choices=names,
        help=f"use a model that ships with digitgan instead of a run folder ({', '.join(names)}; see digitgan pretrained)",
    )


def add_translator(parser, run_help: str) -> None:
    """RUN_DIR, or --pretrained: the cyclegan that ships with digitgan."""
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", type=Path, nargs="?", help=f"{run_help}; or --pretrained"
    )
    parser.add_argument(
        "--pretrained",
        action="store_const",
        const="cyclegan",
        help="use the cyclegan that ships with digitgan instead of a run folder",
    )


def add_sample(sub) -> None:
    s = sub.add_parser(
        "sample",
        help="generate digits from a trained run",
        description="Generate digits with a run's generator: a .png grid or an .npz array.",
        formatter_class=HelpFormatter,
    )
    add_model(s, "a run folder, e.g. runs/00001-seed")
    s.add_argument(
        "--n", type=at.positive_int, default=64, help="number of digits (per row with --per-digit)"
    )
    which = s.add_mutually_exclusive_group()
    which.add_argument("--digit", type=at.digit, help="draw only this digit (conditional runs)")
    which.add_argument("--per-digit", action="store_true", help="one row per digit 0-9 (conditional runs)")
    s.add_argument("--raw", action="store_true", help="use the raw generator, not its EMA weights")
    add_truncation(s)
    s.add_argument("--seed", type=at.seed, default=0, help="noise seed: same seed, same bytes")
    s.add_argument("--out", type=Path, default=Path("samples.png"), help="output file, .png or .npz")
    add_force(s)
    s.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu", help="where to run G")


def add_interpolate(sub) -> None:
    it = sub.add_parser(
        "interpolate",
        help="a latent walk between two noise seeds, or two digits",
        description="Walk G's input between the noise of two seeds (spherical interpolation) or, for "
        "conditional runs, between two digits with the noise held fixed. Writes a PNG strip and a GIF.",
        formatter_class=HelpFormatter,
    )
    add_model(it, "a run folder")
    walk = it.add_mutually_exclusive_group(required=True)
    walk.add_argument(
        "--seeds", type=at.seed, nargs=2, metavar=("A", "B"), help="walk between these noise seeds"
    )
    walk.add_argument(
        "--digits", type=at.digit, nargs=2, metavar=("A", "B"), help="walk between digits (conditional)"
    )
    it.add_argument("--steps", type=at.number(int, lambda v: 2 <= v <= 100, "must be 2-100"), default=10)
    it.add_argument("--seed", type=at.seed, default=0, help="the fixed noise for --digits")
    it.add_argument(
        "--digit", type=at.digit, default=0, help="the fixed digit for --seeds on a conditional run"
    )
    it.add_argument(
        "--out",
        type=Path,
        help="PNG path; the GIF goes beside it (default: in RUN_DIR, rewritten each time; here for --pretrained)",
    )
    add_force(it, "--out and its GIF")


def add_handwrite(sub) -> None:
    hw = sub.add_parser(
        "handwrite",
        help="write a number by hand with a cyclegan run",
        description="Print TEXT (digits and spaces) in a font, translate each digit into handwriting with a "
        "cyclegan run, and write the line as one PNG.",
        formatter_class=HelpFormatter,
    )
    add_translator(hw, "a cyclegan run folder")
    hw.add_argument("text", metavar="TEXT", help='digits and spaces, e.g. "2026"')
    hw.add_argument("--out", type=Path, default=Path("handwritten.png"), help="the PNG to write")
    hw.add_argument("--font", help="a font from 'digitgan fonts' (default: a held-out design)")
    hw.add_argument(
        "--seed", type=at.seed, default=0, help="varies the printed digits' slant, size and stroke"
    )
    hw.add_argument("--compare", action="store_true", help="the typed line above the handwritten one")
    add_force(hw)


def add_translate(sub) -> None:
    tr = sub.add_parser(
        "translate",
        help="translate an .npz of digits with a cyclegan run",
        description="Translate the digits of an .npz ('images': uint8 N x 28 x 28, optional 'labels', "
        "kept) into handwriting or type with a cyclegan run.",
        formatter_class=HelpFormatter,
    )
    add_translator(tr, "a cyclegan run folder")
    tr.add_argument("--samples", type=Path, required=True, help="the .npz to translate (up to 10,000 digits)")
    tr.add_argument("--to", choices=("handwritten", "typed"), required=True, help="the target domain")
    tr.add_argument("--out", type=Path, required=True, help="the .npz to write (never the --samples file)")
    add_force(tr)


def add_export(sub) -> None:
    ex = sub.add_parser(
        "export",
        help="write a run's generator as ONNX, checked in onnxruntime",
        description="Export the generator digitgan samples with (EMA weights when kept) to ONNX with a "
        "dynamic batch axis: z (B, latent) [+ labels (B,) int64 for conditional runs] -> images "
        "(B, 1, 28, 28) in [-1, 1]; for a cyclegan run, source digits (B, 1, 28, 28) -> images translated (--to). The file "
        "is run in onnxruntime and compared with PyTorch before it is kept.",
        formatter_class=HelpFormatter,
    )
    add_model(ex, "a run folder", SHIPPED)
    ex.add_argument("--onnx", type=Path, required=True, help="the file to write, ending in .onnx")
    ex.add_argument(
        "--to",
        choices=("handwritten", "typed"),
        default="handwritten",
        help="cyclegan runs: which translator (default: handwritten)",
    )
    ex.add_argument("--seed", type=at.seed, default=0, help="seed of the inputs the check compares on")
    add_force(ex, "--onnx")


def add_dataset(sub) -> None:
    ds = sub.add_parser(
        "dataset",
        help="write a conditional run's digits as a labelled data set in MNIST's own format",
        description="Write OUT/MNIST/raw/ with the four IDX files of MNIST (train and t10k images and "
        "labels), drawn by a conditional run with balanced digits, so that torchvision's MNIST class "
        "and --data-root OUT read it unchanged; OUT/README.txt says what made it.",
        formatter_class=HelpFormatter,
    )
    add_model(ds, "a conditional run folder (cgan, cdcgan)", ("cdcgan",))
    ds.add_argument("--out", type=Path, required=True, help="the folder to write (empty or new)")
    ds.add_argument("--n", type=at.positive_int, default=60_000, help="training digits (at most 1,000,000)")
    ds.add_argument("--test-n", type=at.positive_int, default=10_000, help="test digits (at most 100,000)")
    ds.add_argument(
        "--seed", type=at.seed, default=0, help="noise seed of the training digits (test: seed + 1)"
    )
    ds.add_argument("--force", action="store_true", help="write into a folder that is not empty")
