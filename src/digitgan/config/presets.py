"""The named recipes: each a dict of settings over TrainConfig's defaults, the measurements
behind each in its comment (and in the docs).

    python -c "from digitgan.config.presets import make_config; print(make_config('cdcgan'))"

The CLI applies the user's flags on top (``make_config(preset, **flags)``).
"""

from __future__ import annotations

from typing import Any

from digitgan.basics.errors import UserError
from digitgan.config.train_config import TrainConfig

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
    # on 100 k-means clusters of the pixels instead of labels (objectives/clusters.py; G picks the
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
