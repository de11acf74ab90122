"""What differs between the two networks: model, loss, decoding, augmentation, metrics, baseline."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import RunConfig
from ..data import ArraySplit, DataSplits
from ..data.augment import augment_boxes, augment_masks
from ..metrics import box_iou, corner_error_px, dice_per_slice, dice_per_volume, mean_box_baseline
from ..models.init import calibrate
from ..models import CAE, CAESpec, LocNet, LocNetSpec, SpikingNetwork


class LocTask:
    name, metric_name = "locnet", "iou"

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    def build(self, in_channels: int) -> LocNet:
        c = self.cfg
        return LocNet(LocNetSpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                                 channels=tuple(c.channels), hidden=tuple(c.hidden), neuron=c.neuron))

    def prepare(self, model: SpikingNetwork, data: DataSplits) -> None:
        """Standardise regression targets per coordinate (z-score on the training split); calibrate."""
        y = torch.as_tensor(data.train.y, dtype=torch.float32)
        model.target_mean.copy_(y.mean(0))
        model.target_std.copy_(y.std(0).clamp_min(1e-3))
        calibrate_on(model, data)

    def loss(self, model: SpikingNetwork, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, (y - model.target_mean) / model.target_std)

    def predict(self, model: SpikingNetwork, out: torch.Tensor) -> torch.Tensor:
        return model.decode(out)

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return augment_boxes(x, y, rng)

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        iou = box_iou(pred, split.y)
        extra = {"iou_ge_0.9": float(np.mean(iou >= 0.9))}
        if split.orig_size is not None:
            extra["corner_error_px"] = float(np.mean(corner_error_px(pred, split.y, split.orig_size)))
        return float(np.mean(iou)), extra

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """Predict the training split's mean box for every test image."""
        pred = mean_box_baseline(data.train.y, len(data.test))
        metric, extra = self.score(pred, data.test)
        return metric, {**extra, "predictor": "mean training box"}


class SegTask:
    name, metric_name = "cae", "dice"

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg

    def build(self, in_channels: int) -> CAE:
        c = self.cfg
        return CAE(CAESpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                           channels=tuple(c.channels), neuron=c.neuron))

    def prepare(self, model: SpikingNetwork, data: DataSplits) -> None:
        calibrate_on(model, data)

    def loss(self, model: SpikingNetwork, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = self.cfg.train
        bce = F.binary_cross_entropy_with_logits(out, y)
        p = torch.sigmoid(out)
        soft_dice = (2 * (p * y).sum() + 1.0) / (p.sum() + y.sum() + 1.0)
        return t.bce_weight * bce + t.dice_weight * (1.0 - soft_dice)

    def predict(self, model: SpikingNetwork, out: torch.Tensor) -> torch.Tensor:
        return model.decode(out)

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return augment_masks(x, y, rng)

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        return (dice_per_volume(pred, split.y, split.groups),
                {"dice_per_slice_with_hippocampus": dice_per_slice(pred, split.y)})

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """Predict the training split's mean mask (pixel-wise frequency) for every test slice."""
        mean_mask = data.train.y.mean(axis=0, keepdims=True)
        pred = np.repeat(mean_mask, len(data.test), axis=0)
        metric, extra = self.score(pred, data.test)
        return metric, {**extra, "predictor": "mean training mask"}


def calibrate_on(model: SpikingNetwork, data: DataSplits, n: int = 64) -> None:
    """Data-driven initialisation on the first ``n`` training samples (deterministic)."""
    device = next(model.parameters()).device
    calibrate(model, torch.as_tensor(data.train.x[:n], dtype=torch.float32, device=device))


def make_task(cfg: RunConfig) -> LocTask | SegTask:
    return {"locnet": LocTask, "cae": SegTask}[cfg.task](cfg)


__all__ = ["LocTask", "SegTask", "make_task"]
