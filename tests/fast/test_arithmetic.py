"""bf16 autocast and channels_last: the same step in another arithmetic or layout.

Each comparison starts both trainers from the same state (same seed, same weights, same
noise) and takes one step with each; the tolerances follow from the rounding of the
arithmetic compared (tests/floats.py for fp32), not from one CPU's results.
"""

from __future__ import annotations

import math

import pytest
import torch
from floats import EPS

from digitgan.config.presets import make_config
from digitgan.fast.arithmetic import native_bf16, resolve_precision
from digitgan.training.gan_family import GanFamily

BF16_EPS = torch.finfo(torch.bfloat16).eps  # 2^-7: 8 significant bits
# One step of a 4-layer conv network and back: every product rounds both operands to 8 bits
# (relative 2^-8 each, summed in fp32), about 8 such roundings on a gradient's way through
# forward and backward, adding like random errors: sqrt(8) * 2 * 2^-8 ~ 0.022 of the norm;
# twice that for headroom. A wrong gradient (a dropped term, a sign) is off by O(1).
BF16_ROUNDING = 2 * math.sqrt(8) * 2 * (BF16_EPS / 2)
# fp32 with a BatchNorm: its batch mean sums B x 7 x 7 = 6,272 terms (128 digits), the
# widest sum of the step; sqrt of that in units of eps, times the six products of
# tests/floats.py.
FP32_ROUNDING = 6 * math.sqrt(128 * 49) * EPS


def relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double().reshape(-1), b.detach().double().reshape(-1)
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def one_step(**overrides) -> tuple[GanFamily, dict[str, torch.Tensor]]:
    """A small dcgan trainer's first step on a fixed batch of 128 digits."""
    cfg = make_config("dcgan", hidden_dim=8, **overrides)
    trainer = GanFamily(cfg, torch.device("cpu"))
    real = torch.rand(cfg.batch_size, 1, 28, 28, generator=torch.Generator().manual_seed(9)) * 2 - 1
    return trainer, trainer.step(real)


def d_grads(trainer: GanFamily) -> torch.Tensor:
    """D's gradients of the step's D update (from the shared starting state), flattened."""
    return torch.cat([p.grad.reshape(-1) for p in trainer.D.parameters()])


def test_channels_last_computes_the_same_step():
    plain, out_plain = one_step()
    nhwc, out_nhwc = one_step(channels_last=True)
    assert nhwc.D.body[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert relative_gap(out_nhwc["d_loss"], out_plain["d_loss"]) <= FP32_ROUNDING
    assert relative_gap(d_grads(nhwc), d_grads(plain)) <= FP32_ROUNDING


def test_bf16_autocast_rounds_products_but_keeps_fp32_weights_and_losses():
    fp32, out32 = one_step()
    bf16, out16 = one_step(precision="bf16")
    # master weights, their gradients, Adam's moments and every output stay fp32
    assert {p.dtype for p in bf16.G.parameters()} | {p.grad.dtype for p in bf16.D.parameters()} == {
        torch.float32
    }
    assert {s["exp_avg"].dtype for s in bf16.opt_d.opt.state.values()} == {torch.float32}
    assert {v.dtype for v in out16.values()} == {torch.float32}
    # the products really ran in bf16: further from fp32 than fp32 rounding allows ...
    assert relative_gap(d_grads(bf16), d_grads(fp32)) > FP32_ROUNDING
    # ... and within what bf16 rounding allows
    assert relative_gap(out16["d_loss"], out32["d_loss"]) <= BF16_ROUNDING
    assert relative_gap(d_grads(bf16), d_grads(fp32)) <= BF16_ROUNDING


def test_auto_picks_bf16_only_where_the_hardware_has_it():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if native_bf16(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    # the tutorial's MLPs keep their fp32 hand-written step
    assert GanFamily(make_config("seed", precision="auto"), cpu).arith.precision == "fp32"


@pytest.mark.parametrize("flags", [{"precision": "bf16"}, {"channels_last": True}])
def test_mlp_presets_refuse_conv_arithmetic(flags):
    from digitgan.basics.errors import UserError

    with pytest.raises(UserError, match="--arch conv"):
        make_config("cgan", **flags)
