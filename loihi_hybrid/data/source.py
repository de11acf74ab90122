"""Pick the data for a run: the real loaders for ``--data DIR``, else the embedded synthetic default."""
from __future__ import annotations

from pathlib import Path

from ..config import RunConfig
from .caltech import load_caltech
from .hippocampus import load_hippocampus
from .synthetic import synthetic_airplanes, synthetic_hippocampus
from .types import DataSplits


def load_run_data(cfg: RunConfig, data_dir: str | Path | None) -> DataSplits:
    """Splits for ``cfg.task`` from ``data_dir`` (``None``: the deterministic synthetic set)."""
    d = cfg.data
    common = dict(size=tuple(d.input_size), seed=cfg.seed, test_frac=d.test_frac, val_frac=d.val_frac)
    if cfg.task == "locnet":
        if data_dir is None:
            return synthetic_airplanes(n=d.synthetic_samples, **common)
        return load_caltech(data_dir, **common)
    if data_dir is None:
        return synthetic_hippocampus(n_volumes=d.synthetic_samples, axis=d.slice_axis, **common)
    return load_hippocampus(data_dir, axis=d.slice_axis, **common)
