"""Exact resume, crash safety, divergence guard, and loaders that never crash on bad bytes."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from procs import run_cli, run_with_signal_at
from safetensors.torch import load_file

from digitgan.basics.errors import UserError
from digitgan.cli.main import main
from digitgan.config.presets import make_config
from digitgan.data.idx import parse_idx
from digitgan.evaluation.scores import load_samples
from digitgan.models.networks import MLPGenerator
from digitgan.runs.checkpoint import load_state, load_weights, save_state, save_weights
from digitgan.runs.run_folder import Interrupted
from digitgan.training.gan_family import GanFamily
from digitgan.training.loop import train


def _interrupt_after(monkeypatch, n_steps: int) -> None:
    """Send this process SIGINT once the trainer has made n_steps D updates."""
    original = GanFamily.step

    def step(self, real, labels=None):
        out = original(self, real, labels)
        if self.d_steps == n_steps:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(GanFamily, "step", step)


def _stopped_run(tmp_path: Path, data_root: Path, monkeypatch, epochs: int) -> Path:
    """tmp_path/00001-seed: 3-step epochs, stopped by SIGINT after step 4 with its state saved."""
    cfg = make_config("seed", data_root=str(data_root), epochs=epochs, limit=300, outdir=str(tmp_path))
    with monkeypatch.context() as m:
        _interrupt_after(m, 4)
        with pytest.raises(Interrupted):
            train(cfg, stream=io.StringIO(), progress=False)
    return tmp_path / "00001-seed"


def _state(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / "state.safetensors")


# Not marked floats: resumed and uninterrupted runs must agree bit for bit on whatever kernel
# path the CPU takes, with no tolerance to tune, so .ci/run's reruns per path would add time
# and nothing else (a thread-order fault shows on the main run's path as on any other).
@pytest.mark.parametrize(
    "preset,overrides,stop_at",
    [
        ("seed", {}, 13),  # mid-epoch (10 steps per epoch): the epoch's order is restored
        ("seed", {}, 20),  # exactly at an epoch's end
        ("dcgan", {"hidden_dim": 8}, 7),  # BatchNorm, EMA, beta1 0.5
        # bf16 autocast and NHWC weights: the state is still fp32 and resumes bit for bit
        # (batches of 32: CPUs without native bf16 emulate it, slowly)
        ("dcgan", {"hidden_dim": 8, "precision": "bf16", "channels_last": True, "batch_size": 32}, 7),
        ("wgan-gp", {"hidden_dim": 8}, 11),  # n_critic 5 (G steps at 5, 10), penalty noise
        ("scdcgan", {"hidden_dim": 8, "clusters": 5}, 13),  # the clusters come back from the state
        ("cdcgan", {"hidden_dim": 8, "clusters": 2}, 13),  # and each digit's clusters
        ("cdcgan", {"hidden_dim": 8, "shared_fakes": True}, 13),  # one draw of fakes a step
        ("cdcgan", {"hidden_dim": 8, "d_hidden": 16}, 13),  # D's hidden fully-connected layer
        # fp32 with a D wide enough that several threads once summed its label kernels'
        # gradients, in whatever order they ran (models/networks.py: first_layer)
        ("cdcgan", {"hidden_dim": 8, "d_width": 48, "precision": "fp32"}, 13),
    ],
)
def test_resume_is_bit_identical(preset, overrides, stop_at, tmp_path, data_root, monkeypatch):
    batch = make_config(preset, **overrides).batch_size
    kw = dict(data_root=str(data_root), epochs=3, limit=10 * batch, log_every=5, **overrides)
    straight = train(
        make_config(preset, outdir=str(tmp_path / "a"), **kw), stream=io.StringIO(), progress=False
    )

    with monkeypatch.context() as m:
        _interrupt_after(m, stop_at)
        with pytest.raises(Interrupted):
            train(make_config(preset, outdir=str(tmp_path / "b"), **kw), stream=io.StringIO(), progress=False)
    run_b = tmp_path / "b" / f"00001-{preset}"
    interrupted = _state(run_b)
    resumed = train(None, stream=io.StringIO(), progress=False, resume=run_b)
    assert resumed.run_dir == run_b

    a, b = _state(straight.run_dir), _state(run_b)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    # and the comparison is not between two copies of the interrupted state
    assert not torch.equal(
        interrupted["G.net.0.weight" if preset == "seed" else "G.net.0.weight"], b["G.net.0.weight"]
    )
    for name in ("G.safetensors", "D.safetensors"):
        wa, wb = load_file(straight.run_dir / "checkpoints" / name), load_file(run_b / "checkpoints" / name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa)
    log = (run_b / "log.txt").read_text()
    assert "SIGINT: stopping" in log and "resuming" in log
    assert_same_history(straight.run_dir, run_b)


TIMING = ("images_per_s", "elapsed_s", "eval_s")


def assert_same_history(straight: Path, resumed: Path) -> None:
    """The resumed run's stats.jsonl holds the uninterrupted run's rows, each once, in order
    (timings aside), and its log.txt the same training lines."""

    def rows(run: Path) -> list[dict]:
        lines = (run / "stats.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]

    def training_lines(run: Path) -> list[str]:
        return [line for line in (run / "log.txt").read_text().splitlines() if line.startswith("Epoch [")]

    assert rows(resumed) == rows(straight)
    assert training_lines(resumed) == training_lines(straight)


def test_resume_errors(tmp_path, data_root, capsys, tiny_run):
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert f"run folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "not a digitgan run folder" in capsys.readouterr().err
    assert main(["train", "--resume", str(tiny_run)]) == 2  # finished: nothing to resume
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(tiny_run), "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda b: b"\x00" * 16, lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:]],
)
def test_damaged_state_is_named(damage, tmp_path, data_root, capsys, monkeypatch):
    _stopped_run(tmp_path, data_root, monkeypatch, epochs=3)
    state = tmp_path / "00001-seed" / "checkpoints" / "state.safetensors"
    state.write_bytes(damage(state.read_bytes()))
    assert main(["train", "--resume", str(tmp_path / "00001-seed")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(state) in err


def _nan_loss_at_step_25(trainer: GanFamily, out: dict) -> dict:
    return {**out, "d_loss": out["d_loss"] * float("nan")} if trainer.d_steps >= 25 else out


def _nan_weight_at_step_30(trainer: GanFamily, out: dict) -> dict:
    """A weight turns NaN on epoch 3's last step, whose losses are still finite: only the
    check of the weights before the save can catch it."""
    if trainer.d_steps == 30:
        with torch.no_grad():
            trainer.G.net[0].weight[0, 0] = float("nan")
    return out


@pytest.mark.parametrize(
    "poison, where",
    [(_nan_loss_at_step_25, "at epoch 3, step 5"), (_nan_weight_at_step_30, "at the end of epoch 3")],
)
def test_divergence_stops_and_keeps_the_last_good_checkpoint(poison, where, tmp_path, data_root, monkeypatch):
    """A NaN loss or weight stops training (exit 3) and nothing non-finite is ever saved:
    the state of epoch 2 (10-step epochs) is kept, and G still loads."""
    original = GanFamily.step
    monkeypatch.setattr(GanFamily, "step", lambda self, *a, **k: poison(self, original(self, *a, **k)))
    args = [
        "train",
        "--data-root",
        str(data_root),
        "--epochs",
        "5",
        "--limit",
        "1000",
        "--outdir",
        str(tmp_path),
    ]
    assert main(args) == 3
    run = tmp_path / "00001-seed"
    assert f"diverged {where}" in (run / "log.txt").read_text()
    tensors, meta = load_state(run / "checkpoints" / "state.safetensors")
    assert meta["epoch"] == 2 and all(
        bool(torch.isfinite(t).all()) for t in tensors.values() if t.is_floating_point()
    )
    load_weights(run / "checkpoints" / "G.safetensors", MLPGenerator())  # still loadable


SLOW_FSYNC = """
import os, time
_fsync = os.fsync
def fsync(fd):
    time.sleep(0.02)  # widen the window in which a kill lands inside a save
    _fsync(fd)
os.fsync = fsync
"""


def _wait_until_training(proc: subprocess.Popen, prefix: str = "Epoch [") -> None:
    """Read the process's own output until it prints a training line starting with
    ``prefix`` (a kill before any would test nothing but torch's import)."""
    for line in proc.stdout:
        if line.startswith(prefix):
            return
    raise AssertionError(f"the process ended (status {proc.wait()}) before it trained")


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume(tmp_path, data_root):
    """Kill a training process with SIGKILL at random moments once it is training (saves are
    slowed so that some kills land inside one), resume each time, and finish with a loadable
    model whose stats.jsonl and log hold the uninterrupted run's rows, each once."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_FSYNC)
    env = {**os.environ, "PYTHONPATH": f"{hook}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env["DIGITGAN_NO_DOWNLOAD"] = "1"
    epochs = 40
    flags = ["--data-root", str(data_root), "--epochs", str(epochs), "--limit", "500", "--log-every", "5"]
    first = [sys.executable, "-m", "digitgan", "train", *flags, "--outdir", str(tmp_path / "runs")]
    run = tmp_path / "runs" / "00001-seed"
    rng = random.Random(0)
    command = first
    for attempt in range(3):
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        # The first process is killed in its second epoch, after its first save whatever the
        # machine's load: a run killed before any save has nothing to resume (tested apart).
        _wait_until_training(proc, "Epoch [1/" if attempt == 0 else "Epoch [")
        time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()
        proc.wait()
        proc.stdout.close()
        tensors, meta = load_state(run / "checkpoints" / "state.safetensors")  # never corrupt
        done = max(int(p.stem.split("-")[1]) for p in (run / "samples").glob("fixed-*.png"))
        assert done - meta["epoch"] <= 1, f"attempt {attempt}: lost more than one checkpoint interval"
        command = [sys.executable, "-m", "digitgan", "train", "--resume", str(run)]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert load_state(run / "checkpoints" / "state.safetensors")[1]["epoch"] == epochs
    load_weights(run / "checkpoints" / "G.safetensors", MLPGenerator())
    assert not list((run / "checkpoints").glob(".*.tmp"))  # leftovers of killed saves were removed
    same = make_config(
        "seed",
        data_root=str(data_root),
        epochs=epochs,
        limit=500,
        log_every=5,
        outdir=str(tmp_path / "straight"),
    )
    straight = train(same, stream=io.StringIO(), progress=False)
    assert_same_history(straight.run_dir, run)
    # a resumed process killed before its first save leaves no line: the log is cut back too
    assert 1 <= (run / "log.txt").read_text().count("digitgan: resuming") <= 4


@pytest.mark.slow
def test_sigterm_then_resume_in_a_fresh_process_gives_the_same_bytes(tmp_path, data_root):
    """The README's promise as a user meets it: SIGTERM at step 13 saves the state and exits
    143; `digitgan train --resume` in a new process finishes with weight files byte for byte
    those of a run that was never interrupted."""
    flags = ["--data-root", str(data_root), "--epochs", "4", "--limit", "500", "--ema-decay", "0.999"]
    # the same --outdir for both (it is part of the config the weight files carry)
    outdir = tmp_path / "runs"
    straight = run_cli("train", *flags, "--outdir", str(outdir))
    assert straight.returncode == 0, straight.stderr
    run_a, run_b = tmp_path / "straight", outdir / "00001-seed"
    run_b.rename(run_a)
    stopped = run_with_signal_at(13, signal.SIGTERM, "train", *flags, "--outdir", str(outdir))
    assert stopped.returncode == 143, stopped.stderr
    assert load_state(run_b / "checkpoints" / "state.safetensors")[1]["step"] == 13
    assert "SIGTERM: stopping at epoch 3, step 3" in (run_b / "log.txt").read_text()
    resumed = run_cli("train", "--resume", str(run_b))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("G.safetensors", "D.safetensors", "G_ema.safetensors"):
        assert (run_a / "checkpoints" / name).read_bytes() == (run_b / "checkpoints" / name).read_bytes(), (
            name
        )
    a, b = _state(run_a), _state(run_b)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []
    assert_same_history(run_a, run_b)


def test_resume_refuses_a_config_json_that_differs_from_the_state(tmp_path, data_root, monkeypatch, capsys):
    _stopped_run(tmp_path, data_root, monkeypatch, epochs=3)
    run = tmp_path / "00001-seed"
    edited = json.loads((run / "config.json").read_text()) | {"lr": 0.1}
    (run / "config.json").write_text(json.dumps(edited))
    log_before = (run / "log.txt").read_bytes()
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lr = 0.1" in err and "0.0002" in err
    assert (run / "log.txt").read_bytes() == log_before  # nothing written


def test_a_state_saved_on_a_gpu_resumes_on_the_cpu(tmp_path, data_root, monkeypatch):
    """A state whose noise generator is CUDA's (16 bytes: seed and offset) continues on the
    CPU with the weights and optimiser states it had, and says that the noise restarts.
    (Simulated: no GPU here. The state is rewritten as a CUDA run saves it.)"""
    _stopped_run(tmp_path, data_root, monkeypatch, epochs=2)
    path = tmp_path / "00001-seed" / "checkpoints" / "state.safetensors"
    tensors, meta = load_state(path)
    tensors["rng.noise"] = torch.zeros(16, dtype=torch.uint8)
    save_state(path, tensors, meta | {"device": "cuda"})
    result = train(None, stream=io.StringIO(), progress=False, resume=path.parent.parent)
    log = (result.run_dir / "log.txt").read_text()
    assert "the state was saved on cuda and continues on cpu" in log
    assert load_state(path)[1]["epoch"] == 2


def test_a_second_ctrl_c_stops_a_stuck_run_at_once(tmp_path, data_root, monkeypatch, capsys):
    """The first SIGINT asks for a clean stop after the step; while the end of the epoch
    hangs (a stuck evaluation, here a grid that never finishes), a second SIGINT stops at
    once, exit 130, keeping the state of the epoch before."""
    import threading

    from digitgan.training.gan_family import GanFamily

    fixed_images = GanFamily.fixed_images

    def stuck_grid(trainer):
        if trainer.d_steps == 20:  # the end of epoch 2
            os.kill(os.getpid(), signal.SIGINT)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            time.sleep(60)
        return fixed_images(trainer)

    monkeypatch.setattr(GanFamily, "fixed_images", stuck_grid)
    started = time.time()
    args = [
        "train",
        "--data-root",
        str(data_root),
        "--epochs",
        "4",
        "--limit",
        "1000",
        "--outdir",
        str(tmp_path),
    ]
    assert main(args) == 130
    assert time.time() - started < 30
    run = tmp_path / "00001-seed"
    assert "second SIGINT: stopped at once, without saving" in (run / "log.txt").read_text()
    assert load_state(run / "checkpoints" / "state.safetensors")[1]["epoch"] == 1


def test_python_and_numpy_generators_are_seeded_and_saved():
    cfg = make_config("seed", seed=5)
    trainer = GanFamily(cfg, torch.device("cpu"))
    assert random.random() == random.Random(5).random()
    assert np.random.rand() == np.random.RandomState(5).rand()
    tensors, meta = trainer.state()
    expected = (random.random(), np.random.rand())
    random.seed(99), np.random.seed(99)
    trainer.load_state(tensors, meta, Path("state"))
    assert (random.random(), np.random.rand()) == expected


def test_weight_files_carry_a_checksum(tiny_run, tmp_path, capsys):
    """A flipped byte inside a tensor (not the header) of G.safetensors is caught."""
    path = tmp_path / "run"
    for name in ("config.json", "checkpoints/config.json", "checkpoints/G.safetensors"):
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes((tiny_run / name).read_bytes())
    weights = path / "checkpoints" / "G.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x01  # the last tensor's bytes
    weights.write_bytes(bytes(data))
    assert main(["sample", str(path), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(weights) in err and "checksum" in err


# --- fuzzing: bad bytes give a UserError, never another exception -------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(st.binary(max_size=200), st.sampled_from(["images", "labels"]))
def test_fuzz_idx_reader(data, kind):
    try:
        out = parse_idx(data, Path("fuzz"), kind)
    except UserError:
        return
    assert out.dtype.name == "uint8"


@pytest.fixture(scope="module")
def good_weights(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("w") / "G.safetensors"
    save_weights(path, MLPGenerator(hidden_dim=4))
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_fuzz_weights_loader(data, good_weights, tmp_path):
    mode = data.draw(st.sampled_from(["random", "truncated", "flipped"]))
    if mode == "random":
        blob = data.draw(st.binary(max_size=300))
    elif mode == "truncated":
        blob = good_weights[: data.draw(st.integers(0, len(good_weights) - 1))]
    else:
        i = data.draw(st.integers(0, min(len(good_weights) - 1, 400)))
        blob = good_weights[:i] + bytes([good_weights[i] ^ 0xFF]) + good_weights[i + 1 :]
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(blob)
    try:
        load_weights(path, MLPGenerator(hidden_dim=4))
    except UserError as exc:
        assert str(path) in str(exc)


@FUZZ
@given(blob=st.binary(max_size=300))
def test_fuzz_state_and_samples_loaders(blob, tmp_path):
    for loader, name in ((load_state, "state.safetensors"), (load_samples, "s.npz")):
        path = tmp_path / name
        path.write_bytes(blob)
        with pytest.raises(UserError):
            loader(path)


def test_wrong_shapes_and_dtypes_in_weights(tmp_path):
    from safetensors.torch import save_file

    G = MLPGenerator(hidden_dim=4)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    for key, value in [
        ("net.0.weight", torch.zeros(3, 3)),
        ("net.0.bias", torch.zeros(4, dtype=torch.float64)),
    ]:
        bad = {**state, key: value}
        save_file(bad, tmp_path / "w.safetensors")
        with pytest.raises(UserError, match=key.replace(".", r"\.")):
            load_weights(tmp_path / "w.safetensors", MLPGenerator(hidden_dim=4))
