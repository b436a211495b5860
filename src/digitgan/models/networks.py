"""Generators and discriminators. Every generator is ``G(z, labels=None)`` -> (B, 1, 28, 28)
in [-1, 1]; every discriminator is ``D(x, labels=None)`` -> (B,) logits.

    python -c "from digitgan.models.networks import build_networks; from digitgan.config.presets import make_config; print(*build_networks(make_config('dcgan')), sep='\\n')"

Discriminators return logits rather than probabilities: ``Sigmoid`` + ``BCELoss`` (the
tutorial) and ``BCEWithLogitsLoss`` are the same function, and the latter is stable.
Conditional networks take ``labels`` (B,) digits; unconditional ones ignore them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from digitgan.config.train_config import TrainConfig
from digitgan.fast.layers import LayoutFlatten, ProductConvTranspose2d, is_channels_last
from digitgan.fast.minibatch_std import batch_spread

IMAGE_SIZE = 28 * 28
NUM_CLASSES = 10


class Generator(nn.Module):
    """What every generator shares: z, joined by a label embedding when conditional, goes
    through ``body``. ``decode`` takes embeddings directly, so walks can pass between digits.

    A self-conditioned generator (``clusters`` > 0, objectives/clusters.py) embeds a cluster instead of
    a digit and picks the cluster from the noise itself: Phi(z_0) is uniform on (0, 1) and
    is read through the clusters' cumulative shares (``cluster_cdf``, a buffer saved with the
    weights), so that G(z) alone draws clusters as often as the data holds them, and the same
    seed gives the same digit everywhere. Conditional with clusters, G is still called with
    digits and picks a cluster within the digit the same way (``cluster_cdf`` then holds one
    row per digit); it embeds class digit * K + cluster, the class D judges."""

    embed: nn.Embedding | None
    cluster_cdf: torch.Tensor | None
    truncation: float = 1.0  # set on a trained run's G (checkpoint.load_generator); 1 in training

    def _label_input(self, conditional: bool, clusters: int, dim: int) -> int:
        """Set up the label embedding (digits, clusters, or both); return its width, 0 if none."""
        self.conditional = conditional
        classes = NUM_CLASSES * max(clusters, 1) if conditional else clusters
        self.embed = nn.Embedding(classes, dim) if classes else None
        if clusters:
            cdf = torch.arange(1, clusters + 1) / clusters  # (K,): uniform until the data's shares are set
            self.register_buffer("cluster_cdf", cdf.repeat(NUM_CLASSES, 1) if conditional else cdf)
        else:
            self.cluster_cdf = None
        return dim if classes else 0

    def set_cluster_shares(self, shares: torch.Tensor) -> None:
        """``shares`` (K,) of the clusters, or (10 * K,) of each digit's clusters, digit-major."""
        cdf = shares.double().view(self.cluster_cdf.shape).cumsum(-1)
        self.cluster_cdf.copy_(cdf / cdf[..., -1:])

    def clusters_of(self, z: torch.Tensor, digits: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) the cluster a self-conditioned G draws for noise z (B, latent_dim): the
        first whose cumulative share exceeds Phi(z_0); within ``digits`` (B,) when conditional."""
        u = torch.special.ndtr(z[:, :1].float())  # (B, 1), uniform on (0, 1)
        cdf = self.cluster_cdf if digits is None else self.cluster_cdf[digits]  # (K,) or (B, K)
        return (u >= cdf[..., :-1]).sum(1)

    def classes_of(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
        """(B,) the classes G embeds and D judges for noise z and the caller's ``labels``:
        the digits; a self-conditioned G's clusters, drawn from z unless given; or, conditional
        with clusters, digit * K + the cluster drawn from z within the digit."""
        if self.cluster_cdf is None or (labels is not None and not self.conditional):
            return labels
        if not self.conditional:
            return self.clusters_of(z)
        return labels * self.cluster_cdf.shape[1] + self.clusters_of(z, labels)

    def truncated(self, z: torch.Tensor) -> torch.Tensor:
        """z with its spread times ``truncation`` (Brock et al. 2019), but for z_0 where it
        picks a cluster, so that clusters are still drawn as often as the data holds them."""
        if self.truncation == 1.0:
            return z
        keep = 1 if self.cluster_cdf is not None else 0
        return torch.cat([z[:, :keep], z[:, keep:] * self.truncation], 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        z = self.truncated(z)
        classes = self.classes_of(z, labels)
        return self.decode(z, None if self.embed is None else self.embed(classes))

    def decode(self, z: torch.Tensor, label_vectors: torch.Tensor | None = None) -> torch.Tensor:
        if label_vectors is not None:
            z = torch.cat([z, label_vectors], 1)
        return self.body(z)

    def body(self, z_in: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class MLPGenerator(Generator):
    """The tutorial's G: Linear(z, h)-ReLU-Linear(h, h)-ReLU-Linear(h, 784)-Tanh. Conditional
    (cGAN, Mirza & Osindero 2014): a learned label embedding is concatenated to z."""

    def __init__(
        self, latent_dim: int = 64, hidden_dim: int = 256, conditional: bool = False, clusters: int = 0
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        in_dim = latent_dim + self._label_input(conditional, clusters, NUM_CLASSES)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, IMAGE_SIZE),
            nn.Tanh(),
        )

    def body(self, z_in: torch.Tensor) -> torch.Tensor:
        return self.net(z_in).view(-1, 1, 28, 28)  # (B, 1, 28, 28)


class MLPDiscriminator(nn.Module):
    """The tutorial's D without its final Sigmoid:
    Linear(784, h)-LeakyReLU(0.2)-Linear(h, h)-LeakyReLU(0.2)-Linear(h, 1).
    Conditional: a label embedding concatenated to the flattened image."""

    batch_independent = True  # no batch statistics: real and fake may share one call

    def __init__(self, hidden_dim: int = 256, classes: int = 0, sn: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, NUM_CLASSES) if classes else None
        in_dim = IMAGE_SIZE + (NUM_CLASSES if classes else 0)
        wrap = spectral_norm if sn else (lambda m: m)
        self.net = nn.Sequential(
            wrap(nn.Linear(in_dim, hidden_dim)),
            nn.LeakyReLU(0.2),
            wrap(nn.Linear(hidden_dim, hidden_dim)),
            nn.LeakyReLU(0.2),
            wrap(nn.Linear(hidden_dim, 1)),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = x.reshape(x.shape[0], IMAGE_SIZE)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], 1)
        return self.net(h).view(-1)  # (B,) logits


class ConvGenerator(Generator):
    """DCGAN's generator (Radford et al. 2016) sized for 28 x 28: z -> 7x7 by a transposed
    convolution, then two stride-2 transposed convolutions to 14x14 and 28x28, BatchNorm
    and ReLU between, Tanh at the end. Conditional: a label embedding joins z. The first
    and last layers run as matrix products (fast/layers.py), the same function, faster here.
    ``upsample="resize"`` makes the last layer a nearest-neighbour x2 resize and a 3x3
    convolution (Odena et al. 2016): every output pixel then sees the same kernel, where a
    stride-2 transposed convolution uses one of four by the pixel's parity (checkerboards)."""

    def __init__(
        self,
        latent_dim: int = 100,
        width: int = 64,
        conditional: bool = False,
        clusters: int = 0,
        upsample: str = "transposed",
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        in_dim = latent_dim + self._label_input(conditional, clusters, 50)
        self.net = nn.Sequential(
            ProductConvTranspose2d(in_dim, 4 * width, 7, 1, 0, bias=False),  # (B, 4w, 7, 7)
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),  # (B, 2w, 14, 14)
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            *self.last_layer(2 * width, upsample),  # (B, 1, 28, 28)
            nn.Tanh(),
        )

    @staticmethod
    def last_layer(channels: int, upsample: str) -> list[nn.Module]:
        if upsample == "resize":
            return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(channels, 1, 3, 1, 1)]
        return [ProductConvTranspose2d(channels, 1, 4, 2, 1)]

    def body(self, z_in: torch.Tensor) -> torch.Tensor:
        return self.net(z_in[:, :, None, None]).float()  # (B, 1, 28, 28), fp32 under autocast too


class ConvDiscriminator(nn.Module):
    """DCGAN's discriminator for 28 x 28: stride-2 convolutions 28 -> 14 -> 7 with LeakyReLU
    (0.2), then a 7x7 convolution to one logit. ``norm`` is ``"batch"`` (DCGAN), ``"layer"``
    or ``"none"`` (a WGAN-GP critic must not use batch statistics: the penalty is per
    sample), ``sn`` wraps every layer in spectral normalisation (Miyato et al. 2018).
    Conditional (``classes`` > 0: 10 digits, or k-means clusters): the label enters as
    one-hot planes concatenated to the image (the classic cDCGAN input conditioning; a
    projection head let G collapse to one drawing per digit within a few epochs here).
    AC-GAN (``aux_classes`` > 0, Odena et al. 2017): D sees the image alone and a second
    head names its class; :meth:`judge` returns both heads' logits. ``hidden`` > 0 puts a
    fully-connected layer of that width (LeakyReLU) between the features and the logit, as
    InfoGAN's MNIST discriminator has (Chen et al. 2016)."""

    def __init__(
        self,
        width: int = 64,
        classes: int = 0,
        norm: str = "batch",
        sn: bool = False,
        mbstd: bool = False,
        aux_classes: int = 0,
        hidden: int = 0,
    ) -> None:
        super().__init__()
        self.mbstd = mbstd
        wrap = spectral_norm if sn else (lambda m: m)
        norms: dict[str, Callable[[], nn.Module]] = {
            "batch": lambda: nn.BatchNorm2d(2 * width),
            "layer": lambda: nn.GroupNorm(1, 2 * width),
            "none": nn.Identity,
        }
        self.batch_independent = norm != "batch"
        self.classes = classes
        in_ch = 1 + classes
        self.body = nn.Sequential(
            wrap(nn.Conv2d(in_ch, width, 4, 2, 1)),  # (B, w, 14, 14)
            nn.LeakyReLU(0.2),
            wrap(nn.Conv2d(width, 2 * width, 4, 2, 1, bias=norm != "batch")),  # (B, 2w, 7, 7)
            norms[norm](),
            nn.LeakyReLU(0.2),
            LayoutFlatten(),  # (B, 2w * 49)
        )
        features = (2 * width + mbstd) * 49
        self.head = self.logit_head(features, hidden, wrap)
        self.class_head = wrap(nn.Linear(features, aux_classes)) if aux_classes else None

    @staticmethod
    def logit_head(features: int, hidden: int, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
        """Features -> one logit: a linear layer (DCGAN), or through ``hidden`` units."""
        if not hidden:
            return wrap(nn.Linear(features, 1))
        return nn.Sequential(wrap(nn.Linear(features, hidden)), nn.LeakyReLU(0.2), wrap(nn.Linear(hidden, 1)))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.features(x, labels)).view(-1).float()  # (B,) logits, fp32 under autocast too

    def judge(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """AC-GAN: (B,) real-or-fake logits and (B, aux_classes) class logits, fp32."""
        h = self.features(x)
        return self.head(h).view(-1).float(), self.class_head(h).float()

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """What the heads read, (B, (2w + mbstd) * 49)."""
        if self.classes:
            h = self.body[1:](self.first_layer(x, labels))  # (B, 2w * 49)
        else:
            h = self.body(x)  # (B, 2w * 49)
        if self.mbstd:
            # Minibatch standard deviation (Karras et al. 2018): the batch's mean feature
            # spread as one more feature map, so D can see a G that draws everything alike.
            spread = batch_spread(h).to(h.dtype).expand(h.shape[0], 49)
            h = torch.cat([h, spread], 1)
        return h

    def first_layer(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The first convolution of [image, K one-hot label planes] (B, 1 + K, 28, 28), done
        as the image's convolution plus the label planes' share. A constant plane convolved
        gives at each output pixel the sum of the kernel taps that fall inside the image, so
        a digit's share is its class's kernel (w, 16) times a fixed 0/1 matrix of taps (16,
        196): gathered for the batch's classes, that is B small products instead of K
        planes convolved, and the same function and gradients."""
        conv = self.body[0]
        weight = conv.weight  # (w, 1 + K, 4, 4); spectrally normalised under --spectral-norm
        h = F.conv2d(x, weight[:, :1], conv.bias, conv.stride, conv.padding)  # (B, w, 14, 14)
        # index_select, not [labels]: its backward sums each class's gradients in a fixed
        # order, where indexing's (index_put_ with accumulate) adds them from several threads
        # in whatever order they run, and resumed fp32 runs were not bit-identical (2 threads)
        kernels = weight[:, 1:].transpose(0, 1).flatten(2).index_select(0, labels)  # (B, w, 16)
        taps = self.inside_taps(x, conv)  # (16, 196)
        share = (kernels @ taps).view(h.shape)
        # In h's layout: an add of two layouts takes 3x a conversion and an add.
        return h + (share.contiguous(memory_format=torch.channels_last) if is_channels_last(h) else share)

    @staticmethod
    def inside_taps(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
        """(kh * kw, H' * W') 0/1: which kernel taps land inside the image at each output
        pixel, in x's dtype and device."""
        return _inside_taps(
            tuple(x.shape[2:]), conv.kernel_size, conv.stride, conv.padding, x.dtype, x.device
        )


@functools.lru_cache(maxsize=16)
def _inside_taps(
    size: tuple, kernel: tuple, stride: tuple, padding: tuple, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The convolution of a plane of ones by one kernel per tap, once per geometry, dtype
    and device (a copy to a GPU on every call would cost more than the product); built
    outside inference mode, or a first call there (sampling, serving) would cache a tensor
    that training's autograd cannot save. Its entries are 0 and 1, exact in any dtype."""
    with torch.inference_mode(False):
        eye = torch.eye(kernel[0] * kernel[1]).view(-1, 1, *kernel)
        taps = F.conv2d(torch.ones(1, 1, *size), eye, None, stride, padding)[0].flatten(1)
        return taps.to(dtype=dtype, device=device)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: weights N(0, 0.02); BatchNorm scale N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _mlp(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    return (
        MLPGenerator(cfg.latent_dim, cfg.hidden_dim, cfg.conditional, cfg.clusters),
        MLPDiscriminator(cfg.hidden_dim, cfg.label_classes, sn=cfg.spectral_norm),
    )


def _conv(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    G = ConvGenerator(cfg.latent_dim, cfg.hidden_dim, cfg.conditional, cfg.clusters, cfg.g_upsample)
    # AC-GAN: the label leaves D's input for a class head
    aux = cfg.label_classes if cfg.aux_classifier else 0
    D = ConvDiscriminator(
        cfg.hidden_dim if cfg.d_width is None else cfg.d_width,
        0 if aux else cfg.label_classes,
        norm=cfg.d_norm,
        sn=cfg.spectral_norm,
        mbstd=cfg.minibatch_std,
        aux_classes=aux,
        hidden=cfg.d_hidden,
    )
    D.batch_independent = D.batch_independent and not cfg.minibatch_std  # real and fake batches apart
    # spectral_norm keeps its own parametrisation: initialise only plain layers
    dcgan_init(G)
    if not cfg.spectral_norm:
        dcgan_init(D)
    return G, D


ARCHS: dict[str, Callable[[TrainConfig], tuple[nn.Module, nn.Module]]] = {"mlp": _mlp, "conv": _conv}


def build_networks(cfg: TrainConfig) -> tuple[nn.Module, nn.Module]:
    """(G, D) for ``cfg.arch``, initialised from torch's current RNG state."""
    return ARCHS[cfg.arch](cfg)


def build_generator(cfg: TrainConfig) -> nn.Module:
    return build_networks(cfg)[0]
