"""ONNX export of a run's generator, so that other runtimes draw digits without PyTorch.

    digitgan export runs/00001-cdcgan --onnx G.onnx

The exported graph is the generator digitgan samples with (the EMA weights when the run
kept them), in eval mode, with a dynamic batch axis:

- a GAN run: ``z`` (B, latent_dim) float32 [and ``labels`` (B,) int64 digits for a
  conditional run] -> ``images`` (B, 1, 28, 28) float32 in [-1, 1];
- a cyclegan run: ``source`` (B, 1, 28, 28) in [-1, 1] -> ``images``, their translation (``--to``).

After writing, the file is run in onnxruntime on 64 inputs drawn from ``--seed`` and
compared with PyTorch's output; the largest difference is reported, and an export that
disagrees by more than ``TOLERANCE`` is not kept.
"""

from __future__ import annotations

import io
import os
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch
from torch import nn

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes
from digitgan.basics.safe_output import check_output_file
from digitgan.runs.checkpoint import is_cyclegan_run, load_generator

TOLERANCE = 1e-5  # fp32 graphs compiled by two runtimes: a few ulps of values in [-1, 1]
CHECK_BATCH = 64
MAX_BATCH = 65_536  # the dynamic batch axis's upper bound


class NoiseToDigits(nn.Module):
    """G(z) for an unconditional run (a self-conditioned G picks its clusters from z)."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.G(z)


class NoiseAndDigitToDigits(NoiseToDigits):
    """G(z, labels) for a conditional run."""

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return self.G(z, labels)


def exportable(run_dir: Path, to: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """The module to export, in eval mode, and example inputs by name (drawn from seed 0)."""
    rng = torch.Generator().manual_seed(0)
    if is_cyclegan_run(run_dir):
        from digitgan.cyclegan.translation import load_translator

        net, _ = load_translator(run_dir, to)
        return net.eval(), {"source": torch.rand(2, 1, 28, 28, generator=rng) * 2 - 1}
    G, cfg = load_generator(run_dir)
    z = torch.randn(2, cfg.latent_dim, generator=rng)
    if cfg.conditional:
        return NoiseAndDigitToDigits(G).eval(), {"z": z, "labels": torch.tensor([3, 7])}
    return NoiseToDigits(G).eval(), {"z": z}


def onnx_bytes(module: nn.Module, example: dict[str, torch.Tensor]) -> bytes:
    """The module as an ONNX file's bytes, its batch axis dynamic."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"ONNX export needs the onnx and onnxscript packages ({exc.name} is missing): "
            "pip install 'digitgan[export]'"
        ) from exc
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    shapes = tuple({0: batch} for _ in example)  # by position: the modules name their inputs differently
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            tuple(example.values()),
            input_names=list(example),
            output_names=["images"],
            dynamic_shapes=shapes,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    return program.model_proto.SerializeToString()


def check_in_onnxruntime(
    data: bytes, module: nn.Module, example: dict[str, torch.Tensor], seed: int
) -> float:
    """The largest |onnxruntime - PyTorch| over CHECK_BATCH inputs drawn from ``seed``."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise UserError("checking the export needs onnxruntime: pip install 'digitgan[export]'") from exc
    rng = torch.Generator().manual_seed(seed)
    inputs = {}
    for name, value in example.items():
        if name == "labels":
            inputs[name] = torch.randint(0, 10, (CHECK_BATCH,), generator=rng)
        elif name == "source":
            inputs[name] = torch.rand(CHECK_BATCH, 1, 28, 28, generator=rng) * 2 - 1
        else:
            inputs[name] = torch.randn(CHECK_BATCH, *value.shape[1:], generator=rng)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1  # a check, not a benchmark: no thread pool to start
    session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    (theirs,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        ours = module(*inputs.values()).float().numpy()
    return float(np.abs(theirs - ours).max())


def export_onnx(
    run_dir: Path, out: Path, to: str = "handwritten", seed: int = 0, force: bool = False
) -> dict:
    """Write the run's generator to the .onnx file ``out`` (atomically, after the check; an
    existing file only with ``force``); return a summary."""
    out = check_output_file(out, "--onnx", (".onnx",), force)
    module, example = exportable(run_dir, to)
    data = onnx_bytes(module, example)
    diff = check_in_onnxruntime(data, module, example, seed)
    if diff > TOLERANCE:
        raise UserError(
            f"the ONNX graph differs from PyTorch by {diff:.2e} (> {TOLERANCE:.0e}); nothing was written. "
            "Please report it with the run's config.json"
        )
    atomic_write_bytes(out, data)
    return {
        "out": os.fspath(out),
        "bytes": len(data),
        "inputs": {k: list(v.shape[1:]) for k, v in example.items()},
        "max_abs_diff": diff,
    }
