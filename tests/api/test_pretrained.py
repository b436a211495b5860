"""The models that ship in the package: they load and draw in a fresh process with no data
and no run folder, every drawing command takes them, their files match SHA256SUMS and their
cards, a changed byte is one line and exit 2, and the shipped evaluator reproduces their
cards' figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import digitgan
from digitgan.cli.main import main
from digitgan.runs import shipped

GENERATORS = ("cdcgan", "scdcgan")


# The done-when of issue 42, in one fresh process (one start-up instead of four): no data, no
# run folder, nothing but the installed package.
FRESH = """
import sys, digitgan
from digitgan.cli.main import main
for argv in (
    ["sample", "--pretrained", "cdcgan", "--digit", "3", "--n", "1000", "--out", "threes.npz"],
    ["sample", "--pretrained", "scdcgan", "--n", "64", "--out", "digits.npz"],
    ["handwrite", "--pretrained", "2026", "--out", "2026.png"],
):
    assert main(argv) == 0, argv
digitgan.load("cdcgan").grid(digit=7).save("sevens.png")
"""


def test_each_shipped_model_draws_in_a_fresh_process_with_no_data(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", FRESH], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    threes = np.load(tmp_path / "threes.npz")
    assert threes["images"].shape == (1000, 28, 28) and set(threes["labels"]) == {3}
    assert np.load(tmp_path / "digits.npz")["images"].shape == (64, 28, 28)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2026.png",
        "digits.npz",
        "sevens.png",
        "threes.npz",
    ]
    assert all(p.stat().st_size > 0 for p in tmp_path.iterdir())


def test_the_api_gives_the_commands_bytes(tmp_path):
    out = tmp_path / "sevens.npz"
    assert (
        main(
            [
                "sample",
                "--pretrained",
                "cdcgan",
                "--digit",
                "7",
                "--n",
                "20",
                "--seed",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    g = digitgan.load("cdcgan")
    assert g.conditional and repr(g) == "<digitgan.Generator cdcgan: cdcgan, conditional>"
    assert np.array_equal(np.load(out)["images"], g.sample(20, digit=7, seed=4))
    typed = np.load(out)["images"]
    hand = tmp_path / "hand.npz"
    argv = ["translate", "--pretrained", "--samples", str(out), "--to", "typed", "--out", str(hand)]
    assert main(argv) == 0
    assert np.array_equal(np.load(hand)["images"], digitgan.load("cyclegan").translate(typed, to="typed"))
    assert not digitgan.load("scdcgan").conditional


def test_every_drawing_command_takes_them(tmp_path, capsys):
    for argv in (
        ["interpolate", "--pretrained", "scdcgan", "--seeds", "1", "2", "--out", str(tmp_path / "walk.png")],
        ["export", "--pretrained", "cdcgan", "--onnx", str(tmp_path / "g.onnx")],
        ["dataset", "--pretrained", "cdcgan", "--out", str(tmp_path / "set"), "--n", "100", "--test-n", "20"],
        ["pretrained"],
    ):
        assert main(argv) == 0, argv
    assert (tmp_path / "walk.gif").is_file() and (tmp_path / "g.onnx").is_file()
    assert (tmp_path / "set" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()
    listing = capsys.readouterr().out
    assert all(f"{name}: " in listing for name in shipped.NAMES) and "requested digit" in listing


def test_a_model_needs_a_run_folder_or_pretrained_not_both(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["sample", str(tmp_path), "--pretrained", "cdcgan", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["sample", "--pretrained", "scdcgan", "--digit", "3", "--out", str(tmp_path / "x.png")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(e.startswith("digitgan: error: ") for e in errors)
    assert "--pretrained" in errors[0] and "not both" in errors[1] and "unconditional" in errors[2]
    with pytest.raises(SystemExit) as exit_:
        main(["sample", "--pretrained", "nope"])
    assert exit_.value.code == 2
    assert not list(tmp_path.iterdir())


@pytest.fixture
def shipped_copy(tmp_path, monkeypatch):
    """The package's pretrained/ copied, and digitgan pointed at the copy (to damage it)."""
    root = tmp_path / "pretrained"
    shutil.copytree(shipped.PRETRAINED_ROOT, root)
    monkeypatch.setattr(shipped, "PRETRAINED_ROOT", root)
    monkeypatch.setattr(shipped, "SUMS", root / "SHA256SUMS")
    return root


@pytest.mark.parametrize("damage", ["flip", "truncate", "config"])
def test_a_changed_shipped_file_is_one_line_and_exit_2(shipped_copy, tmp_path, capsys, damage):
    name = "cyclegan" if damage == "config" else "cdcgan"
    path = shipped_copy / name / ("config.json" if damage == "config" else "model.safetensors")
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01  # one bit inside a tensor: safetensors still parses it
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data = data.replace(b'"res_blocks": 3', b'"res_blocks": 2')
    path.write_bytes(bytes(data))
    out = tmp_path / "x.png"
    argv = (
        ["handwrite", "--pretrained", "12", "--out", str(out)]
        if name == "cyclegan"
        else ["sample", "--pretrained", name, "--out", str(out)]
    )
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "sha256" in err and "reinstall" in err
    assert not out.exists()
    with pytest.raises(digitgan.UserError, match="sha256"):
        digitgan.load(name)


@pytest.mark.parametrize(
    "folder, command",
    [
        (shipped.EVALUATOR, ["evaluate", "--pretrained", "cdcgan", "--n", "100", "--out", "m.json"]),
        (shipped.READER, ["handwrite", "--pretrained", "2026", "--out", "m.png"]),
    ],
)
def test_a_changed_shipped_evaluator_or_reader_is_one_line_and_exit_2(
    shipped_copy, tmp_path, capsys, folder, command
):
    path = shipped_copy / folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    out = tmp_path / command[-1]
    assert main([*command[:-1], str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "sha256" in err and "reinstall" in err
    assert not out.exists()


def test_the_files_match_their_sums_cards_and_size_bounds():
    sums = shipped.expected_sums()
    networks = {
        shipped.EVALUATOR: shipped.shipped_evaluator(),
        shipped.READER: shipped.shipped_weights(shipped.READER),
    }
    weights = [f"{folder}/model.safetensors" for folder in networks]
    assert sorted(sums) == sorted([*weights, *(f"{n}/{f}" for n in shipped.NAMES for f in shipped.CHECKED)])
    for folder, path in networks.items():
        card = (shipped.PRETRAINED_ROOT / folder / "README.md").read_text()
        key = f"{folder}/model.safetensors"
        assert sums[key] == shipped.sha256(path) and sums[key] in card
    total = 0
    for name in shipped.NAMES:
        folder = shipped.pretrained_dir(name)
        card = (folder / "README.md").read_text()
        front = card.split("---\n")[1]
        assert "model-index:" in front and "license: mit" in front
        for file in shipped.CHECKED:
            digest = shipped.sha256(folder / file)
            assert digest == sums[f"{name}/{file}"] and digest in card
        size = (folder / "model.safetensors").stat().st_size
        assert size <= 4_000_000
        total += size
        figures = shipped.card_figures(name)
        for value in re.findall(r"value: ([0-9.]+)", front):
            assert float(value) >= 0
        assert "reproduce_within" in figures
    assert total <= 10_000_000


@pytest.mark.slow
def test_the_wheel_carries_the_weights(tmp_path):
    root = shipped.PRETRAINED_ROOT.parents[2]
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path),
        str(root),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("digitgan-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in shipped.NAMES:
        for file in (*shipped.CHECKED, "README.md", "metrics.json"):
            assert f"digitgan/pretrained/{name}/{file}" in names
    for folder in (shipped.EVALUATOR, shipped.READER):
        for file in ("model.safetensors", "README.md"):
            assert f"digitgan/pretrained/{folder}/{file}" in names
    assert "digitgan/pretrained/SHA256SUMS" in names


def within(ours: float, card: float, margin: float, relative: bool = False) -> bool:
    return abs(ours - card) <= (margin * card if relative else margin)


@pytest.mark.slow
@pytest.mark.floats
@pytest.mark.parametrize("name", GENERATORS)
def test_the_evaluator_reproduces_the_generators_cards(name, data_root, tmp_path):
    card = shipped.card_figures(name)
    margins = card["reproduce_within"]
    out = tmp_path / "m.json"
    argv = ["evaluate", "--pretrained", name, "--n", "10000"]  # the shipped evaluator
    assert main([*argv, "--data-root", str(data_root), "--out", str(out)]) == 0
    ours = json.loads(out.read_text())
    for key in ("metrics", "real_floor"):
        assert within(ours[key]["fid"], card[key]["fid"], margins["fid_relative"], relative=True)
        for metric in ("precision", "recall", "is"):
            assert within(ours[key][metric], card[key][metric], margins[metric]), (key, metric)
    if "conditional_accuracy" in card["metrics"]:
        got, want = ours["metrics"]["conditional_accuracy"], card["metrics"]["conditional_accuracy"]
        assert within(got, want, margins["accuracy"])


@pytest.mark.slow
@pytest.mark.floats
def test_the_evaluator_reproduces_the_cyclegans_card(data_root):
    """typed -> handwritten, the direction handwrite uses, on every held-out typed digit and
    read by the MNIST evaluator; the other direction needs the typed-digit evaluator trained
    on 60,000 rendered digits (minutes), so it is measured when the card is made, not here."""
    from digitgan.cyclegan.cycle_scores import direction
    from digitgan.data.digits import load_dataset
    from digitgan.evaluation.classifier import default_evaluator_path, load_evaluator
    from digitgan.evaluation.scores import reference

    card = shipped.card_figures("cyclegan")
    margins, want = card["reproduce_within"], card["typed_to_handwritten"]
    evaluator = load_evaluator(default_evaluator_path("mnist"))
    typed_test = load_dataset("typed", None, "test")
    net = digitgan.load("cyclegan").net("handwritten")
    got = direction(net, typed_test, evaluator, reference(evaluator, data_root), want["n"])
    assert got["n"] == want["n"]
    for key in ("translated", "untranslated"):
        assert within(
            got[key]["conditional_accuracy"], want[key]["conditional_accuracy"], margins["accuracy"]
        )
        assert within(got[key]["fid"], want[key]["fid"], margins["fid_relative"], relative=True)


def test_serve_without_run_folders_serves_the_shipped_models():
    import httpx
    from live_server import live_server

    with live_server() as (_, url):
        runs = httpx.get(f"{url}/api/runs").json()
        page = httpx.get(f"{url}/")
        sevens = httpx.get(f"{url}/api/generate", params={"run": "cdcgan", "digit": 7, "n": 4, "seed": 1})
        written = httpx.get(f"{url}/api/handwrite", params={"run": "cyclegan", "text": "42"})
    assert page.status_code == 200 and "digitgan" in page.text
    assert sorted(run["name"] for run in runs) == sorted(shipped.NAMES)
    assert sevens.status_code == 200 and sevens.content == digitgan.load("cdcgan").grid_png(
        4, digit=7, seed=1
    )
    assert written.status_code == 200 and written.content == digitgan.load("cyclegan").handwrite_png("42")


@pytest.mark.parametrize("kwargs", [{"digit": 12}, {"digit": -1}, {"digit": True}, {"n": 0}, {"n": 2.5}])
def test_a_bad_request_from_python_is_the_one_line_error(kwargs):
    with pytest.raises(digitgan.UserError, match="0-9|whole number"):
        digitgan.load("cdcgan").sample(**{"n": 4, **kwargs})
