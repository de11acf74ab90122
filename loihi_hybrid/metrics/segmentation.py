"""Dice coefficients for binary segmentation, per volume (slices pooled) and per slice."""
from __future__ import annotations

import numpy as np


def _dice(pred: np.ndarray, true: np.ndarray) -> float:
    denom = pred.sum() + true.sum()
    return 1.0 if denom == 0 else float(2.0 * np.logical_and(pred, true).sum() / denom)


def dice_per_volume(prob: np.ndarray, true: np.ndarray, groups: np.ndarray, threshold: float = 0.5) -> float:
    """Mean over volumes of the Dice of all a volume's slices pooled (the headline CAE metric)."""
    pred, true = np.asarray(prob) >= threshold, np.asarray(true) > 0.5
    return float(np.mean([_dice(pred[groups == g], true[groups == g]) for g in np.unique(groups)]))


def dice_per_slice(prob: np.ndarray, true: np.ndarray, threshold: float = 0.5) -> float:
    """Mean Dice over the slices whose ground truth contains hippocampus (nan if none does)."""
    pred, true = np.asarray(prob) >= threshold, np.asarray(true) > 0.5
    has = true.reshape(len(true), -1).any(axis=1)
    return float(np.mean([_dice(pred[i], true[i]) for i in np.flatnonzero(has)])) if has.any() else float("nan")
