"""The faults a hostile tester found (issue 40), each rerun as written: no command writes
over its inputs or a run's files, an interrupted or failed command leaves nothing behind,
and every message tells the truth about what exists and what to run."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from procs import env, run_cli

from digitgan.cli.main import build_parser, main


def quick_train(data_root, outdir, epochs: int = 1) -> list[str]:
    """``digitgan train``'s argv for a run of 5-step epochs."""
    return [
        "train",
        "--epochs",
        str(epochs),
        "--limit",
        "500",
        "--data-root",
        str(data_root),
        "--outdir",
        str(outdir),
    ]


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def one_error_line(capsys) -> str:
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("digitgan: error: "), line
    return line


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    """A private copy of a finished seed run, free to be attacked."""
    return shutil.copytree(tiny_run, tmp_path / "run")


def everything_in(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): md5(p) for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. no command writes over its own inputs or a run's files ------------------------------


@pytest.mark.parametrize(
    "target, words",
    [
        ("checkpoints/G.safetensors", "--onnx must end in .onnx"),
        ("config.json", "--onnx must end in .onnx"),
        ("checkpoints/G.onnx", "checkpoints/, which holds its weights and state"),
    ],
)
def test_export_never_writes_over_a_runs_files(target, words, run_copy, capsys):
    before = everything_in(run_copy)
    assert main(["export", str(run_copy), "--onnx", str(run_copy / target)]) == 2
    assert words in one_error_line(capsys)
    assert everything_in(run_copy) == before


@pytest.mark.parametrize(
    "argv, out",
    [
        (["sample", "{run}", "--out", "{out}"], "digits.png"),
        (["sample", "{run}", "--out", "{out}"], "digits.npz"),
        (["interpolate", "{run}", "--seeds", "1", "2", "--out", "{out}"], "walk.png"),
        (["interpolate", "{run}", "--seeds", "1", "2", "--out", "{out}"], "walk.gif"),  # the GIF beside it
        (["export", "{run}", "--onnx", "{out}"], "g.onnx"),
    ],
)
def test_an_existing_output_is_replaced_only_with_force(argv, out, tiny_run, tmp_path, capsys):
    existing = tmp_path / out
    existing.write_bytes(b"the user's own file")
    png = str(existing.with_suffix(".png") if out.endswith(".gif") else existing)
    argv = [word.format(run=tiny_run, out=png) for word in argv]
    assert main(argv) == 2
    assert f"{existing} exists; pass --force to replace it" in one_error_line(capsys)
    assert existing.read_bytes() == b"the user's own file"
    assert main([*argv, "--force"]) == 0
    assert existing.read_bytes() != b"the user's own file"


def test_translate_never_writes_over_its_input(tmp_path, capsys):
    samples = tmp_path / "digits.npz"
    np.savez(samples, images=np.zeros((3, 28, 28), np.uint8))
    before = md5(samples)
    (tmp_path / "cyclegan-run").mkdir()  # a run folder: the check of --out comes before its weights
    argv = ["translate", str(tmp_path / "cyclegan-run"), "--samples", str(samples), "--to", "typed"]
    assert main([*argv, "--out", str(samples), "--force"]) == 2
    assert "is this command's input (--samples)" in one_error_line(capsys)
    assert md5(samples) == before


def test_evaluate_never_writes_over_a_runs_records(run_copy, tmp_path, capsys):
    for target in ("config.json", "checkpoints/config.json"):
        argv = ["evaluate", str(run_copy), "--n", "100", "--out", str(run_copy / target), "--force"]
        assert main(argv) == 2
        assert "write somewhere else" in one_error_line(capsys)
    assert json.loads((run_copy / "config.json").read_text())["preset"] == "seed"


# --- 3. messages that tell the truth ---------------------------------------------------------


def test_a_divergence_before_the_first_checkpoint_says_nothing_was_saved(tmp_path, data_root):
    proc = run_cli(*quick_train(data_root, tmp_path), "--lr", "1e12")
    assert proc.returncode == 3
    (line,) = proc.stderr.strip().splitlines()  # on stderr, one line
    assert line.startswith("digitgan: error: training diverged at epoch 1, step 1")
    assert "nothing was saved" in line and "start a new run with a lower --lr" in line
    assert "checkpoint is kept" not in proc.stdout + proc.stderr
    assert not (tmp_path / "00001-seed" / "checkpoints" / "G.safetensors").exists()


def test_a_double_interrupt_before_the_first_checkpoint_does_not_suggest_resume(
    tmp_path, data_root, monkeypatch, capsys
):
    from digitgan.training.gan_family import GanFamily

    original = GanFamily.step

    def step(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if self.d_steps == 2:
            os.kill(os.getpid(), signal.SIGINT)  # asks for a clean stop after this step
            os.kill(os.getpid(), signal.SIGINT)  # the second: stop at once
        return out

    monkeypatch.setattr(GanFamily, "step", step)
    argv = quick_train(data_root, tmp_path, epochs=2)
    assert main(argv) == 130
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "second SIGINT: stopped at once" in line and "nothing had been saved yet" in line
    assert "--resume" not in line


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda cfg: cfg.pop("hidden_dim"), "the setting 'hidden_dim' is missing"),
        (lambda cfg: cfg.update(hiden_dim=3), "unknown setting 'hiden_dim' (did you mean 'hidden_dim'?)"),
        (lambda cfg: cfg.update(lr=-1), "--lr must be a finite number > 0, got -1"),
    ],
)
def test_a_bad_config_names_the_file_and_the_setting(change, words, run_copy, capsys):
    path = run_copy / "checkpoints" / "config.json"
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg))
    assert main(["sample", str(run_copy), "--out", str(run_copy / "x.png")]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and words in line, line


def test_a_permission_error_says_permission(tiny_run, tmp_path, monkeypatch, capsys):
    """(Root may write anywhere, so the refusal is the system call's own error, raised.)"""
    import tempfile

    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    assert main(["sample", str(tiny_run), "--out", str(tmp_path / "x.png")]) == 2
    line = one_error_line(capsys)
    assert "(Permission denied); choose a folder you may write to" in line and "space" not in line


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["sample", "{run}", "--per-digit", "--n", "1001"],
            "--n must be between 1 and 1,000 with --per-digit",
        ),
        (["sample", "{run}", "--per-digit", "--n", "1001"], "got 1001"),
        (["evaluate", "--samples", "{empty}"], "holds 0 digits; give between 100 and 10,000"),
        (["train", "--mode-seeking", "inf"], "--mode-seeking: must be a finite number >= 0, got inf"),
    ],
)
def test_the_value_echoed_is_the_one_typed(argv, words, tiny_run, tmp_path, capsys):
    empty = tmp_path / "empty.npz"
    np.savez(empty, images=np.zeros((0, 28, 28), np.uint8))
    argv = [word.format(run=tiny_run, empty=empty) for word in argv]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    line = capsys.readouterr().err.strip()
    assert words in line and "--n ... got 0" not in line and "10010" not in line, line


def test_no_number_flag_takes_infinity_or_nan():
    """Every flag that parses a number refuses inf and nan (argparse types from argtypes)."""
    number_flags = []
    for sub in build_parser()._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            if getattr(action.type, "__qualname__", "").startswith("number."):
                number_flags.append(action)
                for text in ("inf", "-inf", "nan", "1e999"):
                    with pytest.raises(Exception, match="must|expected"):
                        action.type(text)
    assert len(number_flags) > 30


# --- 4. interrupted or failed commands leave nothing behind -----------------------------------

# The real CLI in a fresh process, sent SIGINT (Ctrl-C) at the AT-th file write of `dataset`.
SIGINT_AT_WRITE = """
import os, sys
import digitgan.generation.synthetic as synthetic
from digitgan.cli.main import main
at = int(sys.argv[1])
written = []
original = synthetic.atomic_write_bytes
def write(path, data):
    original(path, data)
    written.append(path)
    if len(written) == at:
        os.kill(os.getpid(), 2)
synthetic.atomic_write_bytes = write
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    "at, exists",
    [(1, False), (3, True), (6, False)],  # after the first file, half-way, after README.txt
    ids=["first file, new folder", "half-way, empty folder", "last file, new folder"],
)
def test_dataset_interrupted_leaves_its_folder_as_it_was(at, exists, preset_runs, tmp_path):
    out = tmp_path / "synthetic"
    if exists:
        out.mkdir()
    argv = ["dataset", str(preset_runs["cgan"]), "--out", str(out), "--n", "100", "--test-n", "50"]
    command = [sys.executable, "-c", SIGINT_AT_WRITE, str(at), *argv]
    stopped = subprocess.run(command, capture_output=True, text=True, env=env(), timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["synthetic"] if exists else [])
    assert not exists or not any(out.iterdir())
    if at == 6:
        rerun = run_cli(*argv)  # the same command again, without --force
        assert rerun.returncode == 0, rerun.stderr
        assert len(list((out / "MNIST" / "raw").iterdir())) == 5


def test_a_failed_train_creates_no_data_folder(tmp_path, capsys):
    argv = ["train", "--data-root", str(tmp_path / "data"), "--outdir", str(tmp_path / "runs")]
    assert main(argv) == 2
    assert "files not found" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# --- 5. --limit bounds everything a run trains ------------------------------------------------


def test_limit_bounds_the_cyclegan_guide(tmp_path, monkeypatch):
    import io

    import torch

    from digitgan.cyclegan import guide
    from digitgan.data.digits import Digits

    monkeypatch.setenv("DIGITGAN_CACHE", str(tmp_path))
    images = torch.randint(0, 255, (3000, 28, 28), dtype=torch.uint8)
    train = Digits(images, torch.arange(3000) % 10, "typed", "train", "0" * 32)
    test = Digits(images[:20], torch.arange(20) % 10, "typed", "test", "1" * 32)
    learned = []
    original = guide.train_guide
    monkeypatch.setattr(
        guide, "train_guide", lambda out, t, *a, **k: learned.append(len(t)) or original(out, t, *a, **k)
    )
    guide.ensure_guide(train, test, io.StringIO(), limit=100)
    guide.ensure_guide(train, test, io.StringIO(), limit=100)  # cached: not trained again
    assert learned == [100]
    assert guide.guide_path(guide.first_digits(train, 100)) != guide.guide_path(train)


# --- 6. terminal output for people -------------------------------------------------------------


def test_train_prints_a_summary_and_what_to_run_next(tmp_path, data_root, capsys, monkeypatch):
    argv = quick_train(data_root, tmp_path)
    assert main([*argv, "--no-progress"]) == 0
    run = tmp_path / "00001-seed"
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) < 250  # no 1,500-character config line
    assert (
        f"digitgan: preset seed with --epochs 1 --limit 500 (every setting: {run / 'config.json'})" in lines
    )
    assert any(
        line.startswith("digitgan: 1 epoch of 5 steps (batch 100) on 500 of the 60,000") for line in lines
    )
    assert any(line.startswith("digitgan: done: 1 epoch, 5 steps;") for line in lines)
    next_commands = [
        line.removeprefix("digitgan: next: ") for line in lines if line.startswith("digitgan: next: ")
    ]
    assert next_commands == [
        f"digitgan sample {run} --n 64 --out samples.png",
        f"digitgan evaluate {run}",
        f"digitgan report {run}",
    ]
    for command in next_commands:  # each is a real command line
        build_parser().parse_args(command.split()[1:])
    monkeypatch.chdir(tmp_path)
    assert main(next_commands[0].split()[1:]) == 0 and (tmp_path / "samples.png").is_file()
