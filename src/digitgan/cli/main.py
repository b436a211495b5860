"""The ``digitgan`` command: flags -> config -> one library call.

    digitgan train --preset seed --data-root ../shared/data
    digitgan sample runs/00001-seed --n 100 --seed 0 --out digits.png

Bad input ends with one line ``digitgan: error: ...`` and exit status 2, before anything is
written. This file holds the flags of each command (cli/train_flags.py those of train,
cli/model_flags.py those of the commands that use a trained model); cli/commands.py what each
one calls.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from digitgan.basics.errors import UserError
from digitgan.cli import argtypes as at
from digitgan.cli.argtypes import HelpFormatter, Parser
from digitgan.cli.commands import COMMANDS, resolve_model
from digitgan.cli.model_flags import (
    SHIPPED,
    add_dataset,
    add_export,
    add_force,
    add_handwrite,
    add_interpolate,
    add_sample,
    add_translate,
    add_truncation,
)
from digitgan.cli.train_flags import add_train
from digitgan.data.datasets import DATASETS
from digitgan.serving import limits as bounds


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="digitgan", description="Train GANs that draw handwritten digits.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    add_train(sub)
    add_sample(sub)
    add_interpolate(sub)
    add_handwrite(sub)
    add_translate(sub)
    add_export(sub)
    add_serve(sub)
    add_fonts(sub)
    add_report(sub)
    add_evaluator(sub)
    add_evaluate(sub)
    add_dataset(sub)
    add_pretrained(sub)
    return parser


def every_parser() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Each parser of the command line by the words that name it, ``()`` for ``digitgan``
    itself, then each command (and its actions) in order: what the docs' CLI reference
    prints and what the tests walk."""
    found = {}

    def walk(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> None:
        found[words] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*words, name))

    walk(build_parser(), ())
    return found


def add_serve(sub) -> None:
    sv = sub.add_parser(
        "serve",
        help="a web page and HTTP API that draw digits from trained runs",
        description="Serve a page (/) and an HTTP API (/api/..., docs at /docs) that draw digits from the "
        "given run folders, loaded once at start. Listens on 127.0.0.1 unless --host says otherwise.",
        formatter_class=HelpFormatter,
    )
    sv.add_argument(
        "run_dirs",
        metavar="RUN_DIR",
        type=Path,
        nargs="*",
        help=f"run folders to serve (none: the models that ship with digitgan, {', '.join(SHIPPED)})",
    )
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    sv.add_argument(
        "--port",
        type=at.number(int, lambda v: 0 <= v <= 65535, "must be 0-65535"),
        default=8000,
        help="0: any free port",
    )
    sv.add_argument(
        "--limit-concurrency",
        type=at.number(int, lambda v: 1 <= v <= 1024, "must be 1-1024"),
        default=bounds.DEFAULT_IN_FLIGHT,
        help="requests in flight at once (idle connections do not count); more are answered 503 at once",
    )
    sv.add_argument(
        "--max-connections",
        type=at.number(int, lambda v: 1 <= v <= 4096, "must be 1-4096"),
        default=bounds.DEFAULT_CONNECTIONS,
        help="open connections; one more closes the oldest idle one, and every connection must send "
        f"a whole request head within {bounds.HEAD_TIMEOUT:g} s",
    )
    sv.add_argument(
        "--threads", type=at.positive_int, help="torch threads (default: the cores this process may use)"
    )


def add_fonts(sub) -> None:
    sub.add_parser(
        "fonts",
        help="the fonts of the typed-digit data set (--dataset typed): licences, split, counts",
        description="List every font found for --dataset typed: its Debian package and licence, and whether "
        "it is used for training or testing (split by typeface design) or dropped, and why.",
    )


def add_report(sub) -> None:
    rp = sub.add_parser(
        "report",
        help="write RUN_DIR/report.html: one self-contained page with metrics and pictures",
        description="Write a self-contained report.html (images embedded) for a run folder.",
    )
    rp.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run folder")


def add_evaluator(sub) -> None:
    ev = sub.add_parser(
        "evaluator",
        help="the MNIST classifier that metrics are measured with",
        description="Manage the evaluator: a small CNN trained on MNIST whose features and "
        "predictions every metric uses.",
    )
    ev_sub = ev.add_subparsers(dest="evaluator_command", required=True, metavar="ACTION", parser_class=Parser)
    et = ev_sub.add_parser(
        "train",
        help="train the evaluator (>= 99.2%% test accuracy, a few minutes on a CPU)",
        description="Train the evaluator on MNIST's train split and save it with its test accuracy.",
        formatter_class=HelpFormatter,
    )
    et.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $DIGITGAN_DATA, else ./data)")
    et.add_argument(
        "--evaluator", type=Path, help="where to save it (default: $DIGITGAN_CACHE or ~/.cache/digitgan)"
    )
    et.add_argument("--epochs", type=at.positive_int, default=4, help="passes over the 60,000 digits")
    et.add_argument("--seed", type=at.seed, default=0, help="same seed, same weights")
    et.add_argument("--dataset", choices=sorted(DATASETS), default="mnist", help="what it learns to classify")
    et.add_argument(
        "--limit", type=at.positive_int, help="train on the first N digits only (for quick checks)"
    )
    et.add_argument("--force", action="store_true", help="replace an existing evaluator file")


def add_evaluate(sub) -> None:
    e = sub.add_parser(
        "evaluate",
        help="score a run's digits (or an .npz of digits) beside the real-data floor",
        description="Score digits with the evaluator: FID, KID, IS, precision/recall, digit balance and "
        "confidence, next to the same metrics for real MNIST digits (the floor).",
        formatter_class=HelpFormatter,
    )
    target = e.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "run_dir", metavar="RUN_DIR", type=Path, nargs="?", help="a run folder to sample from"
    )
    target.add_argument(
        "--samples", type=Path, help="an .npz with 'images' (uint8 N x 28 x 28), optional 'labels'"
    )
    target.add_argument(
        "--pretrained", choices=SHIPPED, help="a model that ships with digitgan (see digitgan pretrained)"
    )
    e.add_argument(
        "--n", type=at.positive_int, default=10_000, help="number of generated digits (100-10,000)"
    )
    e.add_argument("--seed", type=at.seed, default=0, help="noise seed for the generated digits")
    add_truncation(e)
    e.add_argument(
        "--dataset",
        choices=sorted(DATASETS),
        help="what --samples shows, measured by that dataset's evaluator (default: mnist; a run's own)",
    )
    e.add_argument("--evaluator", type=Path, help="evaluator file (default: the cache; trained if missing)")
    e.add_argument(
        "--data-root", help="MNIST for the reference (default: the run's, else $DIGITGAN_DATA, else ./data)"
    )
    e.add_argument(
        "--out",
        type=Path,
        help="metrics JSON (default: RUN_DIR/metrics.json, rewritten each time; none for --samples and --pretrained)",
    )
    add_force(e)
    e.add_argument(
        "--cas",
        action="store_true",
        help="also the Classification Accuracy Score: a classifier trained on these digits alone, "
        "tested on MNIST's test digits, beside one trained on as many real digits",
    )
    e.add_argument(
        "--cas-n",
        type=at.cas_n,
        help="digits the --cas classifier learns from, drawn from the run with --seed (100-60,000; "
        "default: the --n scored digits; 60000 = as many as MNIST's training set, the paper's protocol)",
    )


def add_pretrained(sub) -> None:
    sub.add_parser(
        "pretrained",
        help="the models that ship with digitgan, with their cards' figures",
        description="List the trained models in the package (use them with --pretrained NAME, or "
        "digitgan.load(NAME) in Python): what each does, its evaluator figures beside the real-data "
        "floor, and where its model card is.",
    )


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("digitgan")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    from digitgan.runs.run_folder import Diverged, Interrupted

    args = build_parser().parse_args(argv)
    try:
        resolve_model(args)
        COMMANDS[args.command](args)
    except UserError as exc:
        print(f"digitgan: error: {exc}", file=sys.stderr)
        return 2
    except Diverged as exc:
        print(f"digitgan: error: {exc}", file=sys.stderr)
        return 3
    except Interrupted as exc:
        print(f"digitgan: {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("digitgan: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
