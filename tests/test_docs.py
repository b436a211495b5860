"""The front door holds: README.md stays short, every `digitgan ...` command in the READMEs and
the quick starts parses with the real command line, and the Chinese tables quote the English
figures, so that neither translation nor quick start can drift from the code."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from digitgan.cli.main import build_parser

REPO = Path(__file__).resolve().parents[1]
QUICK_STARTS = [
    "README.md",
    "README.zh-CN.md",
    "docs/index.md",
    "docs/getting-started.md",
    "docs/zh/index.md",
    "docs/zh/getting-started.md",
]


def commands(path: Path) -> list[str]:
    """The digitgan command lines of a page's bash blocks (a trailing # comment dropped)."""
    found, inside = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```bash"
            continue
        for part in line.split("&&") if inside else []:
            words = shlex.split(part, comments=True)
            if words and words[0].removeprefix(".venv/bin/") == "digitgan":
                found.append(shlex.join(words[1:]))
    return found


@pytest.mark.parametrize("page", QUICK_STARTS)
def test_every_command_of_the_quick_starts_parses(page):
    lines = commands(REPO / page)
    assert lines, f"{page} shows no digitgan command"
    for line in lines:
        try:
            build_parser().parse_args(shlex.split(line))
        except SystemExit as exc:
            pytest.fail(f"{page}: 'digitgan {line}' does not parse (exit {exc.code})")


def test_the_comparison_catches_a_wrong_flag(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\n.venv/bin/digitgan sample --pretrained cdcgan --digits 7  # typo\n```\n")
    (line,) = commands(page)
    with pytest.raises(SystemExit):
        build_parser().parse_args(shlex.split(line))


def test_the_readme_is_read_in_five_minutes():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


METRIC_WORDS = r"FID|precision|recall|requested|digit|typed|handwritten|read|as|its|not|in|->"


def is_figure(cell: str) -> bool:
    """A cell of figures ("6.4, 9.88", "not in 10", "FID 4.63, recall 0.781"), not prose."""
    rest = re.sub(METRIC_WORDS, "", cell)
    return bool(re.search(r"\d", cell)) and re.fullmatch(r"[-0-9.,%<=x ]*", rest) is not None


def table_rows(path: Path) -> dict[str, list[tuple[str, ...]]]:
    """The figures of each table row whose first cell is a `name` (a name may head a row in
    more than one table)."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        figures = tuple(c for c in cells[1:] if is_figure(c))
        if line.startswith("| `") and figures:
            rows.setdefault(cells[0], []).append(figures)
    return rows


@pytest.mark.parametrize("chinese", ["README.zh-CN.md", "docs/zh/presets.md"])
def test_the_chinese_tables_quote_the_english_figures(chinese):
    english, ours = table_rows(REPO / "README.md"), table_rows(REPO / chinese)
    assert len(ours) >= 6, ours  # every preset with figures (the README's shipped models too)
    for name, figures in ours.items():
        for row in figures:
            assert row in english.get(name, []), (name, row)


@pytest.mark.parametrize("page", ["README.md", "README.zh-CN.md"])
def test_the_readmes_pictures_exist_with_their_command_under_them(page):
    text = (REPO / page).read_text()
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)\n\n\*([^*]+)\*", text)
    assert pictures and len(pictures) == text.count("![")  # each one captioned
    for path, caption in pictures:
        assert (REPO / path).is_file(), path
        assert f"--out {path}" in caption  # the command that makes it, writing that very file
