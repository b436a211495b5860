"""MkDocs hook: the command-line reference (docs/cli.md) is the real parser's help, written
into the page at build time, so that it cannot drift from the code."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- digitgan help -->"


def _helps() -> list[tuple[str, str]]:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page has one width
    from digitgan.cli.main import build_parser

    parser = build_parser()
    pages = [("digitgan", parser.format_help())]
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for action in actions:
        for name, sub in action.choices.items():
            pages.append((f"digitgan {name}", sub.format_help()))
            for inner in (a for a in sub._actions if isinstance(a, argparse._SubParsersAction)):
                pages += [(f"digitgan {name} {n}", s.format_help()) for n, s in inner.choices.items()]
    return pages


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    text = "\n\n".join(f"## {name}\n\n```text\n{help_.rstrip()}\n```" for name, help_ in _helps())
    return markdown.replace(MARKER, text)
