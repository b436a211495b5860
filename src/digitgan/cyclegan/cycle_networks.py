"""CycleGAN's networks for 28 x 28 digits: ResNet generators and patch discriminators (Zhu et
al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
Networks"), sized for two CPU cores.

    python -c "from digitgan.cyclegan.cycle_networks import ResnetGenerator; print(ResnetGenerator())"

The pieces the cyclegan family (typed <-> handwritten digits) is built from, each tested on
its own; its objectives are in cycle_objectives.py, its step in cycle_family.py.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and a skip connection (He et al. 2016), as in
    CycleGAN's generator; reflection padding avoids border artefacts."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator (Johnson et al. 2016's image transformation network) shrunk for
    28 x 28: c7s1-ngf, two stride-2 downsamplings (28 -> 14 -> 7), ``blocks`` residual
    blocks at 7 x 7, then two upsamplings by nearest-neighbour resize + 3x3 convolution
    rather than transposed convolutions, which leave checkerboard artefacts (Odena et al.
    2016), and c7s1-1 with tanh. (B, 1, 28, 28) in [-1, 1] -> the same."""

    def __init__(self, ngf: int = 32, blocks: int = 3) -> None:
        super().__init__()

        def down(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.InstanceNorm2d(cout), nn.ReLU()]

        def up(cin: int, cout: int) -> list[nn.Module]:
            return [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.InstanceNorm2d(cout),
                nn.ReLU(),
            ]

        self.net = nn.Sequential(
            nn.ReflectionPad2d(3),
            nn.Conv2d(1, ngf, 7),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(),  # (B, ngf, 28, 28)
            *down(ngf, 2 * ngf),  # (B, 2 ngf, 14, 14)
            *down(2 * ngf, 4 * ngf),  # (B, 4 ngf, 7, 7)
            *[ResidualBlock(4 * ngf) for _ in range(blocks)],
            *up(4 * ngf, 2 * ngf),  # (B, 2 ngf, 14, 14)
            *up(2 * ngf, ngf),  # (B, ngf, 28, 28)
            nn.ReflectionPad2d(3),
            nn.Conv2d(ngf, 1, 7),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float()  # fp32 under autocast too


class PatchDiscriminator(nn.Module):
    """A PatchGAN (Isola et al. 2017) shrunk for a 28 x 28 digit: C-ndf (no norm), then
    C-2ndf, C-4ndf ... with 4x4 stride-2 convolutions, ``layers`` in all, then a 3x3
    convolution to one channel. With 2 layers (28 -> 14 -> 7) each of the 7 x 7 outputs sees
    an 18 x 18 patch; with 3 (-> 3 x 3 outputs) each sees 38 x 38, the whole digit, as the
    70 x 70 PatchGAN sees a large part of a 256 x 256 photo. Instance norm adds only the
    image's own mean and spread. Raw scores, for the least-squares loss."""

    def __init__(self, ndf: int = 32, layers: int = 2) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(1, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        width = ndf
        for _ in range(layers - 1):
            blocks += [
                nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
                nn.InstanceNorm2d(2 * width),
                nn.LeakyReLU(0.2),
            ]
            width *= 2
        self.net = nn.Sequential(*blocks, nn.Conv2d(width, 1, 3, padding=1))
        self.receptive_field = receptive_field(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).float()  # fp32 under autocast too


def receptive_field(layers: int) -> int:
    """Pixels each output of a ``layers``-deep PatchDiscriminator sees: every 4x4 stride-2
    convolution adds 3 steps of its input's stride, the final 3x3 two (2: 18; 3: 38)."""
    size, stride = 1, 1
    for _ in range(layers):
        size, stride = size + 3 * stride, stride * 2
    return size + 2 * stride


@torch.no_grad()
def translate_batches(net: nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """(N, 1, 28, 28) in [-1, 1] -> their translations by ``net`` (already in eval mode), in
    batches, without gradients."""
    return torch.cat([net(chunk) for chunk in images.split(batch_size)])
