"""digitgan dataset (synthetic MNIST in MNIST's own IDX format) and the Classification
Accuracy Score of evaluate --cas."""

from __future__ import annotations

import json
import shutil
import struct

import numpy as np
import pytest
import torch
import torchvision

from digitgan.basics.errors import UserError
from digitgan.cli.main import main
from digitgan.data.digits import load_dataset
from digitgan.evaluation.cas import classification_accuracy_score
from digitgan.models.draw import generate
from digitgan.runs.checkpoint import load_generator


@pytest.fixture(scope="module")
def synthetic_set(preset_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic") / "set"
    args = [
        "dataset",
        str(preset_runs["cgan"]),
        "--out",
        str(out),
        "--n",
        "50",
        "--test-n",
        "20",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    return out


def test_the_files_are_mnist_idx(synthetic_set):
    raw = synthetic_set / "MNIST" / "raw"
    images = (raw / "train-images-idx3-ubyte").read_bytes()
    labels = (raw / "t10k-labels-idx1-ubyte").read_bytes()
    assert struct.unpack(">IIII", images[:16]) == (2051, 50, 28, 28) and len(images) == 16 + 50 * 784
    assert struct.unpack(">II", labels[:8]) == (2049, 20) and len(labels) == 8 + 20
    readme = (synthetic_set / "README.txt").read_text()
    assert "preset: cgan" in readme and "train 3, test 4" in readme


def test_torchvision_reads_it_as_mnist(synthetic_set, preset_runs):
    train = torchvision.datasets.MNIST(str(synthetic_set), train=True)
    test = torchvision.datasets.MNIST(str(synthetic_set), train=False)
    assert len(train) == 50 and len(test) == 20
    assert train.targets.tolist() == [i % 10 for i in range(50)]  # the digits requested, balanced
    G, cfg = load_generator(preset_runs["cgan"])
    drawn = generate(G, 50, 3, cfg.latent_dim, torch.arange(50) % 10, as_uint8=True)[:, 0]
    assert torch.equal(train.data, drawn)  # exactly what the run draws with seed 3


def test_digitgans_loader_reads_it_and_checks_its_sums(synthetic_set, tmp_path):
    train = load_dataset("mnist", synthetic_set, "train")
    assert len(train) == 50 and train.labels.tolist() == [i % 10 for i in range(50)]
    damaged = tmp_path / "damaged"
    (damaged / "MNIST").mkdir(parents=True)
    raw = damaged / "MNIST" / "raw"
    raw.mkdir()
    for f in (synthetic_set / "MNIST" / "raw").iterdir():
        (raw / f.name).write_bytes(f.read_bytes())
    data = bytearray((raw / "train-images-idx3-ubyte").read_bytes())
    data[500] ^= 0xFF  # one pixel: the structure is intact
    (raw / "train-images-idx3-ubyte").write_bytes(bytes(data))
    with pytest.raises(UserError, match="differs from the sum digitgan dataset recorded"):
        load_dataset("mnist", damaged, "train")


BAD = {
    "unconditional run": ("seed", [], "unconditional"),
    "n zero": ("cgan", ["--n", "0"], "--n"),
    "n too many": ("cgan", ["--n", "1000001"], "--n must be between"),
    "test-n too many": ("cgan", ["--test-n", "100001"], "--test-n"),
}


def exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own refusals
        return exc.code


@pytest.mark.parametrize("case", BAD)
def test_bad_requests_exit_2_and_write_nothing(case, preset_runs, tmp_path, capsys):
    preset, flags, words = BAD[case]
    out = tmp_path / "out"
    assert exit_code(["dataset", str(preset_runs[preset]), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not out.exists() or not any(out.iterdir())


def test_a_folder_in_use_needs_force(preset_runs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    args = ["dataset", str(preset_runs["cgan"]), "--out", str(out), "--n", "10", "--test-n", "10"]
    assert main(args) == 2 and "--force" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    assert (out / "mine.txt").read_text() == "keep me"  # --force writes the set beside it


def test_cas_of_shuffled_labels_is_chance(data_root):
    """The hand-made case: real digits with their labels shuffled teach nothing (chance,
    about 10%); with their own labels the score is the floor's, by construction."""
    real = load_dataset("mnist", data_root, "train")
    images, labels = real.images[:2000], real.labels[:2000]
    shuffled = labels[torch.randperm(2000, generator=torch.Generator().manual_seed(0))]
    chance = classification_accuracy_score(images, shuffled, data_root, epochs=2)
    assert chance["cas"] < 0.2, chance  # no better than guessing (10%; one shuffle can land below)
    assert chance["real_floor"] > 0.8 and chance["n"] == 2000


def test_evaluate_cas_needs_labels(preset_runs, tmp_path, capsys):
    code = main(
        ["evaluate", str(preset_runs["seed"]), "--n", "100", "--cas", "--out", str(tmp_path / "m.json")]
    )
    assert code == 2 and "--cas needs the digits' labels" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_evaluate_cas_writes_the_score_beside_its_floor(
    preset_runs, data_root, tiny_evaluator, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(preset_runs["cgan"], run)  # the shared run stays unevaluated
    args = [
        "evaluate",
        str(run),
        "--n",
        "500",
        "--cas",
        "--data-root",
        str(data_root),
        "--evaluator",
        str(tiny_evaluator),
    ]
    assert main(args) == 0
    cas = json.loads((run / "metrics.json").read_text())["cas"]
    assert (
        cas["n"] == 500 and 0 <= cas["cas"] <= 1 and cas["real_floor"] > 0.5 and np.isfinite(cas["seconds"])
    )
    assert "Classification Accuracy Score" in capsys.readouterr().out
    assert main(["report", str(run)]) == 0  # the report page shows it beside its floor
    assert "classification accuracy score (500 digits)" in (run / "report.html").read_text()


def test_cas_n_draws_its_own_number_of_digits(preset_runs, data_root, tiny_evaluator, tmp_path):
    out = tmp_path / "m.json"
    run = preset_runs["cgan"]
    args = ["evaluate", str(run), "--n", "100", "--cas", "--cas-n", "300", "--out", str(out)]
    assert main([*args, "--data-root", str(data_root), "--evaluator", str(tiny_evaluator)]) == 0
    report = json.loads(out.read_text())
    assert report["n"] == 100 and report["cas"]["n"] == 300  # scored 100, the classifier learnt from 300


CAS_BAD = {
    "cas-n without cas": (["--cas-n", "300"], "add --cas"),
    "cas-n above MNIST's training set": (["--cas", "--cas-n", "60001"], "between 100 and 60,000"),
    "cas-n below 100": (["--cas", "--cas-n", "99"], "between 100 and 60,000"),
}


@pytest.mark.parametrize("case", CAS_BAD)
def test_bad_cas_requests_exit_2(case, preset_runs, tmp_path, capsys):
    flags, words = CAS_BAD[case]
    out = tmp_path / "m.json"
    assert exit_code(["evaluate", str(preset_runs["cgan"]), "--n", "100", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_cas_n_refuses_a_samples_file(tmp_path, capsys):
    samples = tmp_path / "s.npz"
    np.savez(samples, images=np.zeros((100, 28, 28), np.uint8), labels=np.arange(100) % 10)
    assert exit_code(["evaluate", "--samples", str(samples), "--cas", "--cas-n", "300"]) == 2
    assert "an .npz is scored as it is" in capsys.readouterr().err
