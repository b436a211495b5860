"""A family's training state as one safetensors file's tensors and JSON: the networks, the
optimisers and the global generators, packed the same way for both families (each adds its
own generators and counters).

    tensors, meta = pack_state({"G": G, "D": D}, {"opt_g": opt_g, "opt_d": opt_d}, {"d_steps": 5})

runs/checkpoint.py writes and reads the file; a resume calls :func:`unpack_state` with the
same modules and optimisers, built from the run's config.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from digitgan.basics.device import global_rng_state, load_cuda_rng_state, load_global_rng_state
from digitgan.fast.adam import LeanAdam
from digitgan.runs.checkpoint import (
    load_module_tensors,
    module_tensors,
    optimizer_state_dict,
    optimizer_tensors,
)


def pack_state(
    modules: dict[str, nn.Module], optimizers: dict[str, LeanAdam], meta: dict
) -> tuple[dict[str, torch.Tensor], dict]:
    """Each module's tensors under its name, each optimiser's under its name (its JSON in
    ``meta[name]``), and the global generators' states."""
    tensors: dict[str, torch.Tensor] = {}
    meta = dict(meta)
    for name, module in modules.items():
        tensors.update(module_tensors(name, module))
    for name, opt in optimizers.items():
        opt_tensors, meta[name] = optimizer_tensors(name, opt.state_dict())
        tensors.update(opt_tensors)
    rng_tensors, rng_meta = global_rng_state()
    return {**tensors, **rng_tensors}, {**meta, **rng_meta}


def unpack_state(
    tensors: dict[str, torch.Tensor],
    meta: dict,
    path: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, LeanAdam],
    cuda: bool,
) -> None:
    """Undo :func:`pack_state` into ``modules`` and ``optimizers`` (CUDA generators only when
    ``cuda``); a module that does not fit is a one-line error naming ``path``."""
    for name, module in modules.items():
        load_module_tensors(name, module, tensors, path)
    for name, opt in optimizers.items():
        opt.load_state_dict(optimizer_state_dict(name, tensors, meta[name]))
    load_global_rng_state(tensors, meta, cuda=cuda)


def restore_device_rng(
    rng: torch.Generator, tensors: dict[str, torch.Tensor], key: str, saved_on: str, reseed: int
) -> str | None:
    """Restore a generator that lives on the run's device (and CUDA's global ones there).
    Saved on another kind of device, its state means nothing here: it restarts from
    ``reseed`` instead, and the note returned says so."""
    here = rng.device.type
    if saved_on != here:
        rng.manual_seed(reseed)
        return (
            f"the state was saved on {saved_on} and continues on {here}: weights and "
            "optimiser states carry over; the noise restarts from the seed and step count, so "
            f"the rest of the run is not bit-identical to one that stayed on {saved_on}"
        )
    rng.set_state(tensors[key])
    if here == "cuda":
        load_cuda_rng_state(tensors)
    return None
