"""The gradient of a preset's first discriminator update on a fixed global batch, as the
ranks average it (run under torchrun), or as one process computes it (SLICES = 1), or as a
reference that applies the networks to each of SLICES rank slices in turn and averages
(what N processes do when the networks have batch statistics).

    torchrun --standalone --nproc-per-node 2 tests/ddp_grads.py PRESET DATA_ROOT OUT.safetensors 0 [frozen-g]
    python tests/ddp_grads.py PRESET DATA_ROOT OUT.safetensors 2
"""

from __future__ import annotations

import sys

import torch
from safetensors.torch import save_file

from digitgan import distributed
from digitgan.config import make_config
from digitgan.data import load_dataset, to_model_range
from digitgan.trainer import Trainer

BATCH = 64
FROZEN_G = len(sys.argv) > 5 and sys.argv[5] == "frozen-g"


def first_d_gradient(preset: str, data_root: str) -> list[torch.Tensor]:
    """The (rank-averaged) gradient that D's first update applies. With FROZEN_G, G draws
    in eval mode (its BatchNorm then couples no batch), isolating D, its penalty and the
    all-reduce."""
    cfg = make_config(preset, data_root=data_root, batch_size=BATCH, precision="fp32", channels_last=False)
    trainer = Trainer(cfg, torch.device("cpu"))
    data = load_dataset("mnist", data_root, "train")
    real = distributed.local_rows(to_model_range(data.images[:BATCH]).view(-1, 1, 28, 28))
    labels = distributed.local_rows(data.labels[:BATCH]) if cfg.label_classes else None
    seen: list[list[torch.Tensor]] = []
    reduce = distributed.reduce_gradients

    def record(grads: list[torch.Tensor]) -> None:
        reduce(grads)
        seen.append([g.clone() for g in grads])

    distributed.reduce_gradients = record
    trainer.fast_step = None  # the autograd step, whose gradients live in .grad
    if FROZEN_G:
        trainer.G.eval()
    trainer.step(real, labels)
    distributed.reduce_gradients = reduce
    return seen[0]


def per_slice_reference(preset: str, data_root: str, slices: int) -> list[torch.Tensor]:
    """One process playing each of ``slices`` ranks in turn (fresh networks each time, as
    every rank starts from the same weights), averaging their gradients."""
    total, saved = None, (distributed.world, distributed.rank, distributed.reduce_gradients)
    for r in range(slices):
        distributed.world, distributed.rank = (lambda: slices), (lambda r=r: r)
        distributed.reduce_gradients = lambda grads: None  # each slice's own gradient
        grads = first_d_gradient(preset, data_root)
        total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
    distributed.world, distributed.rank, distributed.reduce_gradients = saved
    return [t / slices for t in total]


def main() -> None:
    preset, data_root, out, slices = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    distributed.setup("cpu")
    try:
        grads = (
            per_slice_reference(preset, data_root, slices) if slices else first_d_gradient(preset, data_root)
        )
        if distributed.is_writer():
            save_file({f"g{i}": g.contiguous() for i, g in enumerate(grads)}, out)
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main()
