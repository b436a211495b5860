"""A transposed convolution computed as a matrix product where that is faster on the CPU.

    python -c "import torch; from digitgan.layers import ProductConvTranspose2d as T; print(T(100, 128, 7)(torch.randn(2, 100, 1, 1)).shape)"

DCGAN's generator opens with a transposed convolution from a 1 x 1 input (z to 7 x 7) and
closes with one to a single channel (14 x 14 to 28 x 28). oneDNN handles both shapes poorly
(README: Performance): the first is a plain (B, Cin) x (Cin, Cout k k) product, and the last
is every input pixel's (Cin,) vector times the (Cin, k k) kernel, the k x k patches then
overlapped into the output (col2im, ``F.fold``). Same function, weights and gradients as
``nn.ConvTranspose2d``; every other shape takes the usual kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ProductConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (groups 1, dilation 1, no output padding) whose forward is a
    matrix product for a 1 x 1 input or a single output channel."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if (
            output_size is not None
            or self.groups != 1
            or self.dilation != (1, 1)
            or self.output_padding != (0, 0)
        ):
            return super().forward(x, output_size)
        if x.shape[-2:] == (1, 1) and self.padding == (0, 0):
            out = (x.flatten(1) @ self.weight.flatten(1)).view(x.shape[0], *self.weight.shape[1:])
        elif self.out_channels == 1:
            out = self._overlapped_patches(x)
        else:
            return super().forward(x)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    def _overlapped_patches(self, x: torch.Tensor) -> torch.Tensor:
        """Each input pixel's k x k patch of the output, (B, H W, Cout k k), summed where the
        patches overlap, then cropped by the padding."""
        h, w = x.shape[-2:]
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        patches = x.permute(0, 2, 3, 1).flatten(1, 2) @ self.weight.flatten(1)  # (B, H W, Cout kh kw)
        full = ((h - 1) * sh + kh, (w - 1) * sw + kw)
        out = F.fold(patches.transpose(1, 2), full, (kh, kw), stride=(sh, sw))  # (B, Cout, *full)
        return out[:, :, ph : full[0] - ph, pw : full[1] - pw]
