"""Containers for loaded data sets and the record of samples that were left out."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DataWarning(UserWarning):
    """A single sample was left out (corrupt file, bad annotation, mismatched pair)."""


def warn_skip(skipped: list[tuple[str, str]], file: str | Path, reason: str) -> None:
    """Record ``(file, reason)`` in ``skipped`` and emit a :class:`DataWarning` naming both."""
    skipped.append((str(file), reason))
    # stacklevel 3: point at the loader's caller, not at this helper.
    warnings.warn(f"{file}: {reason}; sample left out", DataWarning, stacklevel=3)


@dataclass
class ArraySplit:
    """One split of a data set as aligned numpy arrays (see module docs of the loaders)."""

    x: np.ndarray  # float32 (N, C, H, W) in [0, 1]
    y: np.ndarray  # LocNet: float32 (N, 4) [x0, y0, x1, y1]; CAE: float32 (N, 1, H, W) in {0, 1}
    names: list[str]
    groups: np.ndarray  # int64 (N,): source volume (CAE) or sample index (LocNet)
    orig_size: np.ndarray | None = None  # LocNet: int64 (N, 2) original (height, width)

    def __post_init__(self) -> None:
        n = len(self.x)
        sizes = {len(self.y), len(self.names), len(self.groups)}
        if self.orig_size is not None:
            sizes.add(len(self.orig_size))
        if sizes != {n}:
            raise ValueError(f"ArraySplit fields have different lengths: x={n}, others={sorted(sizes)}")

    def __len__(self) -> int:
        return len(self.x)

    def subset(self, idx: np.ndarray | list[int] | slice) -> ArraySplit:
        """Samples selected by an index array, boolean mask or slice (copies the arrays)."""
        pos = np.arange(len(self))[idx]
        return ArraySplit(
            x=self.x[pos],
            y=self.y[pos],
            names=[self.names[i] for i in pos],
            groups=self.groups[pos],
            orig_size=None if self.orig_size is None else self.orig_size[pos],
        )


@dataclass
class DataSplits:
    """Train/validation/test splits of one data set, plus where it came from."""

    train: ArraySplit
    val: ArraySplit
    test: ArraySplit
    source: str  # "synthetic" or the data folder path
    task: str  # "locnet" or "cae"
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    #: further test splits evaluated beside ``test`` (e.g. LocNet's other protocol), by name
    extra_tests: dict[str, ArraySplit] = field(default_factory=dict)
