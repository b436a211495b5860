"""The cyclegan preset (issue 12) end to end on small data: the run folder, the fixed
typed-above-translated grid, a bit-identical resume (image pools and generators included),
the guide, handwrite / translate / evaluate and their one-line errors."""

from __future__ import annotations

import io
import os
import signal

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from digitgan.cli.main import main
from digitgan.config.presets import make_config
from digitgan.cyclegan.cycle_family import CycleFamily
from digitgan.cyclegan.cycle_scores import worst_digit
from digitgan.cyclegan.reader import describe, load_reader, not_digits, unreadable
from digitgan.cyclegan.translation import HANDWRITE_SCALE, MAX_TEXT
from digitgan.data import typed
from digitgan.data.digits import load_dataset
from digitgan.evaluation.classifier import train_evaluator
from digitgan.evaluation.scores import make_epoch_evaluator
from digitgan.runs.checkpoint import load_state
from digitgan.runs.run_folder import Interrupted
from digitgan.training.loop import train

pytestmark = [
    pytest.mark.skipif(
        not typed.installed_fonts(), reason=f"no fonts installed (.ci/run installs: {typed.PACKAGES})"
    ),
]

WEIGHTS = ("to_handwritten", "to_typed", "D_handwritten", "D_typed", "to_handwritten_ema", "to_typed_ema")


@pytest.fixture(scope="module")
def small_typed():
    """The real renderer and fonts, 2,000 training and 500 test digits (their own cache
    entry), so that the guide trains in seconds."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(typed, "TRAIN_IMAGES", 2000)
        m.setattr(typed, "TEST_IMAGES", 500)
        yield


def small_config(data_root, outdir, **overrides):
    values = dict(
        data_root=str(data_root),
        epochs=2,
        decay_start=0.5,
        limit=128,
        hidden_dim=4,
        res_blocks=1,
        log_every=2,
    )
    return make_config("cyclegan", outdir=str(outdir), **{**values, **overrides})


@pytest.fixture(scope="module")
def tiny_mnist_evaluator(tmp_path_factory, data_root):
    path = tmp_path_factory.mktemp("evaluator") / "tiny.safetensors"
    train_evaluator(data_root, path, epochs=1, limit=3000, stream=io.StringIO(), progress=False)
    return path


@pytest.fixture(scope="module")
def cycle_run(small_typed, data_root, tmp_path_factory, tiny_mnist_evaluator):
    """Two epochs of 4 steps, with FID and IS of 100 translated held-out digits every epoch."""
    cfg = small_config(
        data_root,
        tmp_path_factory.mktemp("cycle"),
        eval_every=1,
        eval_n=100,
        evaluator=str(tiny_mnist_evaluator),
    )
    return train(cfg, stream=io.StringIO(), progress=False, epoch_evaluator=make_epoch_evaluator)


def test_the_run_folder_holds_every_network_grids_and_cycle_losses(cycle_run):
    run = cycle_run.run_dir
    for name in WEIGHTS:
        assert (run / "checkpoints" / f"{name}.safetensors").is_file()
    assert (run / "progress.gif").is_file() and (run / "curves.png").is_file()
    log = (run / "log.txt").read_text()
    assert "Epoch [1/2], Step [4/4], d_loss: " in log and ", cycle: " in log and ", semantic: " in log
    rows = [r for r in cycle_run.stats if "cycle" in r]
    assert len(rows) == 4 and all(np.isfinite(r["cycle"]) and r["semantic"] >= 0 for r in rows)
    # the learning rate is flat for the first epoch, then falls linearly towards 0
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == lrs[1] == 2e-4 and lrs[1] > lrs[2] > lrs[3] > 0
    evaluations = [r for r in cycle_run.stats if "fid" in r]
    assert [r["epoch"] for r in evaluations] == [0, 1] and all(r["fid"] > 0 for r in evaluations)


def test_fixed_grid_shows_held_out_typed_digits_above_their_translation(cycle_run, small_typed):
    grid = np.asarray(Image.open(cycle_run.run_dir / "samples" / "fixed-0002.png").convert("L"))
    assert grid.shape == (10 * 30 + 2, 10 * 30 + 2)  # save_image: 2 px padding
    cells = [[grid[2 + 30 * r : 30 * r + 30, 2 + 30 * c : 30 * c + 30] for c in range(10)] for r in range(10)]
    test = load_dataset("typed", None, "test")
    for pair in range(5):
        for digit in range(10):
            cell = torch.from_numpy(cells[2 * pair][digit].copy())
            # each typed cell is a held-out test digit of that column's label, untouched
            matches = (test.images == cell).flatten(1).all(1)
            assert matches.any() and bool((test.labels[matches] == digit).all())


def _send_sigint_at(step: int):
    step_fn = CycleFamily.step

    def step_then_signal(self, *args):
        out = step_fn(self, *args)
        if self.steps == step:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    return step_then_signal


def test_resume_is_bit_identical_with_pools_and_generators(small_typed, data_root, tmp_path, monkeypatch):
    """Stopped mid-epoch (the image pools full and swapping, the typed stream part-read) and
    resumed: every weight file is byte for byte the uninterrupted run's."""
    straight = train(small_config(data_root, tmp_path / "a"), stream=io.StringIO(), progress=False).run_dir
    with monkeypatch.context() as m:
        m.setattr(CycleFamily, "step", _send_sigint_at(6))
        with pytest.raises(Interrupted):
            train(small_config(data_root, tmp_path / "b"), stream=io.StringIO(), progress=False)
    stopped = tmp_path / "b" / "00001-cyclegan"
    tensors, meta = load_state(stopped / "checkpoints" / "state.safetensors")
    assert meta["steps"] == 6 and tensors["pool.handwritten.images"].shape[0] == 50
    train(None, stream=io.StringIO(), progress=False, resume=stopped)
    for name in WEIGHTS:  # the tensors (the files' metadata name their own run folders)
        ours, theirs = (
            load_file(str(run / "checkpoints" / f"{name}.safetensors")) for run in (straight, stopped)
        )
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours), name


def test_the_guide_is_trained_on_typed_digits_only_and_is_not_an_evaluator(cycle_run):
    from digitgan.cyclegan.guide import GuideNet, first_digits, guide_path
    from digitgan.evaluation.classifier import EvaluatorNet
    from digitgan.runs.checkpoint import weights_metadata

    # the run's --limit bounds what its guide learns from, as it bounds everything it trains
    typed = first_digits(load_dataset("typed", None, "train"), 128)
    assert weights_metadata(guide_path(typed))["dataset"] == "typed"
    guide_shapes = [p.shape for p in GuideNet().parameters()]
    assert guide_shapes != [p.shape for p in EvaluatorNet().parameters()]


def _cli(args, capsys):
    """The CLI's exit status, stdout and stderr (argparse's own errors exit through
    SystemExit, made one line by cli.Parser)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("text", "font", "needle"),
    [
        ("20a6", None, "only digits 0-9 and spaces"),
        ("", None, "empty"),
        ("   ", None, "empty"),
        ("1" * (MAX_TEXT + 1), None, f"at most {MAX_TEXT}"),
        ("٣", None, "only digits 0-9"),  # an Arabic-Indic three is a digit to Python, not here
        ("2026", "NoSuchFont", "unknown font 'NoSuchFont'"),
    ],
)
def test_handwrite_refuses_bad_text_and_fonts_in_one_line(cycle_run, tmp_path, capsys, text, font, needle):
    out = tmp_path / "n.png"
    args = ["handwrite", cycle_run.run_dir, text, "--out", out] + (["--font", font] if font else [])
    code, _, err = _cli(args, capsys)
    assert code == 2 and needle in err and err.count("\n") == 1 and not out.exists()


def test_handwrite_refuses_a_run_that_is_not_a_cyclegan(tiny_run, tmp_path, capsys):
    code, _, err = _cli(["handwrite", tiny_run, "2026", "--out", tmp_path / "n.png"], capsys)
    assert code == 2 and "needs a run trained with --preset cyclegan" in err


def test_handwrite_writes_the_typed_line_above_the_handwritten_one(cycle_run, tmp_path, capsys):
    out = tmp_path / "n.png"
    code, stdout, _ = _cli(["handwrite", cycle_run.run_dir, "20 26", "--out", out, "--compare"], capsys)
    assert code == 0 and str(out) in stdout
    picture = np.asarray(Image.open(out))
    s = HANDWRITE_SCALE
    assert picture.shape == (2 * 28 * s, 5 * 28 * s)
    assert picture[:, 2 * 28 * s : 3 * 28 * s].max() == 0  # the space is blank in both lines
    assert picture[: 28 * s, : 28 * s].max() > 0  # a typed 2
    again = tmp_path / "again.png"
    _cli(["handwrite", cycle_run.run_dir, "20 26", "--out", again, "--compare"], capsys)
    assert again.read_bytes() == out.read_bytes()  # same seed, same picture


def test_the_reader_names_typed_inputs_that_are_not_digits(small_typed):
    """The shipped reader on the held-out fonts: their digits are read; their letters and
    signs, inverted digits and digits cut out of a box are flagged; a blank is not (a space
    in handwrite stays blank)."""
    net = load_reader()
    digits = load_dataset("typed", None, "test").images
    assert len(unreadable(net, digits)) <= 0.03 * len(digits)
    others = torch.from_numpy(not_digits("test", 6, seed=7))
    assert len(unreadable(net, others)) >= 0.9 * len(others)
    assert len(unreadable(net, 255 - digits[:100])) >= 90
    assert unreadable(net, torch.zeros(3, 28, 28, dtype=torch.uint8)) == []


def test_translate_keeps_labels_and_refuses_other_runs(cycle_run, tiny_run, tmp_path, capsys):
    test = load_dataset("typed", None, "test")
    images = test.images[:100].clone()
    images[[3, 7]] = 255 - images[[3, 7]]  # printed white on black: not digits a translator can read
    source = tmp_path / "typed.npz"
    np.savez(source, images=images.numpy(), labels=test.labels[:100].numpy())
    out = tmp_path / "hand.npz"
    code, _, err = _cli(
        ["translate", cycle_run.run_dir, "--samples", source, "--to", "handwritten", "--out", out], capsys
    )
    assert code == 0
    flagged = unreadable(load_reader(), images)
    assert {3, 7} <= set(flagged) and len(flagged) <= 5
    assert err.count("\n") == 1 and f"warning: {describe(flagged, 100)} cannot be read" in err
    with np.load(out) as result:
        assert result["images"].shape == (100, 28, 28) and result["images"].dtype == np.uint8
        assert (result["labels"] == test.labels[:100].numpy()).all()
    other = tmp_path / "other.npz"  # (out exists now: it would be refused without --force)
    code, _, err = _cli(["translate", tiny_run, "--samples", source, "--to", "typed", "--out", other], capsys)
    assert code == 2 and "cyclegan" in err
    args = ["translate", cycle_run.run_dir, "--samples", source, "--to", "fonts", "--out", out]
    code, _, err = _cli(args, capsys)  # argparse's own check, made one line (cli.Parser)
    assert code == 2 and "invalid choice: 'fonts'" in err


@pytest.mark.slow
def test_evaluate_measures_both_directions_beside_untranslated_and_floor(
    cycle_run, data_root, tmp_path, capsys, tiny_mnist_evaluator
):
    import json

    from digitgan.cli.main import build_parser

    # --n's default (10,000) takes a minute here; 1,000 follows the same path, and the default
    # is the parser's (every held-out typed digit, up to it, and 10,000 handwritten ones)
    assert build_parser().parse_args(["evaluate", "RUN"]).n == 10_000
    evaluator, out = tiny_mnist_evaluator, tmp_path / "metrics.json"
    args = ["evaluate", cycle_run.run_dir, "--evaluator", evaluator, "--data-root", data_root, "--out", out]
    code, stdout, _ = _cli([*args, "--n", "1000"], capsys)
    assert code == 0 and "typed -> handwritten" in stdout and "handwritten -> typed" in stdout
    report = json.loads(out.read_text())
    typed_test = len(load_dataset("typed", None, "test"))  # every held-out digit, up to --n
    for key, n in (("typed_to_handwritten", min(typed_test, 1000)), ("handwritten_to_typed", 1000)):
        d = report[key]
        assert d["n"] == n
        gap = (d["untranslated"]["fid"] - d["translated"]["fid"]) / (
            d["untranslated"]["fid"] - d["real_floor"]["fid"]
        )
        assert d["fid_gap_closed"] == pytest.approx(gap)
        assert 0 <= d["translated"]["conditional_accuracy"] <= 1
        per_digit = d["translated"]["digit_accuracy"]  # each digit's share, both ways
        assert len(per_digit) == 10 and all(0 <= a <= 1 for a in per_digit)
        worst = worst_digit(per_digit)
        assert worst[1] == min(per_digit) <= d["translated"]["conditional_accuracy"]
        assert f"{worst[0]}: {worst[1]:.2%}" in stdout.split("per digit")[1]
    # untranslated typed digits read by the MNIST evaluator: far from handwriting, still digits
    untranslated = report["typed_to_handwritten"]["untranslated"]
    assert untranslated["fid"] > 5 * report["typed_to_handwritten"]["real_floor"]["fid"]
    assert untranslated["conditional_accuracy"] > 0.5


def test_evaluate_refuses_a_dataset_and_too_few_digits(
    cycle_run, data_root, tmp_path, capsys, tiny_mnist_evaluator
):
    """(That --n is honoured both ways is the test above's, at 1,000.)"""
    base = ["evaluate", cycle_run.run_dir, "--evaluator", tiny_mnist_evaluator, "--data-root", data_root]
    for flags, needle in ((["--dataset", "mnist"], "--dataset"), (["--n", "50"], "--n")):
        code, _, err = _cli([*base, *flags, "--out", tmp_path / "other.json"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "other.json").exists()


def test_cyclegan_settings_are_checked_before_anything_is_written(tmp_path, capsys):
    for flags, needle in (
        (["--dataset", "fashion-mnist"], "use --dataset mnist"),
        (["--patch-layers", "4"], "--patch-layers: invalid choice: 4 (choose from 1, 2, 3)"),
        (["--decay-start", "1.5"], "--decay-start: must lie in [0, 1], got 1.5"),
        (["--cycle-lambda", "-1"], "must be a finite number >= 0"),
    ):
        code, _, err = _cli(["train", "--preset", "cyclegan", "--outdir", tmp_path / "runs", *flags], capsys)
        assert code == 2 and needle in err, flags
    assert not (tmp_path / "runs").exists()


def test_report_of_a_cyclegan_run_shows_its_grid_and_both_directions(cycle_run, tmp_path):
    import json
    import shutil

    from digitgan.evaluation.report import write_report

    run = tmp_path / "run"
    shutil.copytree(cycle_run.run_dir, run)
    page = write_report(run).read_text()
    assert "held-out typed digits above their translation" in page and "Not evaluated yet" in page
    direction = {
        "n": 100,
        "translated": {"conditional_accuracy": 0.9, "fid": 40.0},
        "untranslated": {"conditional_accuracy": 0.8, "fid": 300.0},
        "real_floor": {"conditional_accuracy": 0.99, "fid": 2.0},
        "fid_gap_closed": 0.87,
    }
    report = {"family": "cyclegan", "typed_to_handwritten": direction, "handwritten_to_typed": direction}
    (run / "metrics.json").write_text(json.dumps(report))
    page = write_report(run).read_text()
    assert "typed -&gt; handwritten" in page and "closes 87.0% of the FID gap" in page


def test_export_a_translator_to_onnx(cycle_run, tmp_path):
    """A cyclegan run exports its typed -> handwritten translator: source digits -> images."""
    import onnxruntime

    from digitgan.cyclegan.translation import load_translator
    from digitgan.generation.export import TOLERANCE

    out = tmp_path / "to_hand.onnx"
    assert main(["export", str(cycle_run.run_dir), "--onnx", str(out), "--to", "handwritten"]) == 0
    net, _ = load_translator(cycle_run.run_dir, "handwritten")
    source = torch.rand(9, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (images,) = session.run(None, {"source": source.numpy()})
    with torch.no_grad():
        assert abs(images - net(source).numpy()).max() <= TOLERANCE


def test_serve_writes_by_hand_as_the_command_does(cycle_run, tiny_run, tmp_path, capsys):
    """/api/handwrite on a cyclegan run gives the bytes of digitgan handwrite; a cyclegan run
    draws nothing from noise, and bad text is a one-line 422."""
    from fastapi.testclient import TestClient

    from digitgan.serving.app import create_app
    from digitgan.serving.loaded import load_runs

    out = tmp_path / "n.png"
    _cli(["handwrite", cycle_run.run_dir, "20 26", "--out", out, "--compare", "--seed", "3"], capsys)
    with TestClient(create_app(load_runs([cycle_run.run_dir, tiny_run]))) as client:
        name = cycle_run.run_dir.name
        listed = {r["name"]: r for r in client.get("/api/runs").json()}
        assert listed[name]["kind"] == "translator" and listed[tiny_run.name]["kind"] == "generator"
        query = {"run": name, "text": "20 26", "compare": "true", "seed": 3}
        response = client.get("/api/handwrite", params=query)
        assert response.status_code == 200 and response.content == out.read_bytes()
        assert response.headers["Digitgan-Unreadable"] == ""  # a held-out font's digits are read
        for path, params, words in (
            ("/api/handwrite", {"run": name, "text": "2x"}, "only digits"),
            ("/api/generate", {"run": name}, "/api/handwrite"),
            ("/api/interpolate", {"run": name, "seeds": "1,2"}, "/api/handwrite"),
        ):
            bad = client.get(path, params=params)
            assert bad.status_code == 422 and words in bad.json()["detail"], bad.text


def test_the_python_api_writes_and_translates_as_the_commands_do(cycle_run, tmp_path, capsys):
    """digitgan.load of a cyclegan run is a Translator: its handwriting is handwrite's PNG, and
    its translation translate's digits."""
    import digitgan

    translator = digitgan.load(cycle_run.run_dir)
    assert isinstance(translator, digitgan.Translator)
    out = tmp_path / "2026.png"
    assert _cli(["handwrite", cycle_run.run_dir, "20 26", "--out", out, "--compare"], capsys)[0] == 0
    assert translator.handwrite_png("20 26", compare=True) == out.read_bytes()
    assert translator.handwrite("20 26").size == (5 * 28 * 4, 28 * 4)  # 4x, spaces kept
    source, written = tmp_path / "typed.npz", tmp_path / "hand.npz"
    digits = load_dataset("typed", None, "test").images[:16].numpy()
    np.savez(source, images=digits)
    assert (
        _cli(
            ["translate", cycle_run.run_dir, "--samples", source, "--to", "handwritten", "--out", written],
            capsys,
        )[0]
        == 0
    )
    assert np.array_equal(translator.translate(digits, to="handwritten"), np.load(written)["images"])
    with pytest.warns(digitgan.UnreadableInput, match=r"16 of 16 inputs \(0, 1, 2, .*cannot be read"):
        translator.translate(255 - digits, to="handwritten")  # inverted: flagged, then translated
    with pytest.raises(digitgan.UserError, match="handwritten or typed"):
        translator.translate(digits, to="fonts")
    with pytest.raises(digitgan.UserError, match="generator's"):
        digitgan.load(cycle_run.run_dir, raw=True)
