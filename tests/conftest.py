"""Shared fixtures. Data tests read the real MNIST files from ../shared/data (or
$DIGITGAN_TEST_DATA); nothing is ever downloaded during tests."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_ROOT = Path(os.environ.get("DIGITGAN_TEST_DATA", REPO.parent / "shared" / "data")).resolve()
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    # Started in the background, or as a pytest-xdist worker: SIGINT is ignored here, and
    # every command a test starts would inherit that. The tests that press Ctrl-C need it.
    signal.signal(signal.SIGINT, signal.default_int_handler)

MAX_WORKERS = 4  # each worker trains its own copy of the session's runs (preset_runs, ...)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (-n auto) every worker is a process of its own: the cores are shared
    # out between them, for the commands they start too, so that they do not fight for them.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    threads = max(1, (os.cpu_count() or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def pytest_xdist_auto_num_workers(config) -> int:
    """-n auto: a worker per core, at most MAX_WORKERS."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def pytest_collection_modifyitems(config, items) -> None:
    """The long tests (marker ``slow``) first: under pytest-xdist they then run beside the
    short ones, instead of alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    # Evaluators and real-data statistics go to a temporary cache, never the user's.
    old = os.environ.get("DIGITGAN_CACHE")
    os.environ["DIGITGAN_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("DIGITGAN_CACHE", None)
    else:
        os.environ["DIGITGAN_CACHE"] = old


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Tests must never reach the network: a missing file is an error, not a download.
    monkeypatch.setenv("DIGITGAN_NO_DOWNLOAD", "1")
    monkeypatch.delenv("DIGITGAN_DATA", raising=False)


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not all((DATA_ROOT / "MNIST" / "raw" / f).is_file() for f in RAW_FILES):
        pytest.fail(
            f"MNIST not found in {DATA_ROOT}/MNIST/raw; set DIGITGAN_TEST_DATA to a folder holding it"
        )
    return DATA_ROOT


@pytest.fixture
def mnist_copy(tmp_path, data_root) -> Path:
    """A private data root whose MNIST/raw files are links to the real ones, so a test can
    replace one file with a damaged copy without touching the originals."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES:
        (raw / name).symlink_to(data_root / "MNIST" / "raw" / name)
    return tmp_path / "data"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, data_root) -> Path:
    """A finished run: seed preset, 1 epoch on 500 images (5 steps)."""
    import io

    from digitgan.config.presets import make_config
    from digitgan.training.loop import train

    outdir = tmp_path_factory.mktemp("runs")
    cfg = make_config("seed", data_root=str(data_root), epochs=1, limit=500, outdir=str(outdir), log_every=1)
    return train(cfg, stream=io.StringIO(), progress=False).run_dir


@pytest.fixture(scope="session")
def preset_runs(tmp_path_factory, data_root):
    """One epoch of 640 digits of every GAN preset, trained once per test session."""
    import io

    from digitgan.config.presets import GAN_PRESETS, make_config
    from digitgan.training.loop import train

    outdir = tmp_path_factory.mktemp("presets")
    runs = {}
    for preset in sorted(GAN_PRESETS):
        cfg = make_config(
            preset, data_root=str(data_root), epochs=1, limit=640, outdir=str(outdir), log_every=5
        )
        runs[preset] = train(cfg, stream=io.StringIO(), progress=False).run_dir
    return runs


@pytest.fixture(scope="session")
def tiny_evaluator(tmp_path_factory, data_root):
    """An evaluator trained on 3,000 digits for one epoch: seconds, about 90% accurate.
    Over seeds 0-4 and three kernel paths (ATEN_CPU_CAPABILITY default, avx2, avx512): test
    accuracy 0.877-0.911, and on 1,000 real test digits FID 2.6-3.8, recall 0.90-0.93,
    requested-digit accuracy 0.845-0.887; the bounds below keep a margin to all of them."""
    import io

    from digitgan.evaluation.classifier import train_evaluator

    path = tmp_path_factory.mktemp("evaluator") / "tiny.safetensors"
    train_evaluator(data_root, path, epochs=1, limit=3000, stream=io.StringIO(), progress=False)
    return path
