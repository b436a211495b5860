"""The device a run uses, its seeding, and the global random number generators' state.

    python -c "from digitgan.basics.device import resolve_device; print(resolve_device('auto'))"

Both model families (training/gan_family.py, cyclegan/cycle_family.py) seed and save these the
same way, so that a resumed run continues every stream bit for bit.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from digitgan.basics.errors import UserError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    return torch.device(name)


def set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    """Freeze (or unfreeze) a network while the other one of a GAN learns."""
    for p in params:
        p.requires_grad_(flag)


def seed_everything(seed: int) -> None:
    """Weight initialisation, and Python's and NumPy's global generators for anything that
    draws from them (they are saved in the state, so a resume continues their streams)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def global_rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """The global generators' states (torch's CPU and CUDA ones, Python's, NumPy's) as tensors
    and JSON, for a state file."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    py_state = random.getstate()
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta = {
        "rng_python": [py_state[0], list(py_state[1]), py_state[2]],
        "rng_numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
    }
    return tensors, meta


def load_global_rng_state(tensors: dict[str, torch.Tensor], meta: dict, cuda: bool) -> None:
    """Undo :func:`global_rng_state` (the CUDA generators only when ``cuda``)."""
    torch.set_rng_state(tensors["rng.torch"])
    version, py_state, gauss = meta["rng_python"]
    random.setstate((version, tuple(py_state), gauss))
    name, pos, has_gauss, cached = meta["rng_numpy"]
    np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    if cuda:
        load_cuda_rng_state(tensors)


def load_cuda_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if states:
        torch.cuda.set_rng_state_all(states)
