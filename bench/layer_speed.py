"""A training step with digitgan's layers against the same step with PyTorch's own forms.

    python bench/layer_speed.py --data-root ../shared/data --steps 30 --rounds 7

digitgan computes four things differently from the obvious PyTorch code, with the same
function (tests/fast/test_layers.py bounds each difference by fp32 rounding): G's first and last
transposed convolutions as matrix products (fast/layers.py), D's K one-hot label planes as the
batch's class kernels times a fixed tap matrix, and the minibatch standard deviation with
its gradient written out (fast/minibatch_std.py); each keeps its tensors in one memory layout
(LayoutFlatten too), since PyTorch's elementwise kernels on two layouts at once are 10-20x
slower. This script builds two trainers per preset from the same seed, one switched
back to the former forms (kept below as references), steps both on real MNIST batches in
alternating rounds and reports the medians, their ratio, and the median of the rounds' own
ratios (each round's pair ran back to back, so it drifts least with a shared machine). JSON goes to
bench/results/layer_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F
from machine import cpu_name, result_header, seconds_per_step
from torch import nn

from digitgan.cli.argtypes import positive_int
from digitgan.config.presets import make_config
from digitgan.data.digits import endless_batches, load_dataset
from digitgan.fast.arithmetic import resolve_precision
from digitgan.fast.layers import LayoutFlatten, ProductConvTranspose2d
from digitgan.fast.minibatch_std import batch_spread
from digitgan.training.gan_family import GanFamily

PRESETS = ("dcgan", "cdcgan", "scdcgan")


def former_features(D: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """ConvDiscriminator.features as it was: K label planes' maps convolved and indexed, torch.std."""
    h = D.body[1:](former_first_layer(D, x, labels)) if D.classes else D.body(x)
    if D.mbstd:
        h = torch.cat([h, h.std(0, unbiased=False).mean().expand(h.shape[0], 49)], 1)
    return h


def former_first_layer(D: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    conv = D.body[0]
    weight = conv.weight
    h = F.conv2d(x, weight[:, :1], conv.bias, conv.stride, conv.padding)
    per_class = weight[:, 1:].transpose(0, 1).reshape(-1, 1, *weight.shape[2:])  # (K * w, 1, 4, 4)
    maps = F.conv2d(x.new_ones(1, 1, *x.shape[2:]), per_class, None, conv.stride, conv.padding)
    return h + maps.view(D.classes, -1, *h.shape[2:])[labels]


def use_former_forms(trainer: GanFamily) -> None:
    trainer.D.features = types.MethodType(former_features, trainer.D)
    for m in trainer.D.modules():
        if isinstance(m, LayoutFlatten):
            m.__class__ = nn.Flatten
    generators = [trainer.G] + ([trainer.ema.module] if trainer.ema is not None else [])
    for G in generators:
        for m in G.modules():
            if isinstance(m, ProductConvTranspose2d):
                m.__class__ = nn.ConvTranspose2d


class Stepper:
    def __init__(self, preset: str, former: bool, data) -> None:
        torch.manual_seed(0)
        self.trainer = GanFamily(make_config(preset), torch.device("cpu"))
        if former:
            use_former_forms(self.trainer)
        labels = data.labels
        if self.trainer.cfg.clusters:  # self-conditioning: clusters stand in for the labels
            labels = self.trainer.fit_clusters(data.images[:10_000], data.labels[:10_000]).assignment
        images = data.images[: len(labels)]
        rng = torch.Generator().manual_seed(1)
        self.batches = endless_batches(images, labels, self.trainer.cfg.batch_size, rng)

    def ms_per_step(self, steps: int) -> float:
        return 1e3 * seconds_per_step(self.trainer, self.batches, steps)


def measure(preset: str, data, steps: int, rounds: int) -> dict:
    steppers = {"former": Stepper(preset, True, data), "digitgan": Stepper(preset, False, data)}
    for s in steppers.values():
        s.ms_per_step(3)  # warm-up: allocator, oneDNN primitives
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, s in steppers.items():
            times[name].append(s.ms_per_step(steps))
    med = {name: statistics.median(t) for name, t in times.items()}
    cfg = steppers["digitgan"].trainer.cfg
    return {
        "preset": preset,
        "batch": cfg.batch_size,
        "arithmetic": steppers["digitgan"].trainer.arith.precision,
        "ms_per_step": med,
        "ms_per_step_rounds": times,
        "speedup": med["former"] / med["digitgan"],
        # each round's pair ran back to back: the median of their ratios drifts least with the machine
        "speedup_paired": statistics.median(
            f / d for f, d in zip(times["former"], times["digitgan"], strict=True)
        ),
    }


def layer_cases() -> dict[str, tuple]:
    """Each layer at scdcgan's shapes when measured (batch 64, G width 32, D width 48, 100 clusters; 200 since):
    (the former form, digitgan's form), both module-free callables of the same inputs."""
    from digitgan.models.networks import ConvDiscriminator

    torch.manual_seed(0)
    first, last = (
        ProductConvTranspose2d(150, 128, 7, 1, 0, bias=False),
        ProductConvTranspose2d(64, 1, 4, 2, 1),
    )
    z, h14 = torch.randn(64, 150, 1, 1, requires_grad=True), torch.randn(64, 64, 14, 14, requires_grad=True)
    D = ConvDiscriminator(48, 100, mbstd=True)
    x, labels = torch.randn(64, 1, 28, 28), torch.randint(0, 100, (64,))
    feats = torch.randn(64, 96 * 49, requires_grad=True)

    def former_std() -> torch.Tensor:
        return feats.std(0, unbiased=False).mean()

    def written_std() -> torch.Tensor:
        return batch_spread(feats)

    def transposed(layer: nn.Module, inp: torch.Tensor):
        return lambda: F.conv_transpose2d(inp, layer.weight, layer.bias, layer.stride, layer.padding)

    return {
        "G's first layer (1 x 1 -> 7 x 7)": (transposed(first, z), lambda: first(z)),
        "G's last layer (-> 1 channel)": (transposed(last, h14), lambda: last(h14)),
        "D's 100 label planes": (lambda: former_first_layer(D, x, labels), lambda: D.first_layer(x, labels)),
        "minibatch std": (former_std, written_std),
    }


def time_layers(rounds: int, reps: int, arithmetic: str) -> dict[str, dict]:
    """Each layer in both forms in ``arithmetic`` ("bf16": under autocast; "fp32"),
    alternating: a forward without autograd (as the D step draws its fakes) and a forward +
    backward (as the G step)."""
    rows = {}
    for name, forms in layer_cases().items():
        times: dict[str, list[float]] = {}
        for _ in range(rounds):
            for form_name, form in zip(("former", "digitgan"), forms, strict=True):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=arithmetic == "bf16"):
                    with torch.no_grad():
                        t = time.perf_counter()
                        for _ in range(reps):
                            form()
                        times.setdefault(f"{form_name}_forward_ms", []).append(
                            1e3 * (time.perf_counter() - t) / reps
                        )
                    t = time.perf_counter()
                    for _ in range(reps):
                        form().float().sum().backward()
                    times.setdefault(f"{form_name}_train_ms", []).append(
                        1e3 * (time.perf_counter() - t) / reps
                    )
        rows[name] = {key: statistics.median(v) for key, v in times.items()}
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--steps", type=int, default=30, help="steps per timed run")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds; medians are reported")
    p.add_argument("--presets", nargs="+", default=list(PRESETS), choices=PRESETS)
    p.add_argument("--reps", type=positive_int, default=20, help="calls per timed layer run")
    p.add_argument("--json", type=Path, default=Path("bench/results/layer_speed.json"))
    args = p.parse_args()
    data = load_dataset("mnist", args.data_root)
    print(f"{cpu_name()}, {torch.get_num_threads()} threads")
    print(
        f"{'preset':8} {'batch':>5} {'arith':>5} {'former ms':>9} {'digitgan ms':>11} {'speed-up':>8} {'paired':>7}"
    )
    rows = []
    for preset in args.presets:
        r = measure(preset, data, args.steps, args.rounds)
        rows.append(r)
        ms = r["ms_per_step"]
        print(
            f"{preset:8} {r['batch']:5d} {r['arithmetic']:>5} {ms['former']:9.1f} "
            f"{ms['digitgan']:11.1f} {r['speedup']:7.3f}x {r['speedup_paired']:6.3f}x",
            flush=True,
        )
    # the presets' own arithmetic here (`auto`): emulated bf16 would time what no run does
    arithmetic = resolve_precision("auto", torch.device("cpu"))
    layers = time_layers(args.rounds, args.reps, arithmetic)
    print(f"{f'layer, {arithmetic}, ms: former -> digitgan':34} {'forward':>14} {'forward + backward':>18}")
    for name, r in layers.items():
        fwd = f"{r['former_forward_ms']:.2f} -> {r['digitgan_forward_ms']:.2f}"
        train = f"{r['former_train_ms']:.2f} -> {r['digitgan_train_ms']:.2f}"
        print(f"{name:34} {fwd:>14} {train:>18}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    result = {
        **result_header(args.steps, args.rounds),
        "layers_arithmetic": arithmetic,
        "layers": layers,
        "rows": rows,
    }
    args.json.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
