"""MkDocs hook: the command-line reference (docs/cli.md) is the real parser's help, written
into the page at build time, so that it cannot drift from the code."""

from __future__ import annotations

import os

MARKER = "<!-- digitgan help -->"


def _helps() -> list[tuple[str, str]]:
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; the page has one width
    from digitgan.cli.main import every_parser

    return [(" ".join(("digitgan", *words)), p.format_help()) for words, p in every_parser().items()]


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    text = "\n\n".join(f"## {name}\n\n```text\n{help_.rstrip()}\n```" for name, help_ in _helps())
    return markdown.replace(MARKER, text)
