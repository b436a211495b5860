"""Every flag of every command against a table of hostile values: the answer is exit 0 or a
one-line error with exit 2, never a traceback, and nothing is written.

The flags are read from the real parser, so a new flag is fuzzed without being listed. Each
argv goes through ``digitgan``'s own ``main`` in this process; what would train, serve or
score is replaced by a stub that stops once the command has parsed and checked its input
(``train``'s config is built and validated before the stub). Commands that read a run get a
run folder that does not exist, so that they stop at its check after their own flag checks.
"""

from __future__ import annotations

import argparse

import pytest

from digitgan.cli import main as cli
from digitgan.cli.main import every_parser, main

HOSTILE = [
    "-1",
    "0",
    "1",
    "99999999999999999999",
    "1e3",
    "3.0",
    "nan",
    "inf",
    "-inf",
    "",
    " ",
    "1_000",
    "0x10",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "\uff15",  # FULLWIDTH DIGIT FIVE
    "--",
    "../../etc",
]


class Accepted(Exception):
    """A stub's way of saying: the command got this far, its input was taken."""


def _stop(*args, **kwargs):
    raise Accepted


@pytest.fixture
def stubs(monkeypatch):
    """What would train, serve or train an evaluator stops here instead."""
    import digitgan.evaluation.classifier
    import digitgan.serving.app
    import digitgan.training.loop

    monkeypatch.setattr(digitgan.training.loop, "train", _stop)
    monkeypatch.setattr(digitgan.serving.app, "run_server", _stop)
    monkeypatch.setattr(digitgan.evaluation.classifier, "train_evaluator", _stop)
    monkeypatch.setattr(digitgan.evaluation.classifier, "ensure_evaluator", _stop)


def commands() -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command's parser that takes flags rather than a further command, by the words
    that name it."""
    found = every_parser()
    return {w: p for w, p in found.items() if not any(o[: len(w)] == w and o != w for o in found)}


def base_args(words: tuple[str, ...], tmp_path) -> list[str]:
    """The least argv that each command parses: a run folder that does not exist, and the
    flags it requires."""
    run, out = str(tmp_path / "no-run"), str(tmp_path / "out")
    required = {
        ("sample",): [run],
        ("interpolate",): [run, "--seeds", "1", "2"],
        ("handwrite",): [run, "12"],
        ("translate",): [
            run,
            "--samples",
            str(tmp_path / "in.npz"),
            "--to",
            "handwritten",
            "--out",
            out + ".npz",
        ],
        ("export",): [run, "--onnx", out + ".onnx"],
        ("serve",): [run],
        ("report",): [run],
        ("evaluate",): [run],
        ("dataset",): [run, "--out", out],
        ("train",): ["--data-root", str(tmp_path / "no-data")],
    }
    return [*words, *required.get(words, [])]


EXCLUSIVE = ("--seeds", "--digits")  # interpolate's walks, two values each


def with_flag(argv: list[str], action: argparse.Action, value: str) -> list[str]:
    """``argv`` with ``action`` given ``value`` (as many times as it takes values), in place
    of any value it, or a walk exclusive with it, already had."""
    flag = action.option_strings[-1]
    drop = set(action.option_strings) | (set(EXCLUSIVE) if flag in EXCLUSIVE else set())
    kept, i = [], 0
    while i < len(argv):
        if argv[i] in drop:
            i += 3 if argv[i] in EXCLUSIVE else 2
        else:
            kept.append(argv[i])
            i += 1
    count = action.nargs if isinstance(action.nargs, int) else 1
    return [*kept, flag, *[value] * count]


def valued_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.dest != "help"]


def run_main(argv: list[str], capsys) -> tuple[str, str]:
    """What ``digitgan ARGV`` did: 'ok', 'accepted' (a stub was reached) or 'refused', and
    its stderr; any other exception is a traceback and fails the test."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except Accepted:
        code = "accepted"
    err = capsys.readouterr().err
    return ("ok" if code == 0 else "accepted" if code == "accepted" else code), err


@pytest.mark.parametrize("words", sorted(commands()), ids=" ".join)
def test_every_flag_takes_hostile_values_in_one_line(words, tmp_path, capsys, stubs, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray default output would land here, and is checked for
    parser = commands()[words]
    base = base_args(words, tmp_path)
    problems = []
    for action in valued_flags(parser):
        for value in HOSTILE + [str(tmp_path), str(tmp_path / "a-file")]:
            (tmp_path / "a-file").write_text("not what any flag wants")
            argv = with_flag(base, action, value)
            outcome, err = run_main(argv, capsys)
            lines = err.strip().splitlines()
            if outcome not in ("ok", "accepted", 2):
                problems.append(f"{argv}: exit {outcome}: {err.strip()[-300:]}")
            elif outcome == 2 and (len(lines) != 1 or "error:" not in lines[0]):
                problems.append(f"{argv}: not one error line: {err!r}")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("a-file",))
    assert not problems, "\n".join(problems[:20])
    assert leftovers == [], leftovers  # nothing written: no data folder, run or output


@pytest.mark.parametrize(
    "argv, words",
    [
        (["sample", "{file}"], "is a file, not a run folder"),
        (["report", "{file}"], "is a file, not a run folder"),
        (["train", "--resume", "{file}"], "is a file, not a run folder"),
        (["handwrite", "{file}", "12"], "is a file, not a run folder"),
        (["sample", "{missing}"], "does not exist"),
        (["sample", "{run}", "--out", "{folder}"], "is a folder"),
        (["dataset", "{run}", "--out", "{file}"], "is a file; give a folder"),
        (
            ["train", "--outdir", "{file}", "--data-root", "{data}", "--limit", "100", "--epochs", "1"],
            "{file}",
        ),
    ],
)
def test_a_file_for_a_folder_and_the_reverse(argv, words, tmp_path, data_root, capsys, tiny_run):
    paths = {
        "file": str(tmp_path / "a-file"),
        "missing": str(tmp_path / "missing"),
        "folder": str(tmp_path),
        "run": str(tiny_run),
        "data": str(data_root),
    }
    (tmp_path / "a-file").write_text("x")
    argv = [word.format(**paths) for word in argv]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("digitgan: error: ") and words.format(**paths) in line, line


def test_the_fuzzed_flags_are_every_flag():
    """The table above reaches every command that has flags (a new command is fuzzed too)."""
    flagged = {words for words, parser in commands().items() if valued_flags(parser)}
    assert {("train",), ("sample",), ("serve",), ("evaluator", "train"), ("dataset",)} <= flagged
    assert cli.COMMANDS.keys() >= {words[0] for words in flagged}
