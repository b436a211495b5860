"""Bad input and failed writes end in one line naming the file or value and the fix, exit
status 2, and nothing already on disk is lost: a full disk (a real EFBIG from a lowered
file-size limit), a damaged config or metrics file, requests too large to allocate."""

from __future__ import annotations

import io
import json
import signal
import zipfile

import numpy as np
import pytest
from procs import run_cli, run_with_signal_at

from digitgan.cli.main import main

TRAIN = ["train", "--epochs", "3", "--limit", "500", "--log-every", "1"]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("digitgan: error: ")
    return lines[0]


def test_no_room_for_the_first_state(tmp_path, data_root):
    """The state (6.6 MB for the tutorial's GAN) cannot be written under a 1 MB file-size
    limit: one line naming the file and the fix, exit 2, no temporary file left behind."""
    outdir = tmp_path / "runs"
    proc = run_cli(*TRAIN, "--data-root", str(data_root), "--outdir", str(outdir), file_size_limit=1_000_000)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    state = outdir / "00001-seed" / "checkpoints" / "state.safetensors"
    assert f"cannot write {state} (File too large)" in line and "ulimit -f" in line
    assert "no state had been saved yet" in line
    assert not state.exists()
    assert not list(outdir.rglob(".*.tmp"))
    assert "digitgan: error: cannot write" in (outdir / "00001-seed" / "log.txt").read_text()


def test_a_failed_save_keeps_and_names_the_last_good_state(tmp_path, data_root):
    """A run stopped by SIGTERM at step 7 saved its state; resumed where files may not grow
    past 1 MB, the next save fails: exit 2, one line naming the kept state, which is intact."""
    outdir = tmp_path / "runs"
    first = run_with_signal_at(
        7, signal.SIGTERM, *TRAIN, "--data-root", str(data_root), "--outdir", str(outdir)
    )
    assert first.returncode == 128 + signal.SIGTERM, first.stderr
    run = outdir / "00001-seed"
    state = run / "checkpoints" / "state.safetensors"
    saved = state.read_bytes()
    proc = run_cli("train", "--resume", str(run), file_size_limit=1_000_000)
    assert proc.returncode == 2, proc.stderr
    line = one_line(proc.stderr)
    assert f"cannot write {state} (File too large)" in line
    assert f"the last good state is kept in {state}" in line and f"--resume {run}" in line
    assert state.read_bytes() == saved
    assert not list(run.rglob(".*.tmp"))


def _write_config(run, **changes) -> None:
    path = run / "config.json"
    cfg = json.loads(path.read_text())
    path.write_text(json.dumps({**cfg, **changes}))


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"batch_size": 100.5}, "batch_size must be int"),
        ({"lr": "fast"}, "lr must be float"),
        ({"conditional": 1}, "conditional must be bool"),
        ({"seed": 2**40}, "--seed must be between"),
    ],
)
def test_config_of_the_wrong_type_is_refused(changes, words, tiny_run, tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("config.json", "checkpoints/config.json", "checkpoints/G.safetensors"):
        (run / name).write_bytes((tiny_run / name).read_bytes())
    _write_config(run, **changes)
    _write_config(run / "checkpoints", **changes)
    assert main(["sample", str(run), "--out", str(tmp_path / "s.png")]) == 2
    assert words in one_line(capsys.readouterr().err)
    assert not (tmp_path / "s.png").exists()


def test_damaged_metrics_json_stops_report_with_one_line(tiny_run, capsys):
    metrics = tiny_run / "metrics.json"
    before = metrics.read_bytes() if metrics.exists() else None
    try:
        for damage in ('{"metrics": {"fid": "high"', '{"metrics": {"fid": "high"}}', "[]"):
            metrics.write_text(damage)
            assert main(["report", str(tiny_run)]) == 2
            line = one_line(capsys.readouterr().err)
            assert str(metrics) in line and "digitgan evaluate" in line
    finally:
        metrics.unlink()
        if before is not None:
            metrics.write_bytes(before)


def test_half_written_stats_line_is_skipped_by_curves(tiny_run, capsys):
    from digitgan.runs.pictures import curves

    stats = tiny_run / "stats.jsonl"
    good = stats.read_bytes()
    try:
        stats.write_bytes(good + b'{"epoch": 0, "step": 6, "d_lo')
        assert curves(tiny_run) is not None
        assert main(["report", str(tiny_run)]) == 0
    finally:
        stats.write_bytes(good)


def test_sample_n_is_bounded_before_allocating(tiny_run, tmp_path, capsys):
    assert main(["sample", str(tiny_run), "--n", "1000000", "--out", str(tmp_path / "s.npz")]) == 2
    assert "--n must be between 1 and 100,000" in one_line(capsys.readouterr().err)


def _zip_member(path, name: str, header_shape: tuple, payload: bytes) -> None:
    """An .npz member whose .npy header declares ``header_shape`` (uint8), with ``payload``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|u1", "fortran_order": False, "shape": header_shape}
    )
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, buffer.getvalue() + payload)


@pytest.mark.parametrize(
    "shape, payload, words",
    [
        (
            (200_000, 28, 28),
            bytes(200_000 * 784),
            "more than 10,000 digits need",
        ),  # a zip bomb: 157 MB in 150 kB
        ((10**9, 28, 28), bytes(784), "more than 10,000 digits"),  # a header that promises 784 GB
    ],
)
def test_npz_sizes_are_checked_before_decompressing(shape, payload, words, tmp_path, capsys):
    path = tmp_path / "bomb.npz"
    _zip_member(path, "images.npy", shape, payload)
    assert path.stat().st_size < 1_000_000
    assert main(["evaluate", "--samples", str(path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(path) in line and words in line


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("digitgan 0.")


def test_errors_that_need_no_model_come_before_torch_is_imported(tmp_path):
    """A bad flag value or a missing run folder answers at once: one line, exit 2, and
    PyTorch (seconds to import) never loaded."""
    import subprocess
    import sys

    probe = (
        "import sys\nfrom digitgan.cli.main import main\n"
        "for argv in (['train', '--epochs', '0'], ['sample', 'runs/nope', '--out', 'x.png'],\n"
        "             ['evaluate', 'runs/nope'], ['serve', 'runs/nope'], ['train', '--resume', 'runs/nope'],\n"
        "             ['sample', '--pretrained', 'cdcgan', '--digit', '12']):\n"
        "    try:\n        code = main(argv)\n    except SystemExit as exc:\n        code = exc.code\n"
        "    print(code, 'torch' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.stdout.split("\n")[:-1] == ["2 False"] * 6, done.stdout + done.stderr[-500:]
    assert done.stderr.count("does not exist") == 4 and done.stderr.count("\n") == 6
