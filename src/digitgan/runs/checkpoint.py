"""Saving and loading weights: safetensors for tensors, JSON for everything else, never pickle.

Every write goes through files.atomic_write_bytes, so a crash leaves either the old file or
the new one, never half.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import nn

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes
from digitgan.config.train_config import TrainConfig
from digitgan.runs import shipped
from digitgan.runs.run_folder import require_run_dir


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module under torch.compile or DDP wrappers, whose state_dict has clean keys."""
    while True:
        inner = getattr(module, "_orig_mod", None) or getattr(module, "module", None)
        if not isinstance(inner, nn.Module):
            return module
        module = inner


CHECKSUM_KEY = "tensors_md5"
META_KEY = "digitgan"


def save_weights(path: Path, module: nn.Module, metadata: dict[str, str] | None = None) -> None:
    """The module's weights as safetensors, with ``metadata`` and a checksum of the tensors'
    bytes that :func:`load_weights` verifies (a flipped byte inside a tensor is caught).
    The metadata is one sorted JSON string under one key: safetensors writes its metadata
    map in a random order per process, so several keys would make equal weights differ in
    bytes between two processes."""
    state = {k: v.detach().contiguous().cpu() for k, v in unwrap(module).state_dict().items()}
    metadata = {**(metadata or {}), CHECKSUM_KEY: _tensors_md5(state)}
    atomic_write_bytes(path, save(state, metadata={META_KEY: json.dumps(metadata, sort_keys=True)}))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A safetensors file's tensors and its raw metadata map, in one read."""
    with safe_open(str(path), framework="pt") as f:
        return {key: f.get_tensor(key) for key in f.keys()}, f.metadata() or {}


def _unpack_weights_metadata(raw: dict[str, str]) -> dict[str, str]:
    """The metadata :func:`save_weights` stored (or the plain map of files written before it
    was one key)."""
    if META_KEY not in raw:
        return raw
    meta = json.loads(raw[META_KEY])
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a JSON object")
    return meta


def weights_metadata(path: Path) -> dict[str, str]:
    with safe_open(str(path), framework="pt") as f:
        return _unpack_weights_metadata(f.metadata() or {})


def load_weights(path: Path, module: nn.Module) -> nn.Module:
    """Load safetensors weights into ``module``; a missing, corrupt or mismatched file is a
    :class:`UserError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"weights file {path} not found; is this a finished digitgan run folder?")
    try:
        state, raw = _read_safetensors(path)
        checksum = _unpack_weights_metadata(raw).get(CHECKSUM_KEY)
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(
            f"{path} is not a readable safetensors file ({exc}); it is truncated or corrupt"
        ) from exc
    if checksum is not None and checksum != _tensors_md5(state):
        raise UserError(
            f"{path} is corrupt: its tensors do not match the checksum saved with them; "
            "restore the file or train again"
        )
    return load_state_into(path, state, module)


def load_state_into(path: Path, state: dict[str, torch.Tensor], module: nn.Module) -> nn.Module:
    """Load ``state`` (read from ``path``) into ``module`` if it fits the architecture exactly;
    else a :class:`UserError` naming the file and the first mismatch."""
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


def is_cyclegan_run(run_dir: Path) -> bool:
    """Is ``run_dir`` a cyclegan run (or shipped model) folder: a translator, not a
    noise-to-digit generator?"""
    run_dir = Path(run_dir)
    config = run_dir / ("config.json" if shipped.is_model_folder(run_dir) else "checkpoints/config.json")
    return config.is_file() and load_config(config).family == "cyclegan"


def trained_config(run_dir: Path) -> TrainConfig:
    """The config of a run folder, or of a shipped model's folder (checked against its sha256)."""
    if shipped.is_model_folder(run_dir):
        shipped.verify_file(Path(run_dir) / "config.json")  # the weights: when they are read
        return load_config(Path(run_dir) / "config.json")
    return load_config(Path(run_dir) / "checkpoints" / "config.json")


def load_trained(run_dir: Path, role: str, module: nn.Module, use_ema: bool = True) -> nn.Module:
    """Load the trained network ``role`` (G, to_handwritten, to_typed) of a run folder into
    ``module``: its EMA weights where the run kept them (and ``use_ema``); a shipped model's
    folder holds those alone."""
    run_dir = Path(run_dir)
    if shipped.is_model_folder(run_dir):
        if not use_ema:
            raise UserError(f"{run_dir.name} ships its EMA weights alone; drop --raw (raw=True)")
        return load_state_into(run_dir / "model.safetensors", shipped.packed_state(run_dir, role), module)
    ckpt = run_dir / "checkpoints"
    ema = ckpt / f"{role}_ema.safetensors"
    return load_weights(ema if use_ema and ema.exists() else ckpt / f"{role}.safetensors", module)


def load_config(path: Path) -> TrainConfig:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} not found; is {path.parent} a digitgan run folder?")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        cfg = TrainConfig.from_dict(data)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path} is not a valid digitgan config: {exc}") from exc
    try:
        return cfg.validate()
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from exc


def load_generator(
    run_dir: Path, device: str | torch.device = "cpu", use_ema: bool = True, truncation: float | None = None
) -> tuple[nn.Module, TrainConfig]:
    """The trained generator of a run folder, in eval mode, with its config: the EMA
    weights when the run kept them (and ``use_ema``), else the raw generator's; drawing
    with ``truncation``, by default the run's."""
    from digitgan.models.networks import build_generator

    run_dir = require_run_dir(run_dir)
    cfg = trained_config(run_dir)
    if cfg.family == "cyclegan":
        raise UserError(
            f"{run_dir} is a cyclegan run: it translates digits rather than drawing them from noise; "
            "use digitgan handwrite, translate or evaluate"
        )
    G = load_trained(run_dir, "G", build_generator(cfg), use_ema)
    G.truncation = cfg.truncation if truncation is None else truncation
    return G.to(device).eval(), cfg


STATE_KEY = "digitgan_state"


def save_state(path: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """The full training state in one safetensors file: tensors, plus ``meta`` (JSON) in the
    file's header. One file, written atomically: a crash leaves the previous state intact."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = {**meta, "tensors_md5": _tensors_md5(tensors)}
    atomic_write_bytes(path, save(tensors, metadata={STATE_KEY: json.dumps(meta)}))


def _tensors_md5(tensors: dict[str, torch.Tensor]) -> str:
    """A checksum of the tensors' bytes: a flipped byte inside a tensor is caught too."""
    digest = hashlib.md5()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no training state at {path}; only runs that saved a checkpoint can be resumed")
    try:
        tensors, raw = _read_safetensors(path)
        meta = json.loads(raw[STATE_KEY])
        if not isinstance(meta, dict):
            raise ValueError("metadata is not a JSON object")
        if meta.get("tensors_md5") != _tensors_md5(tensors):
            raise ValueError("checksum mismatch")
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"{path} is not a readable training state ({exc}); it is truncated or corrupt"
        ) from exc
    return tensors, meta


def optimizer_tensors(prefix: str, state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser's state_dict into flat tensors and JSON (its param_groups)."""
    tensors = {f"{prefix}.{i}.{k}": v for i, s in state_dict["state"].items() for k, v in s.items()}
    return tensors, {"param_groups": state_dict["param_groups"], "state_ids": sorted(state_dict["state"])}


def optimizer_state_dict(prefix: str, tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {i: {} for i in meta["state_ids"]}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            i, name = key[len(prefix) + 1 :].split(".", 1)
            state[int(i)][name] = value
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def module_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in unwrap(module).state_dict().items()}


def load_module_tensors(prefix: str, module: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
    try:
        unwrap(module).load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"{path}: the saved {prefix} does not fit the run's config ({first})") from exc


def load_resume(run_dir: Path, device: str | None) -> tuple[TrainConfig, Path, tuple[dict, dict]]:
    """The config and saved state of a run folder to continue, checked against each other."""
    require_run_dir(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserError(
            f"{run_dir} is not a digitgan run folder (no config.json); pass one such as runs/00001-seed"
        )
    cfg = load_config(run_dir / "config.json")
    state_path = run_dir / "checkpoints" / "state.safetensors"
    state = load_state(state_path)
    saved = state[1].get("config")
    if isinstance(saved, dict) and saved != cfg.to_dict():
        diff = sorted(k for k in set(saved) | set(cfg.to_dict()) if saved.get(k) != cfg.to_dict().get(k))
        k = diff[0]
        raise UserError(
            f"{run_dir / 'config.json'} says {k} = {cfg.to_dict().get(k)!r} but {state_path} was saved "
            f"with {saved.get(k)!r}; restore config.json, or start a new run"
        )
    if state[1].get("epoch", 0) >= cfg.epochs and state[1].get("pos", 0) == 0:
        raise UserError(f"{run_dir} has finished all {cfg.epochs} epochs; there is nothing to resume")
    if device is not None:  # where to continue is not part of the recipe
        cfg.device = device
    return cfg, state_path, state
