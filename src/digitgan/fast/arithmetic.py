"""How a training step does its arithmetic: bf16 autocast and the channels_last layout.

    python -c "from digitgan.fast.arithmetic import native_bf16; import torch; print(native_bf16(torch.device('cpu')))"

Mixed precision (Micikevicius et al. 2018, with bf16 instead of fp16 so that no loss scaling
is needed): under ``torch.autocast`` convolutions and matrix products run in bfloat16 while
the weights, their gradients and Adam's moments stay fp32 (the "master weights"), as do the
losses (every discriminator returns fp32 scores). Sampling, evaluation and checkpoints are
fp32 throughout. bf16 pays only where the hardware multiplies it natively: AVX512-BF16 or
AMX on a CPU, an Ampere or newer GPU; elsewhere oneDNN emulates it, slower than fp32, so
``auto`` picks bf16 only there. channels_last (NHWC) is the layout oneDNN's convolutions
prefer; it changes where numbers sit in memory, not which numbers are computed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


def native_bf16(device: torch.device) -> bool:
    """Does this device multiply bfloat16 in hardware?"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> bf16 where the device has it natively, else fp32; others unchanged."""
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return name


class Arithmetic:
    """One run's choice: :meth:`autocast` wraps the forward passes of a step, :meth:`layout`
    puts the networks and :meth:`input` each batch into the chosen memory format."""

    def __init__(self, precision: str, channels_last: bool, device: torch.device) -> None:
        self.precision = resolve_precision(precision, device)
        self.channels_last, self.device = channels_last, device

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            yield

    def layout(self, *modules: nn.Module) -> None:
        if self.channels_last:
            for module in modules:
                module.to(memory_format=torch.channels_last)

    def input(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last and images.dim() == 4:
            return images.contiguous(memory_format=torch.channels_last)
        return images

    def describe(self) -> str:
        return self.precision + (", channels_last" if self.channels_last else "")
