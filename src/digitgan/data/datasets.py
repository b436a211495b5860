"""The data sets digitgan trains on and scores against, by name: where each one's four IDX
files live, how to get them, and their checksums. No numpy or torch here, so that the CLI's
--dataset choices cost nothing to list; data/digits.py reads the files.

    python -c "from digitgan.data.datasets import DATASETS; print(*DATASETS)"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# md5 of the decompressed official files (../shared/data/README.md). A mismatch means the
# file was damaged in a way the structural checks cannot see (flipped pixel bytes).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


@dataclass(frozen=True)
class DatasetSpec:
    folder: str  # torchvision's folder name under ROOT
    torchvision_class: str | None  # used only to download
    system_dir: str | None  # where a Debian package installs the files, if any
    md5: dict[str, str] | None
    make: Callable[[str | None], dict[str, Path]] | None = None  # makes a split's files (None: all)


def _typed_files(split: str | None) -> dict[str, Path]:
    from digitgan.data.typed import typed_files  # fonts and Pillow's renderer: only when asked for

    return typed_files(split=split)


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("MNIST", "MNIST", None, MNIST_MD5),
    # apt-get install dataset-fashion-mnist puts the four .gz files here.
    "fashion-mnist": DatasetSpec("FashionMNIST", "FashionMNIST", "/usr/share/datasets/fashion-mnist", None),
    # Digits printed in Debian's fonts, made MNIST-like (data/typed.py), rendered into the cache.
    "typed": DatasetSpec("TYPED", None, None, None, make=_typed_files),
}
