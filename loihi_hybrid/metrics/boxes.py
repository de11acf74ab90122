"""Bounding-box metrics on boxes [x0, y0, x1, y1] normalised to the image size."""
from __future__ import annotations

import numpy as np


def box_iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Intersection over union per row of (N, 4) boxes; a degenerate predicted box has IoU 0."""
    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    x0, y0 = np.maximum(pred[:, 0], true[:, 0]), np.maximum(pred[:, 1], true[:, 1])
    x1, y1 = np.minimum(pred[:, 2], true[:, 2]), np.minimum(pred[:, 3], true[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    union = area(pred) + area(true) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def corner_error_px(pred: np.ndarray, true: np.ndarray, orig_size: np.ndarray) -> np.ndarray:
    """Mean absolute corner error per image in pixels of the original image; ``orig_size`` is (N, 2) = (H, W)."""
    scale = np.stack([orig_size[:, 1], orig_size[:, 0], orig_size[:, 1], orig_size[:, 0]], axis=1)
    return np.mean(np.abs(np.asarray(pred) - np.asarray(true)) * scale, axis=1)


def mean_box_baseline(train_boxes: np.ndarray, n: int) -> np.ndarray:
    """The trivial predictor: the training split's mean box for every test image."""
    return np.repeat(np.asarray(train_boxes, dtype=np.float64).mean(axis=0, keepdims=True), n, axis=0)
