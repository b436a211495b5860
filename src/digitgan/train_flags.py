"""The flags of ``digitgan train``, in the groups ``digitgan train --help`` shows them: data
and schedule, model and techniques, arithmetic and run folder, and the cyclegan family's.
Unset flags are None and take the preset's value (config.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from digitgan import argtypes as at
from digitgan.argtypes import HelpFormatter

DEFAULTS_NOTE = "Unset flags take the preset's value."


def add_train(sub) -> None:
    from digitgan.config import TrainConfig

    d = TrainConfig()
    t = sub.add_parser(
        "train",
        help="train a GAN in a new run folder",
        description="Train a GAN in a new numbered run folder. " + DEFAULTS_NOTE,
        formatter_class=HelpFormatter,
    )
    _data_flags(t.add_argument_group("data, schedule and optimiser"), d)
    _model_flags(t.add_argument_group("model and objective"), d)
    _technique_flags(t.add_argument_group("techniques (off unless a preset sets them)"), d)
    _run_flags(t.add_argument_group("arithmetic, device, run folder and logging"), d)
    _cyclegan_flags(t.add_argument_group("cyclegan (typed <-> handwritten)"))


def _data_flags(g, d) -> None:
    """The train flags for data, schedule and optimiser."""
    from digitgan.config import PRESETS
    from digitgan.data import DATASETS

    g.add_argument("--preset", default="seed", choices=sorted(PRESETS), help="named recipe")
    g.add_argument("--dataset", choices=sorted(DATASETS), help=f"training data (seed: {d.dataset})")
    g.add_argument("--data-root", help="folder holding MNIST/raw/ (default: $DIGITGAN_DATA, else ./data)")
    g.add_argument("--epochs", type=at.positive_int, help=f"passes over the data (seed: {d.epochs})")
    g.add_argument("--batch-size", type=at.positive_int, help=f"images per step (seed: {d.batch_size})")
    g.add_argument("--lr", type=at.positive_float, help=f"Adam learning rate (seed: {d.lr})")
    g.add_argument("--beta1", type=at.unit_float, help=f"Adam beta1 (seed: {d.beta1})")
    g.add_argument("--beta2", type=at.unit_float, help=f"Adam beta2 (seed: {d.beta2})")
    g.add_argument(
        "--lr-d", type=at.positive_float, help="D's learning rate when it differs from G's (default: --lr)"
    )
    g.add_argument(
        "--seed", type=at.seed, help=f"random seed for weights, data order and noise (seed: {d.seed})"
    )
    g.add_argument("--limit", type=at.positive_int, help="train on the first N images only (default: all)")


def _model_flags(g, d) -> None:
    """The train flags for model and objective."""
    from digitgan.config import ARCHS, D_NORMS, G_UPSAMPLES, LOSSES, PRESETS

    g.add_argument("--arch", choices=ARCHS, help=f"network family (seed: {d.arch})")
    g.add_argument("--loss", choices=LOSSES, help=f"adversarial objective (seed: {d.loss})")
    g.add_argument(
        "--conditional",
        action=argparse.BooleanOptionalAction,
        help=f"G and D see the digit's label (seed: {d.conditional})",
    )
    g.add_argument(
        "--clusters",
        type=at.integer,
        help="self-conditioning without labels: G and D see which of K k-means clusters of the "
        "pixels a digit is in; with --conditional, which of K clusters within its digit; 0 = off "
        f"(seed: {d.clusters}; scdcgan: {PRESETS['scdcgan']['clusters']})",
    )
    g.add_argument("--d-norm", choices=D_NORMS, help=f"conv D normalisation (seed: {d.d_norm})")
    g.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        help=f"spectral normalisation in D (seed: {d.spectral_norm})",
    )
    g.add_argument(
        "--minibatch-std",
        action=argparse.BooleanOptionalAction,
        help=f"minibatch standard deviation feature in the conv D (seed: {d.minibatch_std})",
    )
    g.add_argument("--n-critic", type=at.positive_int, help=f"D updates per G update (seed: {d.n_critic})")
    g.add_argument(
        "--shared-fakes",
        action=argparse.BooleanOptionalAction,
        help="G learns from the fakes the D step before it just judged, as PyTorch's DCGAN example "
        f"does: one G forward a step instead of two (seed: {d.shared_fakes})",
    )
    g.add_argument(
        "--gp-lambda", type=at.nonneg_float, help=f"gradient penalty weight, wgan-gp (seed: {d.gp_lambda})"
    )
    g.add_argument(
        "--ema-decay", type=at.unit_float, help=f"EMA of G's weights, 0 = off (seed: {d.ema_decay})"
    )
    g.add_argument(
        "--d-width",
        type=at.positive_int,
        help="base channel count of a convolutional D, when it differs from G's --hidden-dim",
    )
    g.add_argument(
        "--d-hidden",
        type=at.nonneg_int,
        help=f"a fully-connected layer of this width between a convolutional D's features and its "
        f"logit, as InfoGAN's MNIST D has; 0 = none (seed: {d.d_hidden})",
    )
    g.add_argument(
        "--g-upsample",
        choices=G_UPSAMPLES,
        help="conv G's last layer, 14 -> 28 pixels: a stride-2 transposed convolution (DCGAN), or "
        f"resize (nearest x2, then a 3x3 convolution: no checkerboard; seed: {d.g_upsample})",
    )
    g.add_argument("--latent-dim", type=at.positive_int, help=f"size of z (seed: {d.latent_dim})")
    g.add_argument(
        "--hidden-dim", type=at.positive_int, help=f"width of hidden layers (seed: {d.hidden_dim})"
    )


def _technique_flags(g, d) -> None:
    """The train flags of the techniques measured for issue 13, each a term or a choice the
    trainer adds to the objective, or to how a trained run draws."""
    from digitgan.config import PRESETS

    g.add_argument(
        "--r1-gamma",
        type=at.nonneg_float,
        help=f"R1 penalty weight on real digits, 0 = off (seed: {d.r1_gamma})",
    )
    g.add_argument(
        "--r1-every",
        type=at.positive_int,
        help=f"apply R1 every N-th D step, scaled by N (seed: {d.r1_every})",
    )
    g.add_argument(
        "--mode-seeking",
        type=at.nonneg_float,
        help="weight of the mode-seeking term on pairs of G's digits with one label (Mao et al. 2019), 0 = off",
    )
    g.add_argument(
        "--truncation",
        type=at.share,
        help="digits drawn from the trained run (sample, evaluate, serve, export, dataset) take "
        "noise of this spread, buying precision with variety (Brock et al. 2019); training is "
        f"unchanged; 1 = off (scdcgan: {PRESETS['scdcgan']['truncation']})",
    )
    g.add_argument(
        "--top-k",
        type=at.share,
        help="G learns from the share of its fakes D rates most real, going from 1 to this share "
        "over the run (top-k training, Sinha et al. 2020); 1 = off",
    )
    g.add_argument(
        "--label-smoothing",
        type=at.number(float, lambda v: 0 <= v < 0.5, "must lie in [0, 0.5)"),
        help="one-sided label smoothing (Salimans et al. 2016): D's BCE target for real digits "
        "is 1 minus this, fakes keep 0; 0 = off",
    )
    g.add_argument(
        "--aux-classifier",
        type=at.nonneg_float,
        help="AC-GAN (Odena et al. 2017): D sees the image alone and names its digit (or cluster) "
        "with a second head; this weight on its class loss, on real digits for D and on G's "
        "for G; 0 = off",
    )


def _run_flags(g, d) -> None:
    """The train flags for arithmetic, device, run folder and logging."""
    from digitgan.config import PRECISIONS

    g.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="arithmetic of convolutional steps: bf16 autocast with fp32 master weights, auto = bf16 "
        f"where the CPU or GPU has it natively (seed: {d.precision})",
    )
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        help=f"NHWC memory layout for convolutional networks (seed: {d.channels_last})",
    )
    g.add_argument("--device", choices=["auto", "cpu", "cuda"], help=f"where to train (seed: {d.device})")
    g.add_argument("--log-every", type=at.positive_int, help=f"steps between log lines (seed: {d.log_every})")
    g.add_argument("--outdir", help=f"where run folders are created (seed: {d.outdir})")
    g.add_argument(
        "--checkpoint-every", type=at.positive_int, help="epochs between saves of the full state (default: 1)"
    )
    g.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue this run folder from its saved state (no other training flags)",
    )
    g.add_argument(
        "--tensorboard",
        action=argparse.BooleanOptionalAction,
        help="also log scalars and grids for TensorBoard (pip install 'digitgan[tensorboard]')",
    )
    g.add_argument("--eval-every", type=at.integer, help="log FID and IS every K epochs (default: 0, off)")
    g.add_argument(
        "--eval-n", type=at.integer, help=f"digits per evaluation during training (default: {d.eval_n})"
    )
    g.add_argument(
        "--evaluator", help="evaluator file for --eval-every (default: the cache; trained if missing)"
    )
    bar = g.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="force a progress bar"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="plain lines only")


def _cyclegan_flags(cycle) -> None:
    """The train flags of the cyclegan family."""
    from digitgan.config import PRESETS

    c = PRESETS["cyclegan"]
    for name, what in (("cycle", "cycle"), ("identity", "identity"), ("semantic", "semantic-consistency")):
        cycle.add_argument(
            f"--{name}-lambda",
            type=at.nonneg_float,
            help=f"weight of the {what} loss (cyclegan: {c[name + '_lambda']})",
        )
    cycle.add_argument(
        "--decay-start",
        type=at.nonneg_float,
        help=f"share of the run after which the learning rate falls linearly to 0 (cyclegan: {c['decay_start']})",
    )
    cycle.add_argument(
        "--res-blocks", type=at.integer, help=f"residual blocks per generator (cyclegan: {c['res_blocks']})"
    )
    cycle.add_argument(
        "--patch-layers",
        type=at.integer,
        help=f"discriminator depth: 2 judges 18 px patches, 3 the whole digit (cyclegan: {c['patch_layers']})",
    )
    cycle.add_argument(
        "--pool-size",
        type=at.integer,
        help=f"translations kept for the discriminators (cyclegan: {c['pool_size']})",
    )
