"""MNIST's IDX files, read and written in one place: their names, their magic numbers, a
checked reader and the one writer (typed digits and synthetic data sets both use it).

    python -c "import numpy as np; from digitgan.data.idx import idx_bytes, parse_idx; print(parse_idx(idx_bytes(np.arange(3, dtype=np.uint8)), 'x', 'labels'))"
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from digitgan.basics.errors import UserError

IMAGE_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
SIDE = 28
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = SPLIT_FILES["train"] + SPLIT_FILES["test"]


def idx_bytes(array: np.ndarray) -> bytes:
    """MNIST's IDX format: magic (unsigned bytes, ndim), big-endian sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def parse_idx(data: bytes, path: Path, kind: str) -> np.ndarray:
    """Decode one IDX file; ``kind`` is ``"images"`` (N, 28, 28) or ``"labels"`` (N,)."""
    fix = "replace it with an intact copy (or delete it to download again)"
    magic_expected, header = (IMAGE_MAGIC, 16) if kind == "images" else (LABEL_MAGIC, 8)
    if len(data) < header:
        raise UserError(f"{path} is truncated ({len(data)} bytes, header needs {header}); {fix}")
    magic, count = struct.unpack(">II", data[:8])
    if magic != magic_expected:
        raise UserError(
            f"{path} has magic number {magic}, expected {magic_expected} for an IDX {kind} file; {fix}"
        )
    shape: tuple[int, ...] = (count,)
    if kind == "images":
        rows, cols = struct.unpack(">II", data[8:16])
        if (rows, cols) != (SIDE, SIDE):
            raise UserError(f"{path} holds {rows}x{cols} images, expected {SIDE}x{SIDE}; {fix}")
        shape = (count, rows, cols)
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise UserError(
            f"{path} is {len(data)} bytes, its header promises {expected} "
            f"({count} {kind}): the file is truncated or corrupt; {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)
