"""Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files, optionally gzipped)."""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np
import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"

LABELS = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def _open(path: str):
    if os.path.exists(path):
        return open(path, "rb")
    if os.path.exists(path + ".gz"):
        return gzip.open(path + ".gz", "rb")
    raise FileNotFoundError(f"{path}[.gz] not found (apt-get install dataset-fashion-mnist)")


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (magic 0x0000 08 <ndim>, big-endian int32 dims, uint8 data)."""
    with _open(path) as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


@dataclass
class Split:
    x: torch.Tensor  # float32 [N,1,28,28] in [0,1]
    y: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def take(self, idx: torch.Tensor) -> "Split":
        return Split(self.x[idx], self.y[idx])

    def head(self, n: int) -> "Split":
        return Split(self.x[:n], self.y[:n])


def load(split: str, data_dir: str = DEFAULT_DIR) -> Split:
    prefix = {"train": "train", "test": "t10k"}[split]
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return Split(x, y)


def subsample(s: Split, n: int, seed: int) -> Split:
    """A fixed, seeded random subset of n examples (all of them if n >= len)."""
    if n >= len(s):
        return s
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(s), generator=g)[:n].sort().values
    return s.take(idx)
