"""Bounding-box metrics on boxes [x0, y0, x1, y1] normalised to the image size.

The box arithmetic is written once for numpy arrays (metrics) and torch tensors (the GIoU training loss).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _overlap(pred: Any, true: Any) -> tuple[Any, Any, Any]:
    """``(intersection, union, enclosing area)`` per row of (N, 4) boxes (numpy or torch, as given)."""
    if isinstance(pred, torch.Tensor):
        big, small, pos = torch.maximum, torch.minimum, lambda v: v.clamp(min=0)
    else:
        big, small, pos = np.maximum, np.minimum, lambda v: np.clip(v, 0, None)
    area = lambda b: pos(b[:, 2] - b[:, 0]) * pos(b[:, 3] - b[:, 1])  # noqa: E731
    inter = pos(small(pred[:, 2], true[:, 2]) - big(pred[:, 0], true[:, 0])) \
        * pos(small(pred[:, 3], true[:, 3]) - big(pred[:, 1], true[:, 1]))
    union = area(pred) + area(true) - inter
    hull = pos(big(pred[:, 2], true[:, 2]) - small(pred[:, 0], true[:, 0])) \
        * pos(big(pred[:, 3], true[:, 3]) - small(pred[:, 1], true[:, 1]))
    return inter, union, hull


def box_iou(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Intersection over union per row of (N, 4) boxes; a degenerate predicted box has IoU 0."""
    inter, union, _ = _overlap(np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64))
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def giou_loss(pred: torch.Tensor, true: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Mean of ``1 - GIoU`` over (N, 4) boxes (Rezatofighi et al., CVPR 2019):
    ``GIoU = IoU - (C - U) / C``, with ``U`` the union and ``C`` the smallest box enclosing both. It is the
    IoU itself where boxes overlap, so every box counts by its IoU error whatever its size, and it still has
    a gradient where they do not."""
    inter, union, hull = _overlap(pred, true)
    giou = inter / (union + eps) - (hull - union) / (hull + eps)
    return (1.0 - giou).mean()


def corner_error_px(pred: np.ndarray, true: np.ndarray, orig_size: np.ndarray) -> np.ndarray:
    """Mean absolute corner error per image in pixels of the original image; ``orig_size`` is (N, 2) = (H, W)."""
    scale = np.stack([orig_size[:, 1], orig_size[:, 0], orig_size[:, 1], orig_size[:, 0]], axis=1)
    return np.mean(np.abs(np.asarray(pred) - np.asarray(true)) * scale, axis=1)


def mean_box_baseline(train_boxes: np.ndarray, n: int) -> np.ndarray:
    """The trivial predictor: the training split's mean box for every test image."""
    return np.repeat(np.asarray(train_boxes, dtype=np.float64).mean(axis=0, keepdims=True), n, axis=0)
