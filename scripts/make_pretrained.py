"""Make a shipped model from a finished run folder: src/digitgan/pretrained/NAME/ with
config.json, model.safetensors (float16), metrics.json (the evaluator, n = 10,000) and the
model card README.md; and its lines in pretrained/SHA256SUMS.

    python scripts/make_pretrained.py cdcgan runs/00001-cdcgan --data-root ../shared/data \
        --command "digitgan train --preset cdcgan --epochs 24 --clusters 2 --mode-seeking 0.25"

The card records the command that trained the run (--command), the run's training time,
this CPU, digitgan's version and commit, and the figures; docs/pretrained.md says how each
shipped model was chosen.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from digitgan import __version__
from digitgan.config.train_config import TrainConfig
from digitgan.runs.checkpoint import load_config
from digitgan.runs.run_folder import read_stats
from digitgan.runs.shipped import CHECKED, NAMES, PRETRAINED_ROOT, SUMS, sha256

ROLES = {"cdcgan": ("G",), "scdcgan": ("G",), "cyclegan": ("to_handwritten", "to_typed")}
# Settings of the machine that trained it, not of the model: back to their defaults.
MACHINE = ("data_root", "device", "outdir", "evaluator")
ROOT = Path(__file__).resolve().parents[1]
# How far the tests' own evaluation (tests/api/test_pretrained.py) may land from the card's:
# an evaluator trained on another kernel path rounds differently. Measured on cdcgan's card
# (docs/pretrained.md): FID 9.3% apart, precision 0.011, recall 0.001, IS 0.0004, the
# requested digit 0; the margins are about twice to three times that.
REPRODUCE_WITHIN = {"fid_relative": 0.20, "precision": 0.03, "recall": 0.03, "is": 0.05, "accuracy": 0.005}


def pack_weights(run: Path, name: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Each network's EMA weights (its raw ones where the run kept no EMA), prefixed by role."""
    packed = {}
    for role in ROLES[name]:
        ema = run / "checkpoints" / f"{role}_ema.safetensors"
        state = load_file(ema if ema.exists() else run / "checkpoints" / f"{role}.safetensors")
        for key, tensor in state.items():
            packed[f"{role}.{key}"] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    return packed


def shipped_config(run: Path, epochs: int | None, truncation: float | None = None) -> TrainConfig:
    """The run's config with the machine's settings back at their defaults (and ``epochs``,
    for weights taken from a checkpoint before the run's end; ``truncation``, the noise's
    spread the model draws with, where it is not the run's)."""
    cfg = load_config(run / "checkpoints" / "config.json")
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.name in MACHINE}
    changed = {"epochs": epochs, "truncation": truncation}
    return dataclasses.replace(cfg, **defaults, **{k: v for k, v in changed.items() if v is not None})


def write_sums(name: str, folder: Path, files: tuple[str, ...] = CHECKED) -> None:
    """Replace ``name``'s lines in SHA256SUMS (sorted, as sha256sum -c reads them)."""
    lines = [line for line in (SUMS.read_text().splitlines() if SUMS.exists() else []) if line]
    lines = [line for line in lines if not line.split("  ", 1)[1].startswith(f"{name}/")]
    lines += [f"{sha256(folder / f)}  {name}/{f}" for f in files]
    SUMS.write_text("\n".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])) + "\n")


def evaluate(name: str, folder: Path, data_root: str, cas_n: int) -> dict:
    out = folder / "metrics.json"
    cmd = ["digitgan", "evaluate", "--pretrained", name, "--n", "10000", "--data-root", data_root]
    cmd += ["--out", str(out), "--force"] + (["--cas", "--cas-n", str(cas_n)] if cas_n else [])
    subprocess.run([str(Path(sys.executable).parent / cmd[0]), *cmd[1:]], check=True)
    return json.loads(out.read_text())


def training_facts(run: Path, cpu: str | None) -> dict:
    rows = read_stats(run / "stats.jsonl")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "minutes": rows[-1]["elapsed_s"] / 60 if rows else float("nan"),
        "cpu": cpu or cpu_name(),
        "torch": torch.__version__,
        "version": __version__,
        "commit": commit.stdout.strip() or "unknown",
    }


def cpu_name() -> str:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines() if "model name" in line), "")
    bf16 = "native bf16" if "avx512_bf16" in flags else "no native bf16"
    return f"{model or platform.processor()}, {torch.get_num_threads()} threads here, {bf16}"


def main() -> None:
    from card import write_card  # scripts/card.py, beside this file

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=NAMES)
    p.add_argument("run", type=Path, help="the finished run folder")
    p.add_argument("--command", required=True, help="the command that trained the run (for the card)")
    p.add_argument("--data-root", required=True)
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    p.add_argument("--cas-n", type=int, default=60_000, help="cdcgan's CAS digits (0: none)")
    p.add_argument("--reuse-figures", action="store_true", help="keep metrics.json (same weights)")
    p.add_argument("--epochs", type=int, help="the epochs its weights had, if taken before the run's end")
    p.add_argument("--truncation", type=float, help="the noise's spread it draws with, if not the run's")
    p.add_argument("--cpu", help="the CPU that trained it, in words (default: this one's name)")
    p.add_argument("--minutes", type=float, help="training time, if the run's own is not the one to quote")
    args = p.parse_args()
    folder = PRETRAINED_ROOT / args.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        shipped_config(args.run, args.epochs, args.truncation).to_json() + "\n"
    )
    meta = {"format": "pt"}  # one key: safetensors writes several in a random order per process
    (folder / "model.safetensors").write_bytes(
        save(pack_weights(args.run, args.name, getattr(torch, args.dtype)), metadata=meta)
    )
    write_sums(args.name, folder)
    if args.reuse_figures:  # the card rewritten around the figures measured before
        report = json.loads((folder / "metrics.json").read_text())
    else:
        report = evaluate(args.name, folder, args.data_root, args.cas_n if args.name == "cdcgan" else 0)
    report["reproduce_within"] = REPRODUCE_WITHIN
    facts = training_facts(args.run, args.cpu) | ({"minutes": args.minutes} if args.minutes else {})
    write_card(args.name, folder, report, facts, args.command)
    print(f"wrote {folder}: {(folder / 'model.safetensors').stat().st_size:,} bytes of weights")


if __name__ == "__main__":
    main()
