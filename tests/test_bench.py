"""The benchmarks run from a clone and write what the README quotes. No wall-clock
assertions: only that the figures exist, are consistent, and count the right work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from digitgan.fast.arithmetic import resolve_precision

REPO = Path(__file__).resolve().parents[1]


def run_bench(script: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args], check=True, cwd=REPO, capture_output=True
    )


def seed_step_flops(batch: int = 100, latent: int = 64, hidden: int = 256, image: int = 784) -> int:
    """FLOPs of one seed step from the layer sizes (2 per multiply-add)."""
    g_layers = [(latent, hidden), (hidden, hidden), (hidden, image)]
    d_layers = [(image, hidden), (hidden, hidden), (hidden, 1)]

    def fwd(layers, rows):
        return sum(2 * rows * i * o for i, o in layers)

    # D step: G forward (no graph); D forward on 2B rows; D backward: weight gradients of
    # every layer, input gradients of all but the first (the images need none).
    d_step = fwd(g_layers, batch) + 2 * fwd(d_layers, 2 * batch) + fwd(d_layers[1:], 2 * batch)
    # G step: G and D forward; D backward to its input only; G backward: weight gradients
    # of every layer, input gradients of all but the first (z needs none).
    g_step = (
        fwd(g_layers, batch) + 2 * fwd(d_layers, batch) + 2 * fwd(g_layers, batch) - fwd(g_layers[:1], batch)
    )
    return d_step + g_step


@pytest.mark.slow
def test_throughput_benchmark(tmp_path, data_root):
    out = tmp_path / "throughput.json"
    args = ["--steps", "5", "--rounds", "1", "--warmup", "2", "--memory-epochs", "1", "--json", str(out)]
    run_bench("throughput.py", "--data-root", str(data_root), *args)
    result = json.loads(out.read_text())
    rows = result["presets"]
    expected = {"tutorial (seed)", "seed, autograd", "seed", "dcgan", "seed, kernels", "dcgan, kernels"}
    assert set(rows) == expected
    assert rows["seed"]["gflop_per_step"] * 1e9 == seed_step_flops() == 568_934_400
    for row in rows.values():
        assert row["ms_per_step"] > 0 and row["floor_s_per_epoch"] > 0
        assert row["times_floor"] == pytest.approx(row["s_per_epoch"] / row["floor_s_per_epoch"])
    assert result["peak_gflops"] > 0 and result["device"].endswith("threads")  # ran on the CPU
    assert set(result["sampling_10k_s"]) == {"seed", "dcgan"}
    assert len(result["seed_rss_mb_after_epochs"]) == 2


def test_seed_vs_tutorial_benchmark(tmp_path, data_root):
    out = tmp_path / "svt.json"
    run_bench(
        "seed_vs_tutorial.py",
        "--data-root",
        str(data_root),
        "--steps",
        "10",
        "--rounds",
        "1",
        "--json",
        str(out),
    )
    result = json.loads(out.read_text())
    med = result["median_seconds_per_epoch"]
    assert set(med) == {"tutorial", "autograd", "digitgan"}
    assert result["speedup"] == pytest.approx(med["tutorial"] / med["digitgan"])
    assert result["machine"]["cores"] >= 1


@pytest.mark.slow
def test_conv_speed_benchmark(tmp_path, data_root):
    """One bf16 option (emulated, seconds a step, on a CPU without native bf16); the others
    in fp32, whose FLOP counts are the same as bf16's."""
    out = tmp_path / "conv_speed.json"
    options = ["bf16 + channels_last", "channels_last, batch x2"]
    presets = ["dcgan", "wgan-gp"]  # wgan-gp: FLOPs counted through the penalty's double backward
    shapes = ["D width 48", "G width 24, D width 48"]
    shared = "channels_last, shared fakes"  # one G forward a step instead of two
    args = ["--steps", "1", "--rounds", "1", "--warmup", "0", "--presets", *presets, "--options", *options, *shapes, shared]  # fmt: skip
    run_bench("conv_speed.py", "--data-root", str(data_root), *args, "--json", str(out))
    result = json.loads(out.read_text())
    rows = result["rows"]
    # fp32: every ratio's base
    assert set(rows) == {f"{p}, {o}" for p in presets for o in ["fp32", *options, *shapes, shared]}
    wider_d, narrower_g = (rows[f"dcgan, {o}"]["gflop_per_step"] for o in shapes)
    assert rows["dcgan, fp32"]["gflop_per_step"] < wider_d and narrower_g < wider_d  # the shapes are built
    assert rows["wgan-gp, fp32"]["gflop_per_step"] > 0
    base = rows["dcgan, fp32"]
    # the bf16 floor only where bf16 is native: emulation would time minutes of products for no floor
    assert (result["peak_gflops"]["bf16"] is None) == (not result["native_bf16"])
    assert (base["times_bf16_floor"] is None) == (not result["native_bf16"])
    assert base["speedup_per_image"] == 1.0 and base["batch"] == 128
    assert rows["dcgan, channels_last, batch x2"]["batch"] == 256
    saved = base["gflop_per_step"] - rows[f"dcgan, {shared}"]["gflop_per_step"]
    assert 0 < saved < base["gflop_per_step"] / 3  # G's forward alone
    for row in (r for r in rows.values() if r["preset"] == "dcgan" and r["option"] not in [*shapes, shared]):
        # the FLOP count is the arithmetic's, not the layout's or the precision's
        per_image = row["gflop_per_step"] / row["batch"]
        assert per_image == pytest.approx(base["gflop_per_step"] / base["batch"], rel=1e-6)
        assert row["times_fp32_floor"] == pytest.approx(
            row["ms_per_step"] / (1e3 * row["gflop_per_step"] / result["peak_gflops"]["fp32"])
        )


def test_layer_speed_benchmark(tmp_path, data_root):
    """bench/layer_speed.py times digitgan's layers against the former forms it keeps as
    references; the comparison is fair only if those compute the same function: from the
    same weights (fp32), the same D logits and G digits to rounding."""
    sys.path.insert(0, str(REPO / "bench"))
    from layer_speed import use_former_forms

    from digitgan.config.presets import make_config
    from digitgan.training.gan_family import GanFamily

    cfg = make_config("cdcgan", precision="fp32")
    ours, former = GanFamily(cfg, torch.device("cpu")), GanFamily(cfg, torch.device("cpu"))
    former.load_state(*ours.state(), Path("same-weights"))
    use_former_forms(former)
    assert (
        type(former.G.net[0]) is torch.nn.ConvTranspose2d
        and type(ours.G.net[0]) is not torch.nn.ConvTranspose2d
    )
    x, labels, z = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10, torch.randn(16, 100)
    torch.testing.assert_close(former.D(x, labels), ours.D(x, labels), rtol=0, atol=1e-5)
    torch.testing.assert_close(former.G(z, labels), ours.G(z, labels), rtol=0, atol=1e-5)

    out = tmp_path / "layer_speed.json"
    run_bench(
        "layer_speed.py",
        "--data-root",
        str(data_root),
        "--steps",
        "1",
        "--rounds",
        "2",
        "--reps",
        "1",
        "--presets",
        "cdcgan",
        "--json",
        str(out),
    )
    result = json.loads(out.read_text())
    assert len(result["layers"]) == 4
    # the presets' own arithmetic on this CPU: emulated bf16 would time what no run does
    assert result["layers_arithmetic"] == resolve_precision("auto", torch.device("cpu"))
    assert all(len(r) == 4 and min(r.values()) > 0 for r in result["layers"].values())
    (row,) = result["rows"]
    assert row["preset"] == "cdcgan" and row["batch"] == 64 and len(row["ms_per_step_rounds"]["former"]) == 2
    assert row["speedup"] == pytest.approx(row["ms_per_step"]["former"] / row["ms_per_step"]["digitgan"])


@pytest.mark.slow
def test_serve_load_benchmark(tmp_path, preset_runs):
    """A small version of bench/serve_load.py: every request answered, the table's figures
    consistent (no timing assertion)."""
    out = tmp_path / "serve_load.json"
    runs = [str(preset_runs["seed"]), str(preset_runs["cdcgan"])]
    args = ["--requests", "40", "--concurrency", "4", "--ns", "1,16", "--rates", "10", "--seconds", "1"]
    run_bench("serve_load.py", "--runs", *runs, *args, "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert [(r["preset"], r["n"]) for r in rows] == [("seed", 1), ("seed", 16), ("cdcgan", 1), ("cdcgan", 16)]
    for r in rows:
        assert r["requests"] == 40 and r["errors"] == 0 and r["p50_ms"] <= r["p99_ms"]
        assert r["open_loop"][0]["rate"] == 10 and r["open_loop"][0]["requests"] == 20


@pytest.mark.slow
def test_ddp_throughput_benchmark(tmp_path, data_root):
    """A small version of bench/ddp_throughput.py: three layouts, each a real figure."""
    out = tmp_path / "ddp.json"
    run_bench(
        "ddp_throughput.py",
        "--data-root",
        str(data_root),
        "--presets",
        "seed",
        "--rounds",
        "1",
        "--limit",
        "400",
        "--json",
        str(out),
    )
    rows = json.loads(out.read_text())["rows"]
    assert [r["layout"] for r in rows] == [
        "1 process x 1 thread",
        "1 process x 2 threads",
        "2 processes x 1 thread",
    ]
    assert all(r["images_per_s"] > 0 and r["runs"] == [r["images_per_s"]] for r in rows)


@pytest.mark.slow
def test_time_to_quality_benchmark(tmp_path, data_root, tiny_evaluator):
    """A small version of bench/time_to_quality.py: a curve per preset that starts untrained
    and ends at the budget, minutes consistent with the curve and the goals; scdcgan fits
    its clusters first, as training does. The clock is read after every step, so that a
    slow or busy CPU still gives each second of budget its own evaluation (ten steps of
    scdcgan took 2.5 s on a loaded 2-core machine, the whole budget)."""
    # --limit: scdcgan's k-means on 2,000 digits, not a minute on 60,000
    args = ["--presets", "seed", "cgan", "scdcgan", "--budget", "2", "--interval", "1", "--check-every", "1", "--limit", "2000", "--n", "500"]  # fmt: skip
    run_bench("time_to_quality.py", "--data-root", str(data_root), "--evaluator", str(tiny_evaluator),
              *args, "--out", str(tmp_path))  # fmt: skip
    result = json.loads((tmp_path / "time_to_quality.json").read_text())
    assert (tmp_path / "time_to_quality.png").stat().st_size > 0
    assert set(result["presets"]) == {"seed", "cgan", "scdcgan"}
    assert result["n"] == 500 and result["limit"] == 2000
    goal = 5 * result["real_floor"]["fid"]
    for preset in result["presets"].values():
        curve, summary = preset["curve"], preset["summary"]
        assert curve[0]["steps"] == 0 and curve[-1]["train_s"] >= 2
        assert [r["steps"] for r in curve] == sorted(r["steps"] for r in curve) and len(curve) >= 3
        assert summary["best_fid"] == min(r["fid"] for r in curve)
        reached = [r["train_s"] / 60 for r in curve if r["fid"] <= goal]
        assert summary["minutes_to_fid_goal"] == (reached[0] if reached else None)
    run_bench("time_to_quality.py", "--data-root", str(data_root), "--evaluator", str(tiny_evaluator),
              *args[:1], "cgan", *args[4:], "--out", str(tmp_path), "--update")  # fmt: skip
    updated = json.loads((tmp_path / "time_to_quality.json").read_text())["presets"]
    assert list(updated) == ["seed", "cgan", "scdcgan"] and updated["seed"] == result["presets"]["seed"]
    assert all(r["machine"] and r["date"] for r in updated.values())  # each row says where and when
    other_n = [*args[:-1], "400", "--out", str(tmp_path), "--update"]
    with pytest.raises(subprocess.CalledProcessError) as refused:  # other settings: not one table
        run_bench("time_to_quality.py", "--data-root", str(data_root), *other_n)
    assert b"was measured with other n" in refused.value.stderr


def test_time_to_quality_refuses_to_never_look_at_the_clock(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as refused:
        run_bench("time_to_quality.py", "--check-every", "0", "--out", str(tmp_path))
    assert b"argument --check-every: must be >= 1, got 0" in refused.value.stderr
    assert not list(tmp_path.iterdir())  # refused before any work


def test_rejection_benchmark(tmp_path, preset_runs, data_root, tiny_evaluator):
    """A small version of bench/rejection.py: keeping everything is the first n drawn; a
    smaller share keeps, per digit, the candidates the run's D scores highest."""
    sys.path.insert(0, str(REPO / "bench"))
    from rejection import kept

    labels = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1] * 10)  # 80 candidates: 40 per digit, 0 and 1 only
    scores = torch.arange(80.0)
    every = kept(labels, scores, 20, 1.0)  # keep 1: the first two zeros, the first two ones
    assert sorted(every[:2].tolist()) == [0, 1] and sorted(every[2:].tolist()) == [2, 3]
    best = kept(labels, scores, 20, 0.5)  # the better half of the first 4 zeros, then of the ones
    assert sorted(best[:2].tolist()) == [4, 5] and sorted(best[2:].tolist()) == [6, 7]
    out = tmp_path / "rejection.json"
    args = ["--n", "100", "--keep", "1", "0.5", "--evaluator", str(tiny_evaluator), "--json", str(out)]
    run_bench("rejection.py", str(preset_runs["cdcgan"]), "--data-root", str(data_root), *args)
    rows = json.loads(out.read_text())["rows"]
    assert [r["keep"] for r in rows] == [1.0, 0.5] and all(0 <= r["precision"] <= 1 for r in rows)


def test_startup_benchmark(tmp_path):
    """bench/startup.py: each command timed in fresh processes beside torch's own import."""
    out = tmp_path / "startup.json"
    run_bench("startup.py", "--rounds", "1", "--no-warmup", "--json", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert {"digitgan --help", 'python -c "import torch"'} <= set(rows)
    assert rows['python -c "import torch"']["of_torch_import"] == 1.0
    assert all(len(r["runs_s"]) == 1 and r["median_s"] > 0 for r in rows.values())


def test_unseen_fonts_benchmark(tmp_path, data_root):
    """bench/unseen_fonts.py on the shipped cyclegan: per digit and package, where the unseen
    font packages are installed; where none is (CI installs only the training fonts), one
    line saying which to install."""
    from digitgan.data.unseen_fonts import unseen_fonts

    out = tmp_path / "unseen.json"
    args = ["--per-digit", "1", "--fonts-per-package", "1", "--data-root", str(data_root), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "unseen_fonts.py"), "cyclegan", *args],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    if not unseen_fonts()[0]:
        assert done.returncode == 2 and "apt-get install -y fonts-" in done.stderr and not out.exists()
        return
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    n = report["fonts"] * 10
    assert report["translated"]["n"] == report["untranslated"]["n"] == n
    assert set(report["translated"]["per_digit"]) == {str(d) for d in range(10)}
    worst = report["translated"]["worst_digit"]
    assert worst["read_as_source"] == min(report["translated"]["per_digit"].values())
    assert report["translated_readable"]["n"] == n - report["unreadable"]["n"]
