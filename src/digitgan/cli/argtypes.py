"""argparse's building blocks for the ``digitgan`` command: a parser whose errors are one
line with exit status 2, help that shows defaults, and number types that check their range."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from digitgan.config.train_config import MAX_SEED


class Parser(argparse.ArgumentParser):
    """argparse, with its two-line usage+error replaced by one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default where it has one of its own (not None, not an on/off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


# What a number may look like on the command line: ASCII digits, as the HTTP API takes them.
PLAIN = {
    int: re.compile(r"[+-]?[0-9]+"),
    float: re.compile(
        r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|infinity|nan)", re.IGNORECASE
    ),
}


def number(kind: type, ok: Callable[[float], bool] = lambda v: True, rule: str = "", noun: str = ""):
    """An argparse type: parse ``kind`` (int or float), then require ``ok(value)``, else say
    ``rule``. NaN fails every comparison, so it never passes a range check."""
    noun = noun or ("a whole number" if kind is int else "a number")

    def parse(text: str):
        try:
            if not PLAIN[kind].fullmatch(text):
                raise ValueError(text)  # 3.0 for a whole number, 1_000, other scripts' digits
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


seed = number(int, lambda v: 0 <= v <= MAX_SEED, f"must be between 0 and {MAX_SEED} (2**31 - 1)")
positive_int = number(int, lambda v: v >= 1, "must be >= 1")
nonneg_int = number(int, lambda v: v >= 0, "must be >= 0")
digit = number(int, lambda v: 0 <= v <= 9, "must be a digit 0-9", noun="a digit 0-9")
spread = number(float, lambda v: 0 < v <= 2, "must lie in (0, 2]")
cas_n = number(int, lambda v: 100 <= v <= 60_000, "must be between 100 and 60,000 (MNIST's training set)")
