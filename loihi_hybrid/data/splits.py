"""Deterministic train/val/test splitting, shared by every loader (real and synthetic)."""
from __future__ import annotations

import numpy as np

from loihi_hybrid.data.types import ArraySplit, DataSplits
from loihi_hybrid.errors import InputError


def split_indices(
    n: int, seed: int, test_frac: float = 0.1, val_frac: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``range(n)`` into sorted (train, val, test) index arrays, deterministically by ``seed``.

    ``n_test = round(n * test_frac)`` (at least 1 when n >= 3), then
    ``n_val = round((n - n_test) * val_frac)`` (at least 1 when possible); train always keeps >= 1.
    """
    if n < 0:
        raise InputError(None, f"cannot split {n} samples")
    for name, frac in (("test_frac", test_frac), ("val_frac", val_frac)):
        if not 0.0 <= frac < 1.0:
            raise InputError(None, f"{name} must be in [0, 1), got {frac}")
    n_test = round(n * test_frac)
    if test_frac > 0 and n >= 3:
        n_test = max(n_test, 1)
    n_test = min(n_test, max(n - 1, 0))  # never leave the training set empty
    n_rest = n - n_test
    n_val = round(n_rest * val_frac)
    if val_frac > 0 and n_rest >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, max(n_rest - 1, 0))
    perm = np.random.default_rng(seed).permutation(n)
    test = np.sort(perm[:n_test])
    val = np.sort(perm[n_test : n_test + n_val])
    train = np.sort(perm[n_test + n_val :])
    return train.astype(np.int64), val.astype(np.int64), test.astype(np.int64)


def build_splits(
    data: ArraySplit,
    seed: int,
    test_frac: float,
    val_frac: float,
    source: str,
    task: str,
    skipped: list[tuple[str, str]],
) -> DataSplits:
    """Split ``data`` by its ``groups`` so that no group (e.g. MRI volume) appears in two splits.

    For LocNet ``groups == arange(N)``, which makes this a plain per-sample split.
    """
    group_ids = np.unique(data.groups)
    parts = split_indices(len(group_ids), seed, test_frac, val_frac)
    train, val, test = (data.subset(np.flatnonzero(np.isin(data.groups, group_ids[p]))) for p in parts)
    return DataSplits(train=train, val=val, test=test, source=source, task=task, skipped=skipped)


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """Validate an (H, W) option and return it as a tuple of ints."""
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise InputError(None, f"size must be (height, width), got {size!r}") from None
    if h <= 0 or w <= 0:
        raise InputError(None, f"size must be positive, got {size!r}")
    return h, w
