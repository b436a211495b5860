"""The gradients of each preset's first discriminator and generator updates on a fixed
global batch, as the ranks average them (run under torchrun), or as one process computes
them (SLICES = 1), or as a reference: one process playing SLICES ranks in as many threads,
each applying the networks to its slice, with their gradients averaged at every update
(what N processes do when the networks couple a batch: BatchNorm, minibatch std, mode
seeking). PRESETS is a comma-separated list, all run in one process (starting one costs
more than the two updates); OUT_DIR/PRESET.safetensors receives each preset's gradients.

    torchrun --standalone --nproc-per-node 2 tests/training/ddp_grads.py PRESETS DATA_ROOT OUT_DIR 0 [frozen-g]
    python tests/training/ddp_grads.py PRESETS DATA_ROOT OUT_DIR 2
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import torch
from safetensors.torch import save_file

from digitgan.basics import distributed
from digitgan.basics.images import to_model_range
from digitgan.config.presets import make_config
from digitgan.data.digits import load_dataset
from digitgan.training.gan_family import GanFamily

BATCH = 64
FROZEN_G = len(sys.argv) > 5 and sys.argv[5] == "frozen-g"
_thread = threading.local()  # which rank a thread plays, and where its gradients go
_init = threading.Lock()  # weight initialisation draws from torch's global generator


def first_gradients(preset: str, data, reduce) -> list[torch.Tensor]:
    """The gradients that D's first update and G's first update apply, after ``reduce``.
    With FROZEN_G, G draws in eval mode (its BatchNorm then couples no batch)."""
    cfg = make_config(preset, batch_size=BATCH, precision="fp32", channels_last=False)
    with _init:
        trainer = GanFamily(cfg, torch.device("cpu"))
    real = distributed.local_rows(to_model_range(data.images[:BATCH]).view(-1, 1, 28, 28))
    labels = distributed.local_rows(data.labels[:BATCH]) if cfg.label_classes else None
    seen: list[list[torch.Tensor]] = []

    def record(grads: list[torch.Tensor]) -> None:
        reduce(grads)
        seen.append([g.clone() for g in grads])

    _thread.record = record
    trainer.fast_step = None  # the autograd step, whose gradients live in .grad
    if FROZEN_G:
        trainer.G.eval()
    while len(seen) < 2:  # D's first update, then G's (after n_critic D updates)
        trainer.step(real, labels)
    return seen[0] + seen[-1]


def threads_as_ranks(preset: str, data, slices: int) -> list[torch.Tensor]:
    """One process playing ``slices`` ranks, one thread each, averaging at every update."""
    barrier, shared, results = threading.Barrier(slices), {}, {}

    def average(grads: list[torch.Tensor]) -> None:
        shared[_thread.rank] = grads
        barrier.wait()
        if _thread.rank == 0:
            shared["mean"] = [
                sum(gs) / slices for gs in zip(*(shared[r] for r in range(slices)), strict=True)
            ]
        barrier.wait()
        for g, m in zip(grads, shared["mean"], strict=True):
            g.copy_(m)
        barrier.wait()

    def play(rank: int) -> None:
        _thread.rank = rank
        results[rank] = first_gradients(preset, data, average)

    distributed.world, distributed.rank = (lambda: slices), (lambda: _thread.rank)
    threads = [threading.Thread(target=play, args=(r,)) for r in range(slices)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results[0]


def main() -> None:
    presets, data_root, out, slices = sys.argv[1].split(","), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    distributed.setup("cpu")
    real_reduce = distributed.reduce_gradients
    distributed.reduce_gradients = lambda grads: _thread.record(grads)  # LeanAdam calls this
    writer = distributed.is_writer()
    data = load_dataset("mnist", data_root, "train")
    try:
        for preset in presets:
            if slices:
                grads = threads_as_ranks(preset, data, slices)
            else:
                grads = first_gradients(preset, data, real_reduce)
            if writer:
                named = {f"g{i}": g.contiguous() for i, g in enumerate(grads)}
                save_file(named, out / f"{preset}.safetensors")
    finally:
        distributed.teardown()


if __name__ == "__main__":
    main()
