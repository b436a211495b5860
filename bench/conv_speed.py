"""Convolutional training speed by arithmetic and layout: ms per step against the FLOP floor.

    python bench/conv_speed.py --data-root ../shared/data --steps 20 --rounds 3

For each convolutional preset (dcgan, cdcgan, wgan-gp, cyclegan) and each option (fp32;
channels_last; bf16 autocast; both; torch.compile of G and D, for dcgan and cdcgan; both at
twice the batch; bf16 with a wider D, or a narrower G and a wider D, and G learning from the
D step's fakes (--shared-fakes), for the GAN presets; scdcgan on request),
one trainer is built from the preset's seed and stepped on real MNIST batches; the options
take turns within each round and the median of the rounds is reported, so that a noisy
machine slows them alike. The FLOP floor is a step's FLOPs (the formulas of PyTorch's
FlopCounterMode: every convolution and matrix product, forward and backward) at this
machine's matrix-product peak, measured in fp32, and in bf16 where the CPU multiplies it
natively (elsewhere bf16 is emulated, and its column is "-"). Speed-ups are against the
same preset's fp32 row of the same rounds. JSON goes to bench/results/conv_speed.json.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
from pathlib import Path

import torch
from machine import cpu_name, result_header, seconds_per_step
from throughput import matmul_peak
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from digitgan.cli.argtypes import nonneg_int
from digitgan.config.presets import PRESETS as PRESET_TABLE
from digitgan.config.presets import make_config
from digitgan.data.digits import endless_batches, load_dataset
from digitgan.fast.arithmetic import native_bf16
from digitgan.training.family import build_family

# The convolutional presets, from the registry; those with clusters (scdcgan: k-means of the
# data first) only on request.
CONVOLUTIONAL = tuple(name for name in PRESET_TABLE if make_config(name).convolutional)
PRESETS = tuple(name for name in CONVOLUTIONAL if not make_config(name).clusters)
# Every option names both settings: a preset's own defaults (cyclegan: auto, NHWC) must not leak in.
FP32, BF16 = {"precision": "fp32"}, {"precision": "bf16"}
NCHW, NHWC = {"channels_last": False}, {"channels_last": True}
OPTIONS: dict[str, dict] = {
    "fp32": {**FP32, **NCHW},
    "channels_last": {**FP32, **NHWC},
    "bf16": {**BF16, **NCHW},
    "bf16 + channels_last": {**BF16, **NHWC},
    "torch.compile (fp32)": {**FP32, **NCHW, "compile": True},
    "bf16 + channels_last, batch x2": {**BF16, **NHWC, "batch": 2},
    "channels_last, batch x2": {**FP32, **NHWC, "batch": 2},  # where bf16 is not native
    # other shapes of the GAN family's networks (issue 13: a cheaper architecture at the same quality)
    "bf16, D width 48": {**BF16, **NCHW, "d_width": 48},
    "bf16, G width 24, D width 48": {**BF16, **NCHW, "hidden_dim": 24, "d_width": 48},
    "D width 48": {**FP32, **NCHW, "d_width": 48},
    "G width 24, D width 48": {**FP32, **NCHW, "hidden_dim": 24, "d_width": 48},
    # one G forward a step: G learns from the D step's fakes (--shared-fakes)
    "bf16 + channels_last, shared fakes": {**BF16, **NHWC, "shared_fakes": True},
    "bf16, shared fakes": {**BF16, **NCHW, "shared_fakes": True},
    "channels_last, shared fakes": {**FP32, **NHWC, "shared_fakes": True},
    # a hidden fully-connected layer in D (--d-hidden)
    "bf16 + channels_last, D hidden 256": {**BF16, **NHWC, "d_hidden": 256},
    "channels_last, D hidden 256": {**FP32, **NHWC, "d_hidden": 256},  # where bf16 is not native
    # the layer paid for by a narrower G (G's 14 x 14 layer costs (24/32)**2 of its arithmetic)
    "bf16 + channels_last, G width 24, D hidden 256": {**BF16, **NHWC, "hidden_dim": 24, "d_hidden": 256},
    "channels_last, G width 24, D hidden 256": {**FP32, **NHWC, "hidden_dim": 24, "d_hidden": 256},
    # DCGAN's widths without D's hidden layer: cdcgan's shape until 2026-12-02, to time it against
    "bf16 + channels_last, G width 32, no D hidden": {**BF16, **NHWC, "hidden_dim": 32, "d_hidden": 0},
    "channels_last, G width 32, no D hidden": {**FP32, **NHWC, "hidden_dim": 32, "d_hidden": 0},
}
GAN_ONLY = ("d_width", "hidden_dim", "shared_fakes", "d_hidden")  # settings of the GAN family alone


# torch.compile here wraps a GAN's G and D; the gradient penalty's double backward does
# not run through a compiled module (autograd.grad refuses), and cyclegan has four networks.
NOT_COMPILED = ("wgan-gp", "cyclegan")


def applies(preset: str, option: str) -> bool:
    """Whether ``option`` exists for ``preset``: compiling as above; the widths are the GAN
    family's DCGAN networks (cyclegan's ResNet and PatchGAN have their own), and so is the
    shared fakes' step."""
    if OPTIONS[option].get("compile"):
        return preset not in NOT_COMPILED
    return preset != "cyclegan" or not any(k in OPTIONS[option] for k in GAN_ONLY)


class CountFlops(TorchDispatchMode):
    """FlopCounterMode's per-op formulas without its module hooks, which refuse the gradient
    penalty's ``autograd.grad`` (wgan-gp)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


class Stepper:
    """One preset's trainer in one option, fed real batches forever."""

    def __init__(self, preset: str, option: dict, data) -> None:
        option = dict(option)
        compile_, scale = option.pop("compile", False), option.pop("batch", 1)
        batch = make_config(preset).batch_size * scale
        self.cfg = make_config(preset, batch_size=batch, **option)
        self.trainer = build_family(self.cfg, torch.device("cpu"), 10**6, io.StringIO())
        if compile_:  # the GAN family's two networks; the first steps compile them
            self.trainer.G, self.trainer.D = torch.compile(self.trainer.G), torch.compile(self.trainer.D)
        rng = torch.Generator().manual_seed(1)
        self._batches = endless_batches(data.images, data.labels, self.cfg.batch_size, rng)

    def flops(self) -> int:
        with CountFlops() as counter:
            self.trainer.step(*next(self._batches))
        return counter.total

    def seconds_per_step(self, steps: int) -> float:
        return seconds_per_step(self.trainer, self._batches, steps)


def measure(presets, options, steps: int, rounds: int, warmup: int, data) -> dict[str, dict]:
    steppers = {(p, o): Stepper(p, OPTIONS[o], data) for p in presets for o in options if applies(p, o)}
    flops = {key: s.flops() for key, s in steppers.items()}
    for s in steppers.values():  # warm-up: allocator, oneDNN primitives, compilation
        if warmup:
            s.seconds_per_step(warmup)
    times: dict = {key: [] for key in steppers}
    for _ in range(rounds):
        for key, s in steppers.items():
            times[key].append(s.seconds_per_step(steps))
    return {
        f"{p}, {o}": {
            "preset": p,
            "option": o,
            "batch": steppers[p, o].cfg.batch_size,
            "ms_per_step": 1e3 * statistics.median(times[p, o]),
            "ms_per_step_rounds": [1e3 * t for t in times[p, o]],
            "gflop_per_step": flops[p, o] / 1e9,
        }
        for p, o in steppers
    }


def add_ratios(rows: dict[str, dict], peak32: float, peak16: float | None) -> None:
    for row in rows.values():
        base = rows[f"{row['preset']}, fp32"]
        per_image = row["ms_per_step"] / row["batch"]
        row["images_per_s"] = 1e3 / per_image
        row["speedup_per_image"] = (base["ms_per_step"] / base["batch"]) / per_image
        row["times_fp32_floor"] = _times_floor(row, peak32)
        row["times_bf16_floor"] = _times_floor(row, peak16)


def _times_floor(row: dict, peak: float | None) -> float | None:
    """The step's time over its FLOPs' time at ``peak`` GFLOP/s; None where no peak was measured."""
    return row["ms_per_step"] / (1e3 * row["gflop_per_step"] / peak) if peak else None


def print_table(rows: dict[str, dict], peak32: float, peak16: float | None) -> None:
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, native bf16: {native_bf16(torch.device('cpu'))}")
    bf16_peak = f"{peak16:.0f} GFLOP/s" if peak16 else "not measured (emulated here)"
    print(f"matrix-product peak: fp32 {peak32:.0f} GFLOP/s, bf16 {bf16_peak}")
    print(
        f"{'preset':9} {'option':32} {'batch':>5} {'ms/step':>8} {'img/s':>7} {'speed-up':>8} "
        f"{'GFLOP':>6} {'x fp32 floor':>12} {'x bf16 floor':>12}"
    )
    for r in rows.values():
        print(
            f"{r['preset']:9} {r['option']:32} {r['batch']:5d} {r['ms_per_step']:8.1f} "
            f"{r['images_per_s']:7.0f} {r['speedup_per_image']:7.2f}x {r['gflop_per_step']:6.2f} "
            f"{r['times_fp32_floor']:11.2f}x {_ratio_text(r['times_bf16_floor']):>12}"
        )


def _ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def bf16_peak(device: torch.device) -> float | None:
    """The bf16 matrix-product peak where the hardware multiplies bf16 natively; None
    elsewhere, where emulation runs the 2048 x 2048 products for minutes to measure no floor."""
    return matmul_peak(device, dtype=torch.bfloat16) if native_bf16(device) else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--steps", type=int, default=20, help="steps per timed run")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are reported")
    p.add_argument(
        "--warmup", type=nonneg_int, default=3, help="untimed steps of each option before the rounds"
    )
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=CONVOLUTIONAL)
    p.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    p.add_argument("--json", type=Path, default=Path("bench/results/conv_speed.json"))
    args = p.parse_args()
    options = ["fp32"] + [o for o in args.options if o != "fp32"]  # the baseline of every ratio
    data = load_dataset("mnist", args.data_root)
    cpu = torch.device("cpu")
    peak32, peak16 = matmul_peak(cpu), bf16_peak(cpu)
    rows = measure(args.presets, options, args.steps, args.rounds, args.warmup, data)
    add_ratios(rows, peak32, peak16)
    print_table(rows, peak32, peak16)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        **result_header(args.steps, args.rounds),
        "native_bf16": native_bf16(torch.device("cpu")),
        "peak_gflops": {"fp32": peak32, "bf16": peak16},
        "rows": rows,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
