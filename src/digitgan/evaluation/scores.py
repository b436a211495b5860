"""Scoring digits with the evaluator, always beside the real-data floor.

    digitgan evaluate runs/00001-seed --n 10000
    digitgan evaluate --samples other_gan.npz

Generated digits are compared with MNIST's 10,000 test digits. The floor is what real data
scores with the same stick: n training digits against the same n test digits. Real
features are computed once per (evaluator, data) and cached, as are the floor's metrics.
Every set passes through uint8 before the evaluator, real or generated, so both see
identical preprocessing.
"""

from __future__ import annotations

import json
import math
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save

from digitgan.basics.errors import UserError
from digitgan.basics.files import atomic_write_bytes, cache_dir
from digitgan.basics.images import check_digits
from digitgan.data.digits import load_dataset
from digitgan.evaluation.classifier import Evaluator
from digitgan.evaluation.metrics import all_metrics, fid, inception_score

MAX_N = 10_000  # the size of MNIST's test split, the reference
MIN_N = 100


@dataclass
class Reference:
    """Evaluator outputs for real digits, each in a fixed shuffled order."""

    test_features: torch.Tensor  # (10000, 128)
    train_features: torch.Tensor  # (10000, 128): a fixed random 10,000 of the 60,000
    train_probs: torch.Tensor  # (10000, 10)
    key: str


def check_n(n: int) -> None:
    if not MIN_N <= n <= MAX_N:
        raise UserError(
            f"--n must be between {MIN_N} and {MAX_N:,} (the reference is MNIST's {MAX_N:,} test digits), got {n}"
        )


def reference(evaluator: Evaluator, data_root) -> Reference:
    """Real features of the evaluator's own dataset (MNIST or Fashion-MNIST)."""
    train = load_dataset(evaluator.dataset, data_root, "train")
    test = load_dataset(evaluator.dataset, data_root, "test")
    key = f"{evaluator.digest[:12]}-{train.md5[:8]}-{test.md5[:8]}"
    path = cache_dir() / f"real-features-{key}.safetensors"
    if path.is_file():
        try:
            t = load_file(str(path))
            return Reference(t["test_features"], t["train_features"], t["train_probs"], key)
        except Exception:  # noqa: BLE001 - a damaged cache is recomputed, not fatal
            pass
    rng = torch.Generator().manual_seed(0)
    test_order = torch.randperm(len(test), generator=rng)
    train_order = torch.randperm(len(train), generator=rng)[:MAX_N]
    test_features, _ = evaluator.embed(test.images[test_order])
    train_features, train_probs = evaluator.embed(train.images[train_order])
    tensors = {
        "test_features": test_features.float().contiguous(),
        "train_features": train_features.float().contiguous(),
        "train_probs": train_probs.float().contiguous(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, save(tensors))
    return Reference(tensors["test_features"], tensors["train_features"], tensors["train_probs"], key)


def floor(ref: Reference, n: int, seed: int = 0) -> dict:
    """The metrics of n real training digits against n test digits, cached."""
    path = cache_dir() / f"floor-{ref.key}-n{n}-s{seed}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    metrics = all_metrics(ref.train_features[:n], ref.train_probs[:n], ref.test_features[:n], seed=seed)
    atomic_write_bytes(path, json.dumps(metrics).encode())
    return metrics


def score_images(
    images_u8: torch.Tensor,
    evaluator: Evaluator,
    ref: Reference,
    labels: torch.Tensor | None = None,
    seed: int = 0,
) -> dict:
    """All metrics of uint8 digits (N, 28, 28) against N test digits."""
    features, probs = evaluator.embed(images_u8)
    n = images_u8.shape[0]
    return all_metrics(features, probs, ref.test_features[:n], labels=labels, seed=seed)


def score_against_floor(
    images_u8: torch.Tensor,
    labels: torch.Tensor | None,
    data_root,
    dataset: str,
    evaluator_path=None,
    seed: int = 0,
) -> tuple[dict, dict, Evaluator]:
    """Every metric of uint8 digits (N, 28, 28), the real-data floor at the same N, and the
    evaluator that measured both (``dataset``'s, trained and cached if missing)."""
    from digitgan.evaluation.classifier import ensure_evaluator

    evaluator = ensure_evaluator(evaluator_path, data_root, dataset=dataset)
    ref = reference(evaluator, data_root)
    metrics = score_images(images_u8, evaluator, ref, labels=labels, seed=seed)
    return metrics, floor(ref, images_u8.shape[0]), evaluator


def quick_scores(images_u8: torch.Tensor, evaluator: Evaluator, ref: Reference) -> dict:
    """FID and IS only: cheap enough to run during training."""
    features, probs = evaluator.embed(images_u8)
    return {"fid": fid(features, ref.test_features[: images_u8.shape[0]]), "is": inception_score(probs)}


def _read_member(archive: zipfile.ZipFile, name: str, max_items: int, path: Path) -> np.ndarray:
    """One array of an .npz, its sizes checked before anything is decompressed or allocated:
    the zip entry's declared size, then the .npy header's shape (a zip bomb, or a header
    that promises a terabyte, stops here)."""
    info = archive.getinfo(name)
    if info.file_size > max_items * 8 + 4096:
        raise UserError(
            f"{path}: '{name[:-4]}' is {info.file_size:,} bytes uncompressed, more than {MAX_N:,} digits need"
        )
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(f)
    if math.prod(shape) > max_items:
        raise UserError(f"{path}: '{name[:-4]}' has shape {shape}, more than {MAX_N:,} digits")
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def load_samples(path: Path, min_n: int = MIN_N) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``images`` (uint8 N x 28 x 28, ``min_n`` <= N <= MAX_N) and optional ``labels`` (N
    digits) from an .npz file, read without pickle and bounded before decompressing; every
    problem is a :class:`UserError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"samples file {path} not found")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "images.npy" not in names:
                arrays = [n.removesuffix(".npy") for n in names]
                raise UserError(
                    f"{path} has no 'images' array (it has {arrays}); save uint8 N x 28 x 28 as 'images'"
                )
            images = _read_member(archive, "images.npy", MAX_N * 28 * 28, path)
            labels = _read_member(archive, "labels.npy", MAX_N, path) if "labels.npy" in names else None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, header or pickle errors all mean: unreadable
        raise UserError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    check_digits(images, f"{path}: 'images'")
    if not min_n <= images.shape[0] <= MAX_N:
        raise UserError(f"{path} holds {images.shape[0]:,} digits; give between {min_n} and {MAX_N:,}")
    label_tensor = None
    if labels is not None:
        if labels.shape != (images.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise UserError(f"{path}: 'labels' must be N integers, got {labels.dtype} {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise UserError(f"{path}: 'labels' must be digits 0-9, found {labels.min()}..{labels.max()}")
        label_tensor = torch.from_numpy(labels.astype(np.int64))
    return torch.from_numpy(images.copy()), label_tensor


ROWS = [
    # key, label, format, which way is better
    ("fid", "FID (evaluator features)", "{:.3f}", "lower"),
    ("kid", "KID", "{:.4f}", "lower"),
    ("is", "Inception score (classifier)", "{:.3f}", "higher, max 10"),
    ("precision", "precision (k=3)", "{:.3f}", "higher"),
    ("recall", "recall (k=3)", "{:.3f}", "higher"),
    ("mean_confidence", "mean top-class probability", "{:.3f}", "higher"),
    ("confident_share", "share with probability > 0.9", "{:.3f}", "higher"),
    ("digit_entropy", "digit balance (entropy / log 10)", "{:.4f}", "1 = balanced"),
    ("min_digit_share", "rarest digit's share", "{:.4f}", "0.1 = balanced"),
    ("conditional_accuracy", "requested-digit accuracy", "{:.4f}", "higher"),
]


def format_table(metrics: dict, floor_metrics: dict, name: str) -> str:
    width = max(len(name), 10)
    lines = [f"{'metric':<34} {name:>{width}} {'real floor':>10}   better", "-" * (60 + width)]
    for key, label, fmt, better in ROWS:
        if key not in metrics:
            continue
        ours = fmt.format(metrics[key])
        theirs = fmt.format(floor_metrics[key]) if key in floor_metrics else "-"
        lines.append(f"{label:<34} {ours:>{width}} {theirs:>10}   {better}")
    for title, m in ((name, metrics), ("real floor", floor_metrics)):
        shares = " ".join(f"{d}:{s:.1%}" for d, s in enumerate(m["digit_shares"]))
        lines.append(f"digits ({title}): {shares}")
    return "\n".join(lines)


def make_epoch_evaluator(cfg, stream):
    """A function family -> {fid, is, eval_n, eval_s} on the family's cfg.eval_n evaluation
    digits (from fixed noise, or fixed inputs to translate), so that epochs compare like with
    like. Loads (or first trains) the evaluator of the run's
    dataset and its real features."""
    from digitgan.basics.images import to_uint8
    from digitgan.evaluation.classifier import ensure_evaluator

    evaluator = ensure_evaluator(cfg.evaluator, cfg.data_root, stream, dataset=cfg.dataset)
    ref = reference(evaluator, cfg.data_root)

    def evaluate(family) -> dict:  # a training family: gan_family.py's or cycle_family.py's
        start = time.perf_counter()
        images = family.eval_images(cfg.eval_n)
        scores = quick_scores(to_uint8(images)[:, 0], evaluator, ref)
        return {**scores, "eval_n": cfg.eval_n, "eval_s": time.perf_counter() - start}

    return evaluate
