"""Every training hyperparameter in one dataclass, and the named presets.

    python -c "from digitgan.config import make_config; print(make_config('seed'))"

A preset is a dict of overrides on the defaults; the CLI applies the user's flags on top.
The resolved config is printed, written to ``config.json`` in the run folder and stored
beside every checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from typing import Any

from digitgan.arithmetic import PRECISIONS
from digitgan.errors import UserError


@dataclass
class TrainConfig:
    preset: str = "seed"
    family: str = "gan"  # gan (noise -> digit) or cyclegan (typed <-> handwritten digits)
    # model family: (generator, discriminator, objective) chosen by name
    arch: str = "mlp"  # mlp (the tutorial's) or conv (DCGAN-style)
    loss: str = "bce"  # bce (the tutorial's), wgan-gp, hinge
    conditional: bool = False  # G and D see the digit's label
    # self-conditioning: G and D see k-means clusters of the pixels instead of labels; with
    # --conditional, clusters within each digit (G and D see the digit's cluster); 0 = off
    clusters: int = 0
    latent_dim: int = 64
    hidden_dim: int = 256  # mlp: hidden width; conv: base channel count
    d_width: int | None = None  # conv D's base channel count when it differs from G's; None = hidden_dim
    d_hidden: int = 0  # conv D: width of a fully-connected layer between its features and its logit; 0 = none
    d_norm: str = "batch"  # conv D: batch, layer or none
    g_upsample: str = "transposed"  # conv G, 14 -> 28 px: transposed (DCGAN) or resize (Odena 2016)
    spectral_norm: bool = False  # spectral normalisation on every D layer
    minibatch_std: bool = False  # conv D sees the batch's feature spread (against mode collapse)
    n_critic: int = 1  # D updates per G update
    # G learns from the fakes the D step before it judged: one G forward a step, not two
    shared_fakes: bool = False
    gp_lambda: float = 10.0  # gradient penalty weight (wgan-gp)
    ema_decay: float = 0.0  # EMA of G's weights; 0 = off
    r1_gamma: float = 0.0  # R1 penalty on real digits (gamma / 2) E||grad D(x)||^2; 0 = off
    r1_every: int = 16  # lazy regularisation: the penalty every N-th D step, scaled by N
    mode_seeking: float = 0.0  # weight of the mode-seeking term (Mao et al. 2019); 0 = off
    top_k: float = 1.0  # share of fakes G learns from at the run's end (Sinha et al. 2020); 1 = all
    label_smoothing: float = 0.0  # BCE: D's target on real digits is 1 - this (Salimans et al. 2016)
    aux_classifier: float = 0.0  # AC-GAN (Odena et al. 2017): weight of D's class head's loss; 0 = off
    lr_d: float | None = None  # D's learning rate when it differs from G's (TTUR); None = lr
    # drawing from the trained run (not training): the noise's spread times psi, but for z_0
    # where it picks a cluster (truncation, Brock et al. 2019); 1 = off
    truncation: float = 1.0
    # arithmetic of the convolutional networks' steps (arithmetic.py)
    precision: str = "fp32"  # fp32, bf16 (autocast, fp32 master weights) or auto (bf16 where native)
    channels_last: bool = False  # NHWC layout for the convolutions
    # cyclegan: ResNet generators and PatchGAN discriminators of width hidden_dim
    res_blocks: int = 3  # residual blocks at 7 x 7
    patch_layers: int = 2  # stride-2 layers of the PatchGAN: 2 sees 18 px patches, 3 the whole digit
    cycle_lambda: float = 10.0  # weight of the cycle-consistency loss
    identity_lambda: float = 0.0  # weight of the identity loss
    semantic_lambda: float = 1.0  # weight of the semantic-consistency loss (frozen typed classifier)
    pool_size: int = 50  # image pool for the discriminators; 0 = off
    decay_start: float = 0.5  # share of the run after which the learning rate falls linearly to 0
    # optimisation
    epochs: int = 200
    batch_size: int = 100
    lr: float = 2e-4
    beta1: float = 0.9  # PyTorch's Adam defaults: the tutorial does not set betas
    beta2: float = 0.999
    seed: int = 0
    # data
    dataset: str = "mnist"
    data_root: str | None = None
    limit: int | None = None  # train on the first N images only
    # run
    device: str = "auto"
    log_every: int = 200  # steps between log lines, as in the tutorial
    outdir: str = "runs"
    checkpoint_every: int = 1  # epochs between saves of the full training state
    tensorboard: bool = False  # also write scalars and grids to RUN/tensorboard/
    # evaluation during training: FID and IS of eval_n digits every eval_every epochs (0 = off)
    eval_every: int = 0
    eval_n: int = 2000
    evaluator: str | None = None  # evaluator file; default: the cache

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config a run folder saved: every setting present, none unknown, each of its
        type. A missing one is not filled with today's default, which may not be what the
        run was trained with. Raises :class:`ValueError` naming the setting."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            close = difflib.get_close_matches(unknown[0], names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else "; was it written by a newer digitgan?"
            raise ValueError(f"unknown setting {unknown[0]!r}{hint}")
        missing = [name for name in names if name not in d]
        if missing:
            raise ValueError(
                f"the setting {missing[0]!r} is missing; restore it with the value the run was trained with"
            )
        for f in dataclasses.fields(cls):
            if not _has_type(d[f.name], f.type):
                raise ValueError(f"setting {f.name} must be {f.type}, got {d[f.name]!r}")
        return cls(**d)

    @property
    def label_classes(self) -> int:
        """What D tells apart by label: 10 digits, the clusters, each digit's clusters (10 x
        K), or 0 (no labels). D reads the label as input planes, or under --aux-classifier
        names it with its class head."""
        if self.conditional:
            return 10 * max(self.clusters, 1)
        return self.clusters

    @property
    def convolutional(self) -> bool:
        return self.arch == "conv" or self.family == "cyclegan"

    @property
    def conv_gan(self) -> bool:
        """A noise-to-digit GAN on ConvGenerator and ConvDiscriminator, whose own settings
        (--d-width, --d-hidden, --g-upsample) apply to nothing else."""
        return self.arch == "conv" and self.family == "gan"

    @property
    def only_the_objective(self) -> bool:
        """Every update is the objective's alone, with none of the terms the trainer adds:
        no R1, no mode seeking, no top-k choice of fakes, no class loss."""
        return self.r1_gamma == 0 and self.mode_seeking == 0 and self.top_k == 1 and self.aux_classifier == 0

    def validate(self) -> TrainConfig:
        """Raise :class:`UserError` naming the first bad value; return self when all are fine."""
        checks = (
            self._run_checks() + self._model_checks() + self._technique_checks() + self._cyclegan_checks()
        )
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        return self

    def _run_checks(self) -> list[tuple[bool, str]]:
        """Length, batch, optimiser, seed, logging, device, data limit."""
        checks = [
            (self.epochs >= 1, f"--epochs must be >= 1, got {self.epochs}"),
            (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
            (self.lr > 0, f"--lr must be > 0, got {self.lr}"),
            (self.lr_d is None or self.lr_d > 0, f"--lr-d must be > 0, got {self.lr_d}"),
            (0 <= self.seed <= MAX_SEED, f"--seed must be between 0 and {MAX_SEED}, got {self.seed}"),
            (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "Adam betas must lie in [0, 1)"),
            (self.log_every >= 1, f"--log-every must be >= 1, got {self.log_every}"),
            (self.checkpoint_every >= 1, f"--checkpoint-every must be >= 1, got {self.checkpoint_every}"),
            (self.eval_every >= 0, f"--eval-every must be >= 0 (0 = off), got {self.eval_every}"),
            (100 <= self.eval_n <= 10_000, f"--eval-n must be between 100 and 10,000, got {self.eval_n}"),
            (
                self.device in ("auto", "cpu", "cuda"),
                f"--device must be auto, cpu or cuda, got {self.device!r}",
            ),
        ]
        if self.limit is not None:
            checks.append(
                (
                    self.limit >= self.batch_size,
                    f"--limit ({self.limit}) must be >= --batch-size ({self.batch_size}): "
                    "an epoch needs at least one full batch",
                )
            )
        return checks

    def _model_checks(self) -> list[tuple[bool, str]]:
        """Family, networks, objective, conditioning, EMA and arithmetic."""
        return [
            (self.family in FAMILIES, f"unknown family {self.family!r}; choose one of {', '.join(FAMILIES)}"),
            (self.arch in ARCHS, f"unknown arch {self.arch!r}; choose one of {', '.join(ARCHS)}"),
            (self.loss in LOSSES, f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}"),
            (self.d_norm in D_NORMS, f"unknown --d-norm {self.d_norm!r}; choose one of {', '.join(D_NORMS)}"),
            (
                self.g_upsample in G_UPSAMPLES,
                f"unknown --g-upsample {self.g_upsample!r}; choose one of {', '.join(G_UPSAMPLES)}",
            ),
            (
                self.g_upsample == "transposed" or self.conv_gan,
                "--g-upsample sets the last layer of a GAN's convolutional G: use it with --arch conv",
            ),
            (self.latent_dim >= 1, f"--latent-dim must be >= 1, got {self.latent_dim}"),
            (self.hidden_dim >= 1, f"--hidden-dim must be >= 1, got {self.hidden_dim}"),
            (
                self.d_width is None or self.d_width >= 1 and self.conv_gan,
                "--d-width sets the channels of a GAN's convolutional D: use it with --arch conv",
            ),
            (self.d_hidden >= 0, f"--d-hidden must be >= 0, got {self.d_hidden}"),
            (
                self.d_hidden <= 0 or self.conv_gan,
                "--d-hidden adds a layer to a GAN's convolutional D: use it with --arch conv",
            ),
            (self.n_critic >= 1, f"--n-critic must be >= 1, got {self.n_critic}"),
            (
                self.clusters == 0 or 2 <= self.clusters <= MAX_CLUSTERS,
                f"--clusters must be 0 (off) or between 2 and {MAX_CLUSTERS}, got {self.clusters}",
            ),
            (
                not self.conditional or self.clusters <= MAX_DIGIT_CLUSTERS,
                f"--clusters with --conditional splits each digit into K clusters; K must be at most "
                f"{MAX_DIGIT_CLUSTERS}, got {self.clusters}",
            ),
            (self.gp_lambda >= 0, f"--gp-lambda must be >= 0, got {self.gp_lambda}"),
            (0 <= self.ema_decay < 1, f"--ema-decay must lie in [0, 1), got {self.ema_decay}"),
            (
                not (self.loss == "wgan-gp" and self.arch == "conv" and self.d_norm == "batch"),
                "wgan-gp needs a critic without batch statistics: use --d-norm layer or none",
            ),
            (
                self.precision in PRECISIONS,
                f"unknown --precision {self.precision!r}; choose one of {', '.join(PRECISIONS)}",
            ),
            (
                self.precision != "bf16" and not self.channels_last or self.convolutional,
                "--precision bf16 and --channels-last speed up convolutions; the MLP presets have "
                "none (they train in fp32 through a hand-written step): use --arch conv",
            ),
        ]

    def _technique_checks(self) -> list[tuple[bool, str]]:
        """The techniques' flags (issue 13), each on the families it applies to."""
        return [
            (self.r1_gamma >= 0, f"--r1-gamma must be >= 0 (0 = off), got {self.r1_gamma}"),
            (self.mode_seeking >= 0, f"--mode-seeking must be >= 0 (0 = off), got {self.mode_seeking}"),
            (self.r1_every >= 1, f"--r1-every must be >= 1, got {self.r1_every}"),
            (0 < self.top_k <= 1, f"--top-k must lie in (0, 1] (1 = off), got {self.top_k}"),
            (
                0 <= self.label_smoothing < 0.5,
                f"--label-smoothing must lie in [0, 0.5) (0 = off), got {self.label_smoothing}",
            ),
            (
                self.label_smoothing == 0 or self.loss == "bce",
                f"--label-smoothing smooths BCE's real targets; --loss {self.loss} has none: drop it or use --loss bce",
            ),
            (self.aux_classifier >= 0, f"--aux-classifier must be >= 0 (0 = off), got {self.aux_classifier}"),
            (
                not (self.shared_fakes and self.family == "cyclegan"),
                "--shared-fakes is a step of the noise-to-digit GANs; cyclegan translates digits",
            ),
            (0 < self.truncation <= 1, f"--truncation must lie in (0, 1] (1 = off), got {self.truncation}"),
            (
                self.truncation == 1 or self.family == "gan",
                "--truncation narrows the noise a GAN draws digits from; cyclegan translates digits",
            ),
            (
                self.aux_classifier == 0 or (self.label_classes and self.arch == "conv"),
                "--aux-classifier gives a convolutional D a head that names the digit (or cluster): "
                "use it with --arch conv and --conditional or --clusters",
            ),
            (
                not (self.minibatch_std and self.loss == "wgan-gp"),
                "--minibatch-std couples the samples of a batch; the per-sample gradient penalty of wgan-gp needs them apart",
            ),
        ]

    def _cyclegan_checks(self) -> list[tuple[bool, str]]:
        """The cyclegan family's own settings."""
        return [
            (self.res_blocks >= 0, f"--res-blocks must be >= 0, got {self.res_blocks}"),
            (self.patch_layers in (1, 2, 3), f"--patch-layers must be 1, 2 or 3, got {self.patch_layers}"),
            (
                min(self.cycle_lambda, self.identity_lambda, self.semantic_lambda) >= 0,
                "--cycle-lambda, --identity-lambda and --semantic-lambda must be >= 0",
            ),
            (self.pool_size >= 0, f"--pool-size must be >= 0 (0 = off), got {self.pool_size}"),
            (
                0 <= self.decay_start <= 1,
                f"--decay-start must lie in [0, 1] (a share of the run), got {self.decay_start}",
            ),
            (
                self.family != "cyclegan" or self.dataset == "mnist",
                "--preset cyclegan translates typed digits into MNIST's handwriting: use --dataset mnist",
            ),
            (
                not (self.clusters and self.family == "cyclegan"),
                "--clusters conditions a GAN that draws digits from noise; cyclegan translates them",
            ),
        ]


def _has_type(value: Any, annotation: str) -> bool:
    """Does a JSON value fit a field's annotation ("int", "float", "str | None", ...)? A bool
    is not a number here, and an int is a float (JSON writes 1e-4 and 2 alike)."""
    checks = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "None": lambda v: v is None,
    }
    return any(checks[name](value) for name in annotation.split(" | "))


MAX_CLUSTERS = 200  # the most measured (scdcgan's); the state keeps each digit's cluster in a byte (< 256)
MAX_DIGIT_CLUSTERS = 25  # per digit, with --conditional: 10 x 25 classes still fit that byte
MAX_SEED = 2**31 - 1  # seed + 3 must still be a valid seed for torch, NumPy and Python

FAMILIES = ("gan", "cyclegan")
ARCHS = ("mlp", "conv")
LOSSES = ("bce", "wgan-gp", "hinge")
D_NORMS = ("batch", "layer", "none")
G_UPSAMPLES = ("transposed", "resize")

# DCGAN (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 128, z of 100, N(0, 0.02) init.
_DCGAN = dict(arch="conv", latent_dim=100, hidden_dim=32, lr=2e-4, beta1=0.5, beta2=0.999, batch_size=128)

PRESETS: dict[str, dict[str, Any]] = {
    # The tutorial (shared/reference/mnist-gan-tutorial.md), exactly: MLP G and D of width
    # 256, latent 64, BCE, Adam lr 2e-4 with default betas, batch 100, 200 epochs, no EMA.
    "seed": {},
    "dcgan": {**_DCGAN, "epochs": 18, "ema_decay": 0.999},
    # The tutorial's MLP made conditional (Mirza & Osindero 2014): label embeddings into G
    # and D, the tutorial's optimiser, batch and loss.
    "cgan": {"conditional": True, "epochs": 100, "ema_decay": 0.999},
    # Conditional DCGAN: label embedding into G, one-hot label planes into D, and the
    # minibatch standard deviation feature (Karras et al. 2018), without which G collapsed
    # to one drawing per digit (recall 0.03 -> 0.61 on MNIST).
    # TTUR (Heusel et al. 2017): D learns at twice G's rate, which keeps G from collapsing
    # early; with bf16 where the hardware has it and NHWC, 13 epochs in about 9 minutes on
    # 2 cores beat the former 18 fp32 epochs (FID 7.7 against 11.5, recall 0.78 against 0.61).
    # Batches of 64 at the same rates: twice the updates per epoch, precision 0.69 -> 0.76
    # and requested digit 98.4% -> 99.2%. A fully-connected layer of 256 between D's
    # features and its logit (InfoGAN's MNIST D, Chen et al. 2016), paid for by a G of width
    # 24 and 10 epochs instead of 13: precision 0.74 -> 0.83, FID 6.3 -> 5.0, recall 0.79 ->
    # 0.81, requested digit 98.9% -> 99.3% on three seeds, in 0.59x the steps' time: 8.8
    # minutes alone on a 2-core AMD EPYC Zen 3 in fp32 (README: measurements).
    "cdcgan": {
        **_DCGAN,
        "hidden_dim": 24,
        "d_hidden": 256,
        "batch_size": 64,
        "conditional": True,
        "minibatch_std": True,
        "lr_d": 4e-4,
        "epochs": 10,
        "ema_decay": 0.999,
        "precision": "auto",
        "channels_last": True,
    },
    # Self-conditioned DCGAN (Liu et al. 2020), unconditional: DCGAN's networks conditioned
    # on 100 k-means clusters of the pixels instead of labels (clusters.py; G picks the
    # cluster from its noise), and MSGAN's mode-seeking term (Mao et al. 2019), without
    # which G drew about one digit per cluster (recall 0.18 -> 0.83). TTUR, batch 64 and
    # bf16 where the hardware has it, as cdcgan (batch 64: FID 17.1 -> 10.6, precision
    # 0.67 -> 0.71, three seeds). D 1.5x wider (48 channels, NCHW) for 14 epochs instead of
    # 18, about the same time: FID 10.6 -> 9.9 and recall 0.82 -> 0.84 on three seeds, every
    # seed better on both. Mode seeking at a quarter of its first weight: FID 9.9 -> 5.1,
    # precision 0.71 -> 0.75, IS 9.24 -> 9.47, recall 0.84 -> 0.82 on three seeds, every
    # seed better on all but recall. Digits drawn with the noise's spread at 0.9 (truncation):
    # IS 9.47 -> 9.57, precision 0.75 -> 0.785, readable 94.3% -> 95.4%, FID 5.1 -> 4.6,
    # recall 0.82 -> 0.77 on the same three seeds. 200 clusters instead of 100, drawn at
    # 0.875: precision 0.785 -> 0.807, IS 9.57 -> 9.64, readable 95.4% -> 96.2%, recall
    # 0.77 (FID 4.6 -> 5.1), on three seeds and a fourth. README: measurements.
    "scdcgan": {
        **_DCGAN,
        "batch_size": 64,
        "clusters": 200,
        "mode_seeking": 0.25,
        "truncation": 0.875,
        "minibatch_std": True,
        "lr_d": 4e-4,
        "d_width": 48,
        "epochs": 14,
        "ema_decay": 0.999,
        "precision": "auto",
        "channels_last": False,
    },
    # CycleGAN (Zhu et al. 2017), typed <-> handwritten, sized for 2 CPU cores: ResNet
    # generators of width 16 with 3 residual blocks, PatchGAN discriminators of width 16 deep
    # enough to see the whole digit, least squares, Adam 2e-4 with beta1 0.5, batch 32, image
    # pools of 50, the rate flat for half the run then linear to 0; a cycle weight of 1, not
    # the paper's 10 (digits change shape), no identity loss (it keeps colours in photos;
    # digits have none), CyCADA's semantic loss (Hoffman et al. 2018), 4 epochs. README:
    # measurements.
    "cyclegan": {
        "family": "cyclegan",
        "arch": "conv",
        "hidden_dim": 16,
        "res_blocks": 3,
        "patch_layers": 3,
        "lr": 2e-4,
        "beta1": 0.5,
        "beta2": 0.999,
        "batch_size": 32,
        "epochs": 4,
        "decay_start": 0.5,
        "cycle_lambda": 1.0,
        "identity_lambda": 0.0,
        "semantic_lambda": 1.0,
        "pool_size": 50,
        "ema_decay": 0.999,
        # bf16 where the CPU or GPU has it, NHWC: 1.45x faster a step here, so that a
        # fourth epoch fits in the time three took in fp32 (README: measured)
        "precision": "auto",
        "channels_last": True,
    },
    # WGAN-GP (Gulrajani et al. 2017): critic without batch norm, lambda 10, 5 critic steps
    # per G step, Adam 1e-4 with betas (0.5, 0.9), batch 64.
    "wgan-gp": {
        **_DCGAN,
        "loss": "wgan-gp",
        "d_norm": "layer",
        "n_critic": 5,
        "gp_lambda": 10.0,
        "lr": 1e-4,
        "beta1": 0.5,
        "beta2": 0.9,
        "batch_size": 64,
        "epochs": 20,
        "ema_decay": 0.999,
    },
}


# The presets that draw digits from noise (sample, interpolate, time to quality); cyclegan
# translates digits instead.
GAN_PRESETS = tuple(name for name, values in PRESETS.items() if values.get("family", "gan") == "gan")


def make_config(preset: str, **overrides: Any) -> TrainConfig:
    """The preset's config with ``overrides`` (those not None) applied, validated."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(preset=preset, **values).validate()
