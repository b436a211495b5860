"""CycleGAN's objectives and their helpers: least-squares adversarial losses, cycle, identity
and semantic-consistency losses, the learning-rate decay and the pool of past translations
(Zhu et al. 2017; Hoffman et al. 2018).

    python -c "from digitgan.cyclegan.cycle_objectives import linear_decay; print(linear_decay(150, 200, 100))"

cyclegan/cycle_family.py combines them into a step; the networks are in cycle_networks.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from digitgan.basics import distributed
from digitgan.config.train_config import TrainConfig


def lsgan_d_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN (Mao et al. 2017), as CycleGAN uses it: D pushes real patches to 1
    and fake ones to 0; halved so that D learns at half G's rate (Zhu et al. 2017, sec. 4)."""
    return 0.5 * (((real_out - 1) ** 2).mean() + (fake_out**2).mean())


def lsgan_g_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """G pushes D's scores of its translations towards 1."""
    return ((fake_out - 1) ** 2).mean()


def cycle_loss(original: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
    """||F(G(x)) - x||_1, averaged over pixels (Zhu et al. 2017, eq. 2)."""
    return (reconstructed - original).abs().mean()


def identity_loss(target_domain: torch.Tensor, mapped: torch.Tensor) -> torch.Tensor:
    """||G(y) - y||_1 for y already in G's output domain (Taigman et al. 2017; Zhu et al.
    2017, sec. 5.2): G should leave such images alone."""
    return (mapped - target_domain).abs().mean()


def semantic_loss(logits_of_translated: torch.Tensor, source_labels: torch.Tensor) -> torch.Tensor:
    """CyCADA's semantic consistency (Hoffman et al. 2018): a frozen classifier should read a
    translated digit as the digit it was translated from (cross-entropy). The classifier
    must not be the evaluator that later measures the translation."""
    return F.cross_entropy(logits_of_translated, source_labels)


def linear_decay(epoch: float, epochs: float, decay_from: float) -> float:
    """CycleGAN's schedule: the learning rate's factor is 1 until ``decay_from``, then falls
    linearly to 0 at ``epochs`` (Zhu et al. 2017, sec. 4: 100 epochs flat, 100 decaying).
    Epochs may be fractional: the loop asks once per step."""
    if epoch < decay_from:
        return 1.0
    span = epochs - decay_from
    return 0.0 if span <= 0 else max(0.0, 1.0 - (epoch - decay_from) / span)


class ImagePool:
    """A history of generated images for the discriminators (Shrivastava et al. 2017; Zhu et
    al. 2017, sec. 4): until it holds ``size`` images each new one is stored and returned;
    then each new image is, with probability 1/2, swapped for a random stored one (which is
    returned instead), else returned as it is. The draws come from ``generator``; the pool's
    images and the generator's state are the pool's state, saved with a run for an exact
    resume."""

    def __init__(self, size: int = 50, generator: torch.Generator | None = None) -> None:
        self.size = size
        self.generator = generator or torch.Generator()
        self.images: list[torch.Tensor] = []

    @torch.no_grad()
    def query(self, batch: torch.Tensor) -> torch.Tensor:
        """``batch`` (B, C, H, W) -> a batch of the same shape for D to judge."""
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
                continue
            swap = torch.rand((), generator=self.generator).item() < 0.5
            if swap:
                i = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def query_global(self, batch: torch.Tensor) -> torch.Tensor:
        """:meth:`query` under torchrun: the pool sees the global batch in order on every
        rank (as one process's would), and each rank gets its own slice back."""
        return distributed.local_rows(self.query(distributed.gather_rows(batch)))

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        images = torch.stack(self.images) if self.images else torch.zeros(0)
        return {f"{prefix}.images": images.cpu(), f"{prefix}.rng": self.generator.get_state()}

    def load_state(
        self, prefix: str, tensors: dict[str, torch.Tensor], device: torch.device | None = None
    ) -> None:
        images = tensors[f"{prefix}.images"].to(device)
        self.images = [image.clone() for image in images] if images.numel() else []
        self.generator.set_state(tensors[f"{prefix}.rng"])


def generator_losses(
    cfg: TrainConfig, nets: tuple[nn.Module, ...], typed, typed_labels, hand, hand_labels
) -> dict:
    """Every loss of CycleGAN's generator update, both directions, weighted by the run's
    lambdas into ``g_loss``; the translations under ``fake_*``. ``nets``: typed -> hand,
    hand -> typed, the two discriminators and the guide classifier."""
    to_hand, to_typed, d_hand, d_typed, guide = nets
    fake_hand, fake_typed = to_hand(typed), to_typed(hand)
    hand_scores = d_hand(fake_hand)  # (B, 1, 3, 3) with 3 patch layers
    out = {
        "fake_hand": fake_hand,
        "fake_typed": fake_typed,
        "fake_logits": hand_scores.detach(),
        "adversarial": lsgan_g_loss(hand_scores) + lsgan_g_loss(d_typed(fake_typed)),
        "cycle": cycle_loss(typed, to_typed(fake_hand)) + cycle_loss(hand, to_hand(fake_typed)),
        # Both data sets are labelled: the source digit's own label, never a pairing.
        "semantic": semantic_loss(guide(fake_hand), typed_labels)
        + semantic_loss(guide(fake_typed), hand_labels),
    }
    total = out["adversarial"] + cfg.cycle_lambda * out["cycle"] + cfg.semantic_lambda * out["semantic"]
    if cfg.identity_lambda > 0:
        out["identity"] = identity_loss(hand, to_hand(hand)) + identity_loss(typed, to_typed(typed))
        total = total + cfg.identity_lambda * out["identity"]
    out["g_loss"] = total
    return out
