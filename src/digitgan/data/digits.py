"""Datasets as in-memory uint8 tensors, read from the original IDX files and validated.

    python -c "from digitgan.data.digits import load_dataset; print(load_dataset('mnist', '../shared/data'))"

The files follow torchvision's layout, ``ROOT/MNIST/raw/train-images-idx3-ubyte`` (plain or
``.gz``). Missing files are downloaded with torchvision, which checks their md5 sums; when
that fails (offline) the user is told which four files to put where. Every file is checked
(magic number, header, length, image/label counts, label range) and a bad one stops with a
one-line :class:`UserError` naming it, never a traceback.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from digitgan.basics.errors import UserError
from digitgan.basics.images import to_model_range
from digitgan.data.datasets import DATASETS, DatasetSpec
from digitgan.data.idx import ALL_FILES, SPLIT_FILES, parse_idx


@dataclass
class Digits:
    """A split held in memory: ``images`` (N, 28, 28) uint8 with 0 = background, ``labels`` (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    name: str
    split: str
    md5: str  # of the decompressed image and label bytes together: identifies the data

    def __len__(self) -> int:
        return self.images.shape[0]

    def __repr__(self) -> str:
        return f"Digits({self.name}/{self.split}: {len(self)} images, md5 {self.md5[:12]})"


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """``--data-root``, else ``$DIGITGAN_DATA``, else ``./data``."""
    if data_root:
        return Path(data_root)
    return Path(os.environ.get("DIGITGAN_DATA") or "data")


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def locate_files(name: str, root: Path, download: bool = True, split: str | None = None) -> dict[str, Path]:
    """Paths of the four IDX files of dataset ``name``, downloading them if allowed and needed
    (a data set digitgan makes itself makes only ``split``'s two, when one is named)."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if spec.make is not None:
        return spec.make(split)
    raw = root / spec.folder / "raw"
    search = [raw] + ([Path(spec.system_dir)] if spec.system_dir else [])
    for directory in search:
        found = {f: _find(directory, f) for f in ALL_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    failure = "download switched off by DIGITGAN_NO_DOWNLOAD"
    if download and os.environ.get("DIGITGAN_NO_DOWNLOAD", "") in ("", "0"):
        try:
            _download(spec, root)
        except Exception as exc:  # noqa: BLE001 - any failure means: tell the user what to do
            failure = f"download failed: {_download_failure(exc)}"
        found = {f: _find(raw, f) for f in ALL_FILES}
        if all(found.values()):
            return found  # type: ignore[return-value]
    hint = f" (or: apt-get install -y dataset-{name})" if spec.system_dir else ""
    raise UserError(
        f"{name} files not found in {raw}/ ({failure}): put "
        f"{', '.join(ALL_FILES)} (plain or .gz) there{hint}, or point --data-root / "
        f"DIGITGAN_DATA at a folder that holds {spec.folder}/raw/"
    )


def _download_failure(exc: Exception) -> str:
    """The cause of a failed download in a few words (torchvision's message spans lines and
    names every mirror it tried)."""
    import re

    text = " ".join(str(exc).split())
    cause = re.search(r"urlopen error (.*?)>", text)
    return cause.group(1) if cause else f"{type(exc).__name__}: {text[:100]}"


def _download(spec: DatasetSpec, root: Path) -> None:
    """Download with torchvision (which checks md5 sums and decompresses) into a temporary
    folder, and move the four files to ROOT/<folder>/raw only once all arrived: a failed or
    interrupted download creates no folder under ROOT."""
    import shutil
    import tempfile

    import torchvision.datasets

    cls = getattr(torchvision.datasets, spec.torchvision_class)
    with tempfile.TemporaryDirectory(prefix="digitgan-download-") as tmp:
        cls(tmp, train=True, download=True)
        raw = root / spec.folder / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name in ALL_FILES:
            shutil.move(Path(tmp) / spec.folder / "raw" / name, raw / name)


def _read(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"cannot read {path}: {exc}; replace the file with an intact copy") from exc


SYNTHETIC_MARKER = "SYNTHETIC.json"  # written by `digitgan dataset` beside its four files


def synthetic_md5(raw: Path) -> dict[str, str] | None:
    """The md5 of each file of a set `digitgan dataset` wrote in ``raw``, or None if it is not one."""
    import json

    marker = raw / SYNTHETIC_MARKER
    if not marker.is_file():
        return None
    try:
        files = json.loads(marker.read_text())["files"]
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{marker} is damaged ({exc}); write the set again with digitgan dataset") from exc


def load_dataset(
    name: str = "mnist",
    data_root: str | os.PathLike | None = None,
    split: str = "train",
    download: bool = True,
) -> Digits:
    """Read and validate one split into memory. Raises :class:`UserError` on any bad file."""
    if split not in SPLIT_FILES:
        raise UserError(f"unknown split {split!r}; choose train or test")
    files = locate_files(name, resolve_data_root(data_root), download=download, split=split)
    image_name, label_name = SPLIT_FILES[split]
    image_path, label_path = files[image_name], files[label_name]
    image_bytes, label_bytes = _read(image_path), _read(label_path)
    images = parse_idx(image_bytes, image_path, "images")
    labels = parse_idx(label_bytes, label_path, "labels")
    if len(images) != len(labels):
        raise UserError(
            f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} "
            "labels; the two files must come from the same split"
        )
    if labels.size and labels.max() > 9:
        raise UserError(f"{label_path} holds label {labels.max()}, expected 0-9; the file is corrupt")
    # Structure is fine; now the content. Official files have known sums: a mismatch is
    # damage the structural checks cannot see (flipped pixel bytes).
    # A set written by `digitgan dataset` carries its own sums (SYNTHETIC.json beside it).
    known, whose = synthetic_md5(image_path.parent), "the sum digitgan dataset recorded"
    if known is None:
        known, whose = DATASETS[name].md5, "the official"
    digest = hashlib.md5()
    for fname, path, data in ((image_name, image_path, image_bytes), (label_name, label_path, label_bytes)):
        file_md5 = hashlib.md5(data).hexdigest()
        digest.update(file_md5.encode())
        if known and file_md5 != known.get(fname):
            raise UserError(
                f"{path} is corrupt: md5 {file_md5} differs from {whose} {known.get(fname)}; "
                "replace it with an intact copy (or delete it to download again)"
            )
    return Digits(
        images=torch.from_numpy(images.copy()),
        labels=torch.from_numpy(labels.astype(np.int64)),
        name=name,
        split=split,
        md5=digest.hexdigest(),
    )


def epoch_order(n: int, batch_size: int, rng: torch.Generator) -> torch.Tensor:
    """This epoch's shuffled indices, (steps, B): whole batches only. The tutorial's
    60,000 / 100 divides exactly; elsewhere a ragged last batch would change the loss scale
    of one step per epoch."""
    steps = n // batch_size
    return torch.randperm(n, generator=rng)[: steps * batch_size].view(steps, batch_size)


def epoch_batches(
    images_u8: torch.Tensor, labels: torch.Tensor, order: torch.Tensor, start: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (images (B, 1, 28, 28) in [-1, 1], labels (B,)) for the rows of ``order`` from
    ``start`` on."""
    order = order.to(images_u8.device)
    for idx in order[start:]:
        # index_select: one gather kernel, several times cheaper than images_u8[idx] here
        real = to_model_range(images_u8.index_select(0, idx)).view(idx.shape[0], 1, 28, 28)
        yield real, labels.index_select(0, idx)


def endless_batches(
    images_u8: torch.Tensor, labels: torch.Tensor, batch_size: int, rng: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """:func:`epoch_batches` of one shuffled epoch after another, for as long as asked (for
    benchmarks that train by the step or the second rather than by the epoch)."""
    while True:
        yield from epoch_batches(images_u8, labels, epoch_order(len(images_u8), batch_size, rng))
