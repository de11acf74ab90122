"""scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes; no download).

Each image is 8x8 pixels with values 0..16; they are divided by 16 so that the network sees [0, 1].
``y`` holds the class label (0..9) as float32, ``groups`` the sample index, so that the splits are a
plain per-sample split made by :func:`~loihi_hybrid.data.splits.build_splits` (deterministic by seed).
"""
from __future__ import annotations

import numpy as np

from loihi_hybrid.data.splits import build_splits
from loihi_hybrid.data.types import ArraySplit, DataSplits

#: ``DataSplits.source`` of this set (and ``DigitsTask.default_source``)
DIGITS_SOURCE = "scikit-learn digits (bundled)"
DIGITS_SIZE = (8, 8)
N_CLASSES = 10


def load_digits_splits(seed: int = 0, test_frac: float = 0.2, val_frac: float = 0.1,
                       task: str = "digits") -> DataSplits:
    """The 1797 digits as (N, 1, 8, 8) float32 in [0, 1], split into train/val/test by ``seed``."""
    from sklearn.datasets import load_digits  # noqa: PLC0415 (only this loader needs scikit-learn)

    raw = load_digits()
    x = (np.asarray(raw.images, dtype=np.float32) / 16.0)[:, None]
    y = np.asarray(raw.target, dtype=np.float32)
    n = len(x)
    data = ArraySplit(x=np.clip(x, 0.0, 1.0), y=y, names=[f"digits_{i:04d}" for i in range(n)],
                      groups=np.arange(n, dtype=np.int64))
    return build_splits(data, seed, test_frac, val_frac, DIGITS_SOURCE, task, [])


def shift_digits(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
                 max_shift: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Translate each image by up to ``max_shift`` pixels in each direction (zero fill); labels unchanged."""
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    for i, (dy, dx) in enumerate(rng.integers(-max_shift, max_shift + 1, size=(len(x), 2))):
        src_y, dst_y = slice(max(-dy, 0), h - max(dy, 0)), slice(max(dy, 0), h - max(-dy, 0))
        src_x, dst_x = slice(max(-dx, 0), w - max(dx, 0)), slice(max(dx, 0), w - max(-dx, 0))
        out[i, ..., dst_y, dst_x] = x[i, ..., src_y, src_x]
    return out, y
