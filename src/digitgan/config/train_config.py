"""Every training setting in one dataclass, each declared once (config/fields.py), with the
rules that join several; the named recipes over it are config/presets.py.

    python -c "from digitgan.config.train_config import TrainConfig; print(TrainConfig().validate())"

The resolved config is written to ``config.json`` in the run folder and stored beside every
checkpoint.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass
from typing import Any

from digitgan.basics.errors import UserError
from digitgan.config.fields import Range, check, setting
from digitgan.data.datasets import DATASETS

MAX_CLUSTERS = 200  # the most measured (scdcgan's); the state keeps each digit's cluster in a byte (< 256)
MAX_DIGIT_CLUSTERS = 25  # per digit, with --conditional: 10 x 25 classes still fit that byte
MAX_SEED = 2**31 - 1  # seed + 3 must still be a valid seed for torch, NumPy and Python

FAMILIES = ("gan", "cyclegan")
ARCHS = ("mlp", "conv")
LOSSES = ("bce", "wgan-gp", "hinge")  # losses.OBJECTIVES builds each
D_NORMS = ("batch", "layer", "none")
G_UPSAMPLES = ("transposed", "resize")
PRECISIONS = ("fp32", "bf16", "auto")  # fast/arithmetic.py does each
DEVICES = ("auto", "cpu", "cuda")
GUIDE_DATA = ("typed", "both")  # cyclegan/guide.py trains each
AT_LEAST_1, AT_LEAST_0 = Range(1), Range(0)
# Settings added after run folders were first written, each with the value that every run
# made before it was trained with (what the setting does when off): a folder that lacks one
# was trained that way, so loading it fills that value in, never today's default.
ADDED_LATER = {"guide_data": "typed", "typed_augment": False}
ABOVE_0, SHARE = Range(0, open_low=True), Range(0, 1, open_low=True)  # SHARE: (0, 1]
UNIT = Range(0, 1, open_high=True)  # [0, 1)
SPREAD = Range(0, 2, open_low=True)  # (0, 2]: the noise's spread when drawing


@dataclass
class TrainConfig:
    # the recipe's name, and what kind of model it trains: set by --preset
    preset: str = setting("seed", "named recipe", None)
    family: str = setting(
        "gan", "gan (noise -> digit) or cyclegan (typed <-> handwritten)", None, choices=FAMILIES
    )
    # model and objective
    arch: str = setting(
        "mlp", "network family: mlp (the tutorial's) or conv (DCGAN-style)", "model", choices=ARCHS
    )
    loss: str = setting("bce", "adversarial objective", "model", choices=LOSSES)
    conditional: bool = setting(False, "G and D see the digit's label", "model")
    clusters: int = setting(
        0,
        "self-conditioning without labels: G and D see which of K k-means clusters of the pixels a "
        "digit is in; with --conditional, which of K clusters within its digit; 0 = off",
        "model",
        Range(0, MAX_CLUSTERS),
    )
    latent_dim: int = setting(64, "size of z", "model", AT_LEAST_1)
    hidden_dim: int = setting(
        256, "width of hidden layers (mlp); base channel count (conv)", "model", AT_LEAST_1
    )
    d_width: int | None = setting(None, "base channels of a conv D, if not --hidden-dim", "model", AT_LEAST_1)
    d_hidden: int = setting(
        0,
        "a fully-connected layer of this width between a convolutional D's features and its logit, as "
        "InfoGAN's MNIST D has; 0 = none",
        "model",
        AT_LEAST_0,
    )
    d_norm: str = setting("batch", "conv D normalisation", "model", choices=D_NORMS)
    g_upsample: str = setting(
        "transposed",
        "conv G's last layer, 14 -> 28 pixels: a stride-2 transposed convolution (DCGAN), or resize "
        "(nearest x2, then a 3x3 convolution: no checkerboard)",
        "model",
        choices=G_UPSAMPLES,
    )
    spectral_norm: bool = setting(False, "spectral normalisation in D", "model")
    minibatch_std: bool = setting(False, "minibatch standard deviation feature in the conv D", "model")
    n_critic: int = setting(1, "D updates per G update", "model", AT_LEAST_1)
    shared_fakes: bool = setting(
        False,
        "G learns from the fakes the D step before it just judged, as PyTorch's DCGAN example does: one "
        "G forward a step instead of two",
        "model",
    )
    gp_lambda: float = setting(10.0, "gradient penalty weight, wgan-gp", "model", AT_LEAST_0)
    ema_decay: float = setting(0.0, "EMA of G's weights, 0 = off", "model", UNIT)
    # techniques, each a term or a choice the trainer adds (issue 13)
    r1_gamma: float = setting(0.0, "R1 penalty weight on real digits, 0 = off", "techniques", AT_LEAST_0)
    r1_every: int = setting(16, "apply R1 every N-th D step, scaled by N", "techniques", AT_LEAST_1)
    mode_seeking: float = setting(
        0.0,
        "weight of the mode-seeking term on pairs of G's digits with one label (Mao et al. 2019), 0 = off",
        "techniques",
        AT_LEAST_0,
    )
    top_k: float = setting(
        1.0,
        "G learns from the share of its fakes D rates most real, going from 1 to this share over the "
        "run (top-k training, Sinha et al. 2020); 1 = off",
        "techniques",
        SHARE,
    )
    label_smoothing: float = setting(
        0.0,
        "one-sided label smoothing (Salimans et al. 2016): D's BCE target for real digits is 1 minus "
        "this, fakes keep 0; 0 = off",
        "techniques",
        Range(0, 0.5, open_high=True),
    )
    aux_classifier: float = setting(
        0.0,
        "AC-GAN (Odena et al. 2017): D sees the image alone and names its digit (or cluster) with a "
        "second head; this weight on its class loss, on real digits for D and on G's for G; 0 = off",
        "techniques",
        AT_LEAST_0,
    )
    truncation: float = setting(
        1.0,
        "digits drawn from the trained run (sample, evaluate, serve, export, dataset) take noise of this "
        "spread: below 1 (truncation, Brock et al. 2019) buys precision with variety, above 1 variety with "
        "precision; training is unchanged; 1 = off",
        "techniques",
        SPREAD,
    )
    # arithmetic of the convolutional networks' steps (fast/arithmetic.py)
    precision: str = setting(
        "fp32",
        "arithmetic of convolutional steps: bf16 autocast with fp32 master weights, auto = bf16 where "
        "the CPU or GPU has it natively",
        "run",
        choices=PRECISIONS,
    )
    channels_last: bool = setting(False, "NHWC memory layout for convolutional networks", "run")
    # cyclegan: ResNet generators and PatchGAN discriminators of width hidden_dim
    res_blocks: int = setting(3, "residual blocks per generator, at 7 x 7", "cyclegan", AT_LEAST_0)
    patch_layers: int = setting(
        2, "discriminator depth: 2 judges 18 px patches, 3 the whole digit", "cyclegan", choices=(1, 2, 3)
    )
    cycle_lambda: float = setting(10.0, "weight of the cycle loss", "cyclegan", AT_LEAST_0)
    identity_lambda: float = setting(0.0, "weight of the identity loss", "cyclegan", AT_LEAST_0)
    semantic_lambda: float = setting(
        1.0, "weight of the semantic loss (--guide-data)", "cyclegan", AT_LEAST_0
    )
    guide_data: str = setting(
        "typed", "the semantic loss's classifier learns typed digits, or both", "cyclegan", choices=GUIDE_DATA
    )
    typed_augment: bool = setting(
        False, "distort typed digits (slant, width, stroke) at every step", "cyclegan"
    )
    pool_size: int = setting(50, "translations kept for the discriminators; 0 = off", "cyclegan", AT_LEAST_0)
    decay_start: float = setting(
        0.5,
        "share of the run after which the learning rate falls linearly to 0",
        "cyclegan",
        Range(0, 1),
    )
    # optimisation
    epochs: int = setting(200, "passes over the data", "data", AT_LEAST_1)
    batch_size: int = setting(100, "images per step", "data", AT_LEAST_1)
    lr: float = setting(2e-4, "Adam learning rate", "data", ABOVE_0)
    lr_d: float | None = setting(
        None, "D's learning rate when it differs from G's (default: --lr)", "data", ABOVE_0
    )
    beta1: float = setting(0.9, "Adam beta1 (the tutorial keeps PyTorch's default)", "data", UNIT)
    beta2: float = setting(0.999, "Adam beta2", "data", UNIT)
    seed: int = setting(0, "random seed for weights, data order and noise", "data", Range(0, MAX_SEED))
    # data
    dataset: str = setting("mnist", "training data", "data", choices=tuple(sorted(DATASETS)))
    data_root: str | None = setting(
        None, "folder holding MNIST/raw/ (default: $DIGITGAN_DATA, else ./data)", "data"
    )
    limit: int | None = setting(
        None,
        "train on the first N images only (default: all); it bounds everything a run trains",
        "data",
        AT_LEAST_1,
    )
    # run
    device: str = setting("auto", "where to train", "run", choices=DEVICES)
    log_every: int = setting(200, "steps between log lines (the tutorial's 200)", "run", AT_LEAST_1)
    outdir: str = setting("runs", "where run folders are created", "run")
    checkpoint_every: int = setting(1, "epochs between saves of the full state", "run", AT_LEAST_1)
    tensorboard: bool = setting(
        False, "also log scalars and grids for TensorBoard (pip install 'digitgan[tensorboard]')", "run"
    )
    eval_every: int = setting(0, "log FID and IS every K epochs; 0 = off", "run", AT_LEAST_0)
    eval_n: int = setting(2000, "digits per evaluation during training", "run", Range(100, 10_000))
    evaluator: str | None = setting(
        None, "evaluator file for --eval-every (default: the cache; trained if missing)", "run"
    )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The config a run folder saved: every setting present (but ADDED_LATER's, filled with
        what older runs did), none unknown, each of its type; else ValueError naming it."""
        d = {**ADDED_LATER, **d}
        _check_saved(d, dataclasses.fields(cls))
        return cls(**d)

    @property
    def label_classes(self) -> int:
        """What D tells apart by label: 10 digits, the clusters, each digit's clusters (10 x
        K), or 0 (no labels); as input planes, or under --aux-classifier with its class head."""
        return 10 * max(self.clusters, 1) if self.conditional else self.clusters

    @property
    def convolutional(self) -> bool:
        return self.arch == "conv" or self.family == "cyclegan"

    @property
    def conv_gan(self) -> bool:
        """A noise-to-digit GAN on ConvGenerator and ConvDiscriminator (--d-width, --d-hidden, --g-upsample)."""
        return self.arch == "conv" and self.family == "gan"

    @property
    def only_the_objective(self) -> bool:
        """Every update is the objective's alone: no R1, mode seeking, top-k or class loss."""
        return self.r1_gamma == 0 and self.mode_seeking == 0 and self.top_k == 1 and self.aux_classifier == 0

    def validate(self) -> TrainConfig:
        """Raise :class:`UserError` naming the first bad value (:func:`first_problem`); return
        self when all are fine."""
        problem = first_problem(self)
        if problem:
            raise UserError(problem)
        return self


def first_problem(cfg: TrainConfig) -> str | None:
    """What is wrong with ``cfg`` first: each field against its own declaration, then the
    rules that join several; None when nothing is."""
    problems = [check(field, getattr(cfg, field.name)) for field in dataclasses.fields(cfg)]
    rules = run_rules(cfg) + model_rules(cfg) + technique_rules(cfg)
    problems += [message for ok, message in rules if not ok]
    return next((p for p in problems if p), None)


# The rules that join several settings, each a (holds, message) pair; validate() raises the
# first message whose rule fails. A new rule goes into the list of its kind.


def run_rules(cfg: TrainConfig) -> list[tuple[bool, str]]:
    """The run's own: its data and its length."""
    return [
        (
            cfg.limit is None or cfg.limit >= cfg.batch_size,
            f"--limit ({cfg.limit}) must be >= --batch-size ({cfg.batch_size}): an epoch needs at "
            "least one full batch",
        ),
        (
            cfg.family != "cyclegan" or cfg.dataset == "mnist",
            "--preset cyclegan translates typed digits into MNIST's handwriting: use --dataset mnist",
        ),
        (
            cfg.family == "cyclegan" or (cfg.guide_data == "typed" and not cfg.typed_augment),
            "--guide-data and --typed-augment train cyclegan's translator; a GAN drawing from noise has neither",
        ),
    ]


def model_rules(cfg: TrainConfig) -> list[tuple[bool, str]]:
    """Settings that apply to some networks or objectives only."""
    return [
        (
            cfg.g_upsample == "transposed" or cfg.conv_gan,
            "--g-upsample sets the last layer of a GAN's convolutional G: use it with --arch conv",
        ),
        (
            cfg.d_width is None or cfg.conv_gan,
            "--d-width sets the channels of a GAN's convolutional D: use it with --arch conv",
        ),
        (
            cfg.d_hidden <= 0 or cfg.conv_gan,
            "--d-hidden adds a layer to a GAN's convolutional D: use it with --arch conv",
        ),
        (
            cfg.clusters != 1,
            f"--clusters must be 0 (off) or between 2 and {MAX_CLUSTERS} (one cluster is no "
            f"conditioning), got {cfg.clusters}",
        ),
        (
            not cfg.conditional or cfg.clusters <= MAX_DIGIT_CLUSTERS,
            f"--clusters with --conditional splits each digit into K clusters; K must be at most "
            f"{MAX_DIGIT_CLUSTERS}, got {cfg.clusters}",
        ),
        (
            not (cfg.clusters and cfg.family == "cyclegan"),
            "--clusters conditions a GAN that draws digits from noise; cyclegan translates them",
        ),
        (
            not (cfg.loss == "wgan-gp" and cfg.arch == "conv" and cfg.d_norm == "batch"),
            "wgan-gp needs a critic without batch statistics: use --d-norm layer or none",
        ),
        (
            cfg.precision != "bf16" and not cfg.channels_last or cfg.convolutional,
            "--precision bf16 and --channels-last speed up convolutions; the MLP presets have "
            "none (they train in fp32 through a hand-written step): use --arch conv",
        ),
    ]


def technique_rules(cfg: TrainConfig) -> list[tuple[bool, str]]:
    """The techniques (issue 13), each on the families it applies to."""
    return [
        (
            cfg.label_smoothing == 0 or cfg.loss == "bce",
            f"--label-smoothing smooths BCE's real targets; --loss {cfg.loss} has none: drop it or use --loss bce",
        ),
        (
            not (cfg.shared_fakes and cfg.family == "cyclegan"),
            "--shared-fakes is a step of the noise-to-digit GANs; cyclegan translates digits",
        ),
        (
            cfg.truncation == 1 or cfg.family == "gan",
            "--truncation narrows the noise a GAN draws digits from; cyclegan translates digits",
        ),
        (
            cfg.aux_classifier == 0 or (cfg.label_classes and cfg.arch == "conv"),
            "--aux-classifier gives a convolutional D a head that names the digit (or cluster): "
            "use it with --arch conv and --conditional or --clusters",
        ),
        (
            not (cfg.minibatch_std and cfg.loss == "wgan-gp"),
            "--minibatch-std couples the samples of a batch; the per-sample gradient penalty of wgan-gp needs them apart",
        ),
    ]


def _check_saved(d: dict[str, Any], fields: tuple[dataclasses.Field, ...]) -> None:
    """Every setting present, none unknown (with the closest name as a hint), each of its type."""
    names = [f.name for f in fields]
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
    for f in fields:
        if not _has_type(d[f.name], f.type):
            raise ValueError(f"setting {f.name} must be {f.type}, got {d[f.name]!r}")


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
