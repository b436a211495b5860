"""Saving and loading weights: safetensors for tensors, JSON for everything else, never pickle.

Every write goes to a temporary file in the same folder, is flushed and fsync'ed, then
renamed over the target, so a crash leaves either the old file or the new one, never half.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from digitgan.config import TrainConfig
from digitgan.errors import UserError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under torch.compile or DDP wrappers, whose state_dict has clean keys."""
    while True:
        inner = getattr(module, "_orig_mod", None) or getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


def save_weights(path: Path, module: nn.Module, metadata: dict[str, str] | None = None) -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(module).state_dict().items()}
    atomic_write_bytes(path, save(state, metadata=metadata))


def load_weights(path: Path, module: nn.Module) -> nn.Module:
    """Load safetensors weights into ``module``; a missing, corrupt or mismatched file is a
    :class:`UserError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} not found; is this a finished digitgan run folder?")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(
            f"{path} is not a readable safetensors file ({exc}); it is truncated or corrupt"
        ) from exc
    expected = unwrap(module).state_dict()
    missing, extra = set(expected) - set(state), set(state) - set(expected)
    if missing or extra:
        raise UserError(
            f"{path} does not fit this architecture (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(extra)[:3]}); was it written with a different --arch?"
        )
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape or tensor.dtype != expected[key].dtype:
            raise UserError(
                f"{path}: {key} has shape {tuple(tensor.shape)} {tensor.dtype}, the config says "
                f"{tuple(expected[key].shape)} {expected[key].dtype}; config and weights do not match"
            )
    unwrap(module).load_state_dict(state)
    return module


def save_config(path: Path, cfg: TrainConfig) -> None:
    atomic_write_bytes(path, (cfg.to_json() + "\n").encode())


def load_config(path: Path) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; is {path.parent} a digitgan run folder?")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return TrainConfig.from_dict(data).validate()
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path} is not a valid digitgan config ({exc})") from exc


def load_generator(
    run_dir: Path, device: str | torch.device = "cpu", use_ema: bool = True
) -> tuple[nn.Module, TrainConfig]:
    """The trained generator of a run folder, in eval mode, with its config: the EMA
    weights when the run kept them (and ``use_ema``), else the raw generator's."""
    from digitgan.networks import build_generator

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist; pass a folder such as runs/00001-seed")
    ckpt = run_dir / "checkpoints"
    cfg = load_config(ckpt / "config.json")
    G = build_generator(cfg)
    ema = ckpt / "G_ema.safetensors"
    load_weights(ema if use_ema and ema.exists() else ckpt / "G.safetensors", G)
    return G.to(device).eval(), cfg
