"""Training across processes and machines with torch.distributed, launched by torchrun.

    torchrun --standalone --nproc-per-node 2 -m digitgan train --preset dcgan --data-root ../shared/data

The loop and the families call the handful of named points below; in a single process
(no torchrun) each is a no-op, so a plain ``digitgan train`` is unchanged, bit for bit.

Semantics that do not depend on the number of processes N: ``--batch-size`` is global;
every rank reads the same global permutation and takes its N-th of each batch
(:func:`local_rows`); noise, labels and penalty weights are drawn for the whole global batch
from the one global stream and sliced the same way; the gradients of each update are
averaged over ranks with one flat all-reduce per optimiser step (:func:`reduce_gradients`,
as StyleGAN2-ADA/StyleGAN3 do, rather than the DistributedDataParallel wrapper, whose
reducer cannot follow the double backward of R1 and WGAN-GP penalties nor a D that runs
without gradients in G's phase). Each rank's loss is the mean over its slice, so the
average of the ranks' gradients is the global batch's gradient. BatchNorm is
SyncBatchNorm on GPUs (:func:`sync_batchnorm`); what else couples a batch (BatchNorm on
CPUs, minibatch standard deviation, mode-seeking pairs, top-k's choice of fakes) is
computed per rank over its slice: see the README.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

TIMEOUT = timedelta(minutes=10)


def launched() -> bool:
    """Started by torchrun (or another launcher that sets the environment) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str) -> None:
    """Join the process group: gloo on CPU, nccl on GPUs (one per local rank)."""
    if not launched() or dist.is_initialized():
        return
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo", timeout=TIMEOUT)


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def backend() -> str:
    return dist.get_backend() if active() else "none"


def is_writer() -> bool:
    """Rank 0 alone writes the run folder, its logs, pictures and checkpoints."""
    return rank() == 0


def local_rows(batch: torch.Tensor) -> torch.Tensor:
    """This rank's share of a global batch: rows [r * B/N, (r + 1) * B/N)."""
    n = world()
    if n == 1:
        return batch
    per = batch.shape[0] // n
    return batch[rank() * per : (rank() + 1) * per]


def gather_rows(local: torch.Tensor) -> torch.Tensor:
    """The global batch from every rank's slice, in rank order (CycleGAN's image pools take
    the whole batch, as in one process)."""
    if world() == 1:
        return local
    parts = [torch.empty_like(local) for _ in range(world())]
    dist.all_gather(parts, local.contiguous())
    return torch.cat(parts)


def global_rows(local: int) -> int:
    """How many rows to draw so that every rank can slice its ``local`` ones from one stream."""
    return local * world()


def sync_batchnorm(*modules: torch.nn.Module) -> None:
    """On GPUs under torchrun (nccl), replace the BatchNorm layers of ``modules``, in place,
    by SyncBatchNorm, whose statistics are those of the global batch; the parameters stay
    the same objects, so optimisers and checkpoints are unchanged. Elsewhere (one process,
    or gloo on CPUs, where PyTorch's SyncBatchNorm does not run) a no-op: each rank's
    BatchNorm sees its own slice."""
    if world() == 1 or backend() != "nccl":
        return
    for module in modules:
        converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        assert converted is module, "a bare BatchNorm layer cannot be converted in place"


def reduce_gradients(grads: list[torch.Tensor | None]) -> None:
    """Average ``grads`` over the ranks, in place, with one flat all-reduce (a None, a
    parameter without a gradient, is skipped on every rank alike)."""
    if world() == 1:
        return  # nothing built per step in a single process
    grads = [g for g in grads if g is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average(tensors: list[torch.Tensor]) -> None:
    """Replace ``tensors`` by their mean over the ranks, in place (BatchNorm's running
    statistics, which each rank gathers from its own slice)."""
    reduce_gradients([t for t in tensors if t.is_floating_point()])  # the same flat mean


def agree(flags: list[float]) -> list[float]:
    """The largest value of each flag over the ranks (a stop signal or a divergence seen by
    one rank is seen by all, at the same step)."""
    if world() == 1:
        return flags
    t = torch.tensor(flags, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def mean(values: dict[str, float]) -> dict[str, float]:
    """Scalars averaged over the ranks (each rank's losses are over its slice of the batch)."""
    if world() == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(values, (t / world()).tolist(), strict=True))


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (the run folder's path, say): pickled between this
    program's own ranks only, never read from a file."""
    if world() == 1:
        return obj
    box = [obj if is_writer() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_tensors(tensors: list[torch.Tensor]) -> None:
    """Rank 0's values of ``tensors`` (weights at the start, k-means clusters) on every rank."""
    if world() == 1:
        return
    for t in tensors:
        dist.broadcast(t.data, src=0)


def check_same(tensors: list[torch.Tensor], what: str) -> None:
    """Raise if ``tensors`` (every weight of the run) differ between ranks: a checksum's
    minimum and maximum over ranks must be equal, bit for bit."""
    if world() == 1:
        return
    total = torch.stack([t.detach().double().sum() for t in tensors]).sum().reshape(1)
    low, high = total.clone(), total.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    if low.item() != high.item():
        raise RuntimeError(f"{what} differ between ranks ({low.item()!r} vs {high.item()!r}); not saving")


def teardown() -> None:
    """Leave the process group (a clean exit: no hang, no abort at teardown)."""
    if active():
        dist.destroy_process_group()
