"""Layers that compute what PyTorch's own do, in a form that is faster on the CPU.

    python -c "import torch; from digitgan.fast.layers import ProductConvTranspose2d as T; print(T(100, 128, 7)(torch.randn(2, 100, 1, 1)).shape)"

DCGAN's generator opens with a transposed convolution from a 1 x 1 input (z to 7 x 7) and
closes with one to a single channel (14 x 14 to 28 x 28). oneDNN handles both shapes poorly
(README: Performance): the first is a plain (B, Cin) x (Cin, Cout k k) product, and the last
is every input pixel's (Cin,) vector times the (Cin, k k) kernel, the k x k patches then
overlapped into the output (col2im, ``F.fold``). Same function, weights and gradients as
``nn.ConvTranspose2d``; every other shape takes the usual kernel.

Both, and ``LayoutFlatten``, also keep tensors in one memory layout: PyTorch's elementwise
kernels (ReLU's backward, an add) take 10-20x as long when their operands are one NCHW and
one channels-last, so each returns its output and its input's gradient in the layout the
layers around it use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from digitgan.fast import switch


class ProductConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (groups 1, dilation 1, no output padding) whose forward is a
    matrix product for a 1 x 1 input or a single output channel."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            not switch.enabled()
            or output_size is not None
            or self.groups != 1
            or self.dilation != (1, 1)
            or self.output_padding != (0, 0)
        ):
            return super().forward(x, output_size)
        if x.shape[-2:] == (1, 1) and self.padding == (0, 0):
            out = self._product_from_a_point(x)
        elif self.out_channels == 1:
            out = self._overlapped_patches(x)
        else:
            return super().forward(x)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def _product_from_a_point(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Cin) times the kernel as (Cin, Cout kh kw), out in the kernel's layout: a
        channels-last kernel is read as (Cin, kh kw Cout) without a copy, and the output
        comes out channels-last for the layers after it, as PyTorch's own kernel gives."""
        w = self.weight
        if w.is_contiguous():
            return (x.flatten(1) @ w.flatten(1)).view(x.shape[0], *w.shape[1:])
        nhwc = w.permute(0, 2, 3, 1)  # (Cin, kh, kw, Cout)
        return (x.flatten(1) @ nhwc.flatten(1)).view(x.shape[0], *nhwc.shape[1:]).permute(0, 3, 1, 2)

    def _overlapped_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Each input pixel's k x k patch of the output, (B, Cout k k, H W), summed where the
        patches overlap, then cropped by the padding. The product is ordered by x's layout,
        so that x's gradient comes back in it: NHWC x as (pixels, Cin) times the kernel,
        NCHW x as one batched product with the kernel on the left (``kernel @ x`` would
        fold into x-transposed times the kernel, and hand back a channels-last gradient)."""
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if is_channels_last(x):  # NHWC: pixels times the kernel
            patches = (x.permute(0, 2, 3, 1).flatten(1, 2) @ self.weight.flatten(1)).transpose(1, 2)
        else:
            kernel = self.weight.flatten(1).t().expand(x.shape[0], -1, -1)  # (B, Cout kh kw, Cin)
            patches = torch.bmm(kernel, x.flatten(2))  # (B, Cout kh kw, H W)
        full = ((h - 1) * sh + kh, (w - 1) * sw + kw)
        out = F.fold(patches, full, (kh, kw), stride=(sh, sw))  # (B, Cout, *full)
        return out[:, :, ph : full[0] - ph, pw : full[1] - pw]


def is_channels_last(x: torch.Tensor) -> bool:
    """NHWC in memory, and not also NCHW (a 1 x 1 or one-channel tensor is both)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


class LayoutFlatten(nn.Flatten):
    """``nn.Flatten()`` (B, C, H, W) -> (B, C H W) whose backward returns the gradient in the
    input's layout. Flattening channels-last copies to NCHW order, and the plain backward
    hands back an NCHW gradient to layers whose tensors are NHWC; PyTorch's elementwise
    kernels on two layouts at once (the LeakyReLU before this) take 10-20x as long."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if switch.enabled() and (self.start_dim, self.end_dim) == (1, -1) and is_channels_last(x):
            return _FlattenNHWC.apply(x)
        return super().forward(x)


class _FlattenNHWC(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.shape = x.shape
        return x.contiguous().flatten(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.view(ctx.shape).contiguous(memory_format=torch.channels_last)
