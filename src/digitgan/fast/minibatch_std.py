"""Minibatch standard deviation (Karras et al. 2018) with its gradient written out.

    python -c "import torch; from digitgan.fast.minibatch_std import batch_spread; print(batch_spread(torch.randn(64, 10)))"

D's extra feature is the mean, over its features, of each feature's standard deviation over
the batch: a G that draws everything alike shows up as a small spread. ``torch.std`` over
the batch dimension is slow on the CPU (README: Performance), and autograd through the
same arithmetic written out runs eight elementwise passes over (B, F) backward, several in
bf16, for what is one product: d spread / d h = (h - mean) / (B F std). So the forward
keeps h - mean and std, and the backward is that one product.
"""

from __future__ import annotations

import torch

from digitgan.fast import switch

TINY = torch.finfo(torch.float32).tiny


def centred_and_std(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """h - its batch mean, and each feature's standard deviation over the batch, in fp32
    (fp64 stays fp64)."""
    wide = h.to(torch.promote_types(h.dtype, torch.float32))
    centred = wide - wide.mean(0)
    # A feature the batch shares (the image's border) has variance 0: clamped, its
    # gradient is 0 / sqrt(tiny) = 0, as torch.std's backward gives, not 0 / 0.
    return centred, centred.square().mean(0).clamp_min(TINY).sqrt()


class _BatchSpread(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        centred, std = centred_and_std(h)
        ctx.save_for_backward(h, centred, std)
        ctx.in_dtype = h.dtype
        return std.mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        h, centred, std = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph: a gradient penalty (R1) differentiates this gradient again, so
            # it is recomputed from h where autograd sees it (the saved pair is detached).
            centred, std = centred_and_std(h)
        return (centred * (grad / centred.numel() / std)).to(ctx.in_dtype)


def batch_spread(h: torch.Tensor) -> torch.Tensor:
    """The mean over features of their standard deviation (biased) over the batch, a scalar
    in fp32 (fp64 for fp64 input), for h of shape (B, F). With the fast paths off
    (fast/switch.py): ``torch.std`` through autograd."""
    if not switch.enabled():
        return h.to(torch.promote_types(h.dtype, torch.float32)).std(0, correction=0).mean()
    return _BatchSpread.apply(h)
