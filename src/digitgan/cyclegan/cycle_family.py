"""The CycleGAN family's step and state: typed digits (domain A) <-> handwritten MNIST digits
(domain B), unpaired (Zhu et al. 2017), with CyCADA's semantic consistency (Hoffman et al.
2018) so that a translated digit stays the same digit.

    digitgan train --preset cyclegan --data-root ../shared/data

The loop (training/loop.py) hands each step a batch of handwritten digits, as it does to
every family; the typed batch is drawn here from the typed training fonts with a generator
of its own. Everything a resume needs (four networks, two optimisers, two EMA copies, both
image pools, the guide classifier and every generator's state) is in :meth:`state`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TextIO

import torch
from torch import nn

from digitgan.basics import distributed
from digitgan.basics.device import seed_everything, set_requires_grad
from digitgan.basics.images import to_model_range
from digitgan.config.train_config import TrainConfig
from digitgan.cyclegan.cycle_networks import PatchDiscriminator, ResnetGenerator, translate_batches
from digitgan.cyclegan.cycle_objectives import (
    ImagePool,
    generator_losses,
    linear_decay,
    lsgan_d_loss,
)
from digitgan.cyclegan.guide import ensure_guide
from digitgan.cyclegan.typed_augment import distort
from digitgan.data.digits import Digits, load_dataset
from digitgan.fast.adam import LeanAdam
from digitgan.fast.arithmetic import Arithmetic
from digitgan.models.ema import EMA
from digitgan.models.networks import dcgan_init
from digitgan.training.state import pack_state, unpack_state

# The inference snapshot's file names: what each network does, for a reader of checkpoints/.
TO_HANDWRITTEN, TO_TYPED = "to_handwritten", "to_typed"
FIXED_PAIRS = 5  # rows of the fixed grid: typed digits 0-9 above their translation, 5 times


class CycleFamily:
    """Two generators (typed -> handwritten, handwritten -> typed), two PatchGAN
    discriminators, least-squares losses, cycle, identity and semantic losses; :meth:`step`
    is one generator update followed by one discriminator update, as in CycleGAN."""

    def __init__(self, cfg: TrainConfig, device: torch.device, total_steps: int, stream: TextIO) -> None:
        self.cfg, self.device, self.total_steps = cfg, device, total_steps
        typed, typed_test = load_dataset("typed", None, "train"), load_dataset("typed", None, "test")
        hand = load_dataset(cfg.dataset, cfg.data_root, "train") if cfg.guide_data == "both" else None
        # before any seeded draw: the guide may train first
        self.guide = ensure_guide(typed, typed_test, stream, limit=cfg.limit, handwritten=hand).to(device)
        seed_everything(cfg.seed)
        width = cfg.hidden_dim
        self.to_hand = ResnetGenerator(width, cfg.res_blocks).to(device)
        self.to_typed = ResnetGenerator(width, cfg.res_blocks).to(device)
        self.d_hand = PatchDiscriminator(width, cfg.patch_layers).to(device)
        self.d_typed = PatchDiscriminator(width, cfg.patch_layers).to(device)
        for net in self.networks().values():
            dcgan_init(net)  # CycleGAN's initialisation is the same N(0, 0.02)
        self.arith = Arithmetic(cfg.precision, cfg.channels_last, device)
        self.arith.layout(self.guide, *self.networks().values())
        self.typed_images, self.typed_labels = typed.images.to(device), typed.labels.to(device)
        self.typed_rng = torch.Generator().manual_seed(cfg.seed + 4)  # which typed digits, on the CPU
        self.pool_hand = ImagePool(cfg.pool_size, torch.Generator().manual_seed(cfg.seed + 5))
        self.pool_typed = ImagePool(cfg.pool_size, torch.Generator().manual_seed(cfg.seed + 6))
        reduce = distributed.reduce_gradients  # under torchrun: the mean over the ranks
        betas = (cfg.beta1, cfg.beta2)
        g_params = itertools.chain(self.to_hand.parameters(), self.to_typed.parameters())
        d_params = itertools.chain(self.d_hand.parameters(), self.d_typed.parameters())
        self.opt_g, self.opt_d = (
            LeanAdam(g_params, cfg.lr, betas, reduce),
            LeanAdam(d_params, cfg.lr, betas, reduce),
        )
        self.d_params = self.opt_d.params
        self.emas = {
            # ema_decay 0 makes each copy the network itself, step by step
            TO_HANDWRITTEN: EMA(self.to_hand, cfg.ema_decay),
            TO_TYPED: EMA(self.to_typed, cfg.ema_decay),
        }
        self.steps, self.lr = 0, cfg.lr
        self.typed_test = typed_test.images  # (N, 28, 28) uint8: held-out designs
        self.fixed_typed = fixed_typed_digits(typed_test, cfg.seed + 3)

    def networks(self) -> dict[str, nn.Module]:
        return {
            TO_HANDWRITTEN: self.to_hand,
            TO_TYPED: self.to_typed,
            "D_handwritten": self.d_hand,
            "D_typed": self.d_typed,
        }

    def typed_batch(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` typed training digits drawn uniformly (with replacement), in [-1, 1],
        each distorted (typed_augment.py) under ``--typed-augment``."""
        rows = distributed.global_rows(batch)  # one draw for the global batch, sliced per rank
        idx = torch.randint(len(self.typed_images), (rows,), generator=self.typed_rng).to(self.device)
        typed = to_model_range(self.typed_images[idx]).view(-1, 1, 28, 28)
        if self.cfg.typed_augment:  # drawn for the global batch too: every rank draws alike
            typed = distort(typed, self.typed_rng)
        idx, typed = distributed.local_rows(idx), distributed.local_rows(typed)
        return self.arith.input(typed), self.typed_labels[idx]

    def set_lr(self) -> float:
        """CycleGAN's schedule, per step: flat for the first ``decay_start`` of the run, then
        linear to 0."""
        epochs = self.cfg.epochs
        factor = linear_decay(self.steps * epochs / self.total_steps, epochs, self.cfg.decay_start * epochs)
        for opt in (self.opt_g, self.opt_d):
            opt.opt.param_groups[0]["lr"] = self.cfg.lr * factor
        return self.cfg.lr * factor

    def step(self, hand: torch.Tensor, hand_labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One generator update (both directions), then one update of both discriminators on
        real digits and pooled translations. ``hand`` (B, 1, 28, 28) in [-1, 1]."""
        assert hand_labels is not None, "the semantic loss needs the handwritten digits' labels"
        self.lr, hand = self.set_lr(), self.arith.input(hand)
        typed, typed_labels = self.typed_batch(hand.shape[0])
        set_requires_grad(self.d_params, False)
        with self.arith.autocast():
            nets = (self.to_hand, self.to_typed, self.d_hand, self.d_typed, self.guide)
            out = generator_losses(self.cfg, nets, typed, typed_labels, hand, hand_labels)
        self.opt_g.zero_grad()
        out["g_loss"].backward()
        self.opt_g.step()
        set_requires_grad(self.d_params, True)

        fake_hand, fake_typed = out.pop("fake_hand").detach(), out.pop("fake_typed").detach()
        # the pools see the global batch in order on every rank (as one process's would)
        pooled_hand = self.arith.input(self.pool_hand.query_global(fake_hand))
        pooled_typed = self.arith.input(self.pool_typed.query_global(fake_typed))
        with self.arith.autocast():
            real_logits = self.d_hand(hand)
            d_loss = lsgan_d_loss(real_logits, self.d_hand(pooled_hand)) + lsgan_d_loss(
                self.d_typed(typed), self.d_typed(pooled_typed)
            )
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        self.steps += 1
        for name, net in ((TO_HANDWRITTEN, self.to_hand), (TO_TYPED, self.to_typed)):
            self.emas[name].update(net)
        detached = {k: v.detach() for k, v in out.items()}
        return {**detached, "d_loss": d_loss.detach(), "real_logits": real_logits.detach(), "fake": fake_hand}

    def scalars(self, out: dict[str, torch.Tensor]) -> dict[str, float]:
        """The tutorial's four numbers (D(x), D(G(z)): the handwriting discriminator's mean
        score of real and translated digits, 1 = real), then CycleGAN's own terms."""
        row = {
            "d_loss": out["d_loss"].item(),
            "g_loss": out["g_loss"].item(),
            "D(x)": out["real_logits"].mean().item(),
            "D(G(z))": out["fake_logits"].mean().item(),
            "cycle": out["cycle"].item(),
            "semantic": out["semantic"].item(),
        }
        if "identity" in out:
            row["identity"] = out["identity"].item()
        row["lr"] = self.lr  # of the latest step
        return row

    @property
    def sampler(self) -> nn.Module:
        """typed -> handwritten, the EMA copy (or the network itself when EMA is off)."""
        return self.emas[TO_HANDWRITTEN].module

    def translators(self) -> dict[str, nn.Module]:
        return {name: ema.module for name, ema in self.emas.items()}

    def batch_statistics(self) -> list[torch.Tensor]:
        """Buffers gathered per batch (the loop's interface; CycleGAN's instance norms keep none)."""
        return [b for net in self.snapshot().values() for b in net.buffers() if b.is_floating_point()]

    def snapshot(self) -> dict[str, nn.Module]:
        """The four networks and both EMA copies, by file name."""
        return {**self.networks(), **{f"{name}_ema": net for name, net in self.translators().items()}}

    @torch.no_grad()
    def fixed_images(self) -> tuple[torch.Tensor, int]:
        """Held-out typed digits 0-9 (one font per row) above their translation, 5 pairs."""
        typed = to_model_range(self.fixed_typed).view(-1, 1, 28, 28).to(self.device)
        hand = translate_batches(self.sampler, typed)
        rows = [
            torch.stack((t, h))
            for t, h in zip(typed.view(-1, 10, 1, 28, 28), hand.view(-1, 10, 1, 28, 28), strict=True)
        ]
        return torch.cat(rows).view(-1, 1, 28, 28), 10

    def eval_images(self, n: int) -> torch.Tensor:
        """The first n held-out typed digits translated into handwriting."""
        typed = to_model_range(self.typed_test[:n]).view(-1, 1, 28, 28).to(self.device)
        return translate_batches(self.sampler, typed)

    def finite(self) -> bool:
        nets = [*self.networks().values(), *self.translators().values()]
        return all(bool(torch.isfinite(p).all()) for net in nets for p in net.parameters())

    # --- state ------------------------------------------------------------------------------

    def state_modules(self) -> dict[str, nn.Module]:
        """Every module in the state, by its tensors' prefix: the guide too, so that a resume
        uses the run's own guide, not whatever the cache holds by then."""
        emas = {f"ema.{name}": net for name, net in self.translators().items()}
        return {**self.networks(), **emas, "guide": self.guide}

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        meta: dict = {
            "steps": self.steps,
            "device": self.device.type,
            "ema_updates": {k: e.updates for k, e in self.emas.items()},
        }
        tensors, meta = pack_state(self.state_modules(), {"opt_g": self.opt_g, "opt_d": self.opt_d}, meta)
        tensors.update(self.pool_hand.state("pool.handwritten"))
        tensors.update(self.pool_typed.state("pool.typed"))
        return {**tensors, "rng.typed": self.typed_rng.get_state()}, meta

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict, path: Path) -> str | None:
        cuda = self.device.type == "cuda" and meta["device"] == "cuda"
        optimizers = {"opt_g": self.opt_g, "opt_d": self.opt_d}
        unpack_state(tensors, meta, path, self.state_modules(), optimizers, cuda=cuda)
        for name, updates in meta["ema_updates"].items():
            self.emas[name].updates = updates
        self.pool_hand.load_state("pool.handwritten", tensors, self.device)
        self.pool_typed.load_state("pool.typed", tensors, self.device)
        self.typed_rng.set_state(tensors["rng.typed"])
        self.steps = meta["steps"]
        if meta["device"] != self.device.type:
            return f"the state was saved on {meta['device']} and continues on {self.device.type}"
        return None


def fixed_typed_digits(test: Digits, seed: int) -> torch.Tensor:
    """FIXED_PAIRS rows of held-out typed digits 0-9, each drawn at random (seeded) among the
    test fonts' images of that digit: uint8 (FIXED_PAIRS * 10, 28, 28), the same every epoch."""
    rng = torch.Generator().manual_seed(seed)
    by_digit = [torch.nonzero(test.labels == d).flatten() for d in range(10)]
    picks = [idx[torch.randint(len(idx), (FIXED_PAIRS,), generator=rng)] for idx in by_digit]
    return test.images[torch.stack(picks, dim=1).flatten()]  # row-major: pair, then digit
