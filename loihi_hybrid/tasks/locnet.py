"""LocNet: bounding-box regression of the airplane in Caltech-101 photos (mean IoU)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ArraySplit, DataSplits, augment_boxes, load_caltech, synthetic_airplanes
from ..metrics import box_iou, corner_error_px, mean_box_baseline
from ..models import LocNet, LocNetSpec, Mode, SpikingNetwork
from .base import Task, register


@register
class LocNetTask(Task):
    name, metric_name, label = "locnet", "iou", "LocNet (IoU)"
    order = 0
    description = "LocNet: bounding-box regression (Caltech airplanes, mean IoU)"
    in_channels = 3
    data_dir_name = "caltech_airplanes"
    paper = {"ann": (0.8945, None), "converted": (0.7431, 174.56), "hybrid": (0.8253, 137.52)}
    target = 0.91
    report_title = "LocNet (Table 1): mean IoU, Caltech airplanes"
    reproduce_method_epochs = 2
    decoding_params_keys = ("target_mean", "target_std")

    def load_data(self, data_dir: str | Path | None) -> DataSplits:
        d = self.cfg.data
        common = dict(size=tuple(d.input_size), seed=self.cfg.seed, test_frac=d.test_frac, val_frac=d.val_frac)
        if data_dir is None:
            return synthetic_airplanes(n=d.synthetic_samples, **common)
        return load_caltech(data_dir, **common)

    def make_model(self, in_channels: int) -> LocNet:
        c = self.cfg
        return LocNet(LocNetSpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                                 channels=tuple(c.channels), hidden=tuple(c.hidden), neuron=c.neuron))

    def fit_targets(self, model: torch.nn.Module, data: DataSplits) -> None:
        """Standardise the regression targets per coordinate (z-score on the training split)."""
        y = torch.as_tensor(data.train.y, dtype=torch.float32)
        model.target_mean.copy_(y.mean(0))
        model.target_std.copy_(y.std(0).clamp_min(1e-3))

    def loss(self, model: torch.nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(out, (y - model.target_mean) / model.target_std)

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return augment_boxes(x, y, rng)

    def decode_values(self, y: Any, params: dict[str, Any]) -> Any:
        """Standardised readout -> box [x0, y0, x1, y1] normalised to the image size."""
        return y * params["target_std"] + params["target_mean"]

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        iou = box_iou(pred, split.y)
        extra = {"iou_ge_0.9": float(np.mean(iou >= 0.9))}
        if split.orig_size is not None:
            extra["corner_error_px"] = float(np.mean(corner_error_px(pred, split.y, split.orig_size)))
        return float(np.mean(iou)), extra

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """Predict the training split's mean box for every test image."""
        metric, extra = self.score(mean_box_baseline(data.train.y, len(data.test)), data.test)
        return metric, {**extra, "predictor": "mean training box"}

    def deploy_extra(self, data: DataSplits, part: ArraySplit) -> dict[str, Any]:
        return {"mean_box_baseline": self.score(mean_box_baseline(data.train.y, len(part)), part)[0]}

    def preprocessing(self, source: str) -> dict[str, Any]:
        return {"image": "RGB (grey images repeated), resized to HxW, divided by 255",
                "loader": "loihi_hybrid.data.caltech.load_caltech"}

    def decoding(self, model: torch.nn.Module) -> dict[str, Any]:
        return {"output": "box [x0, y0, x1, y1] / image size = y * target_std + target_mean",
                **super().decoding(model)}

    def plot_predictions(self, part: ArraySplit, pred: np.ndarray, path_stem: Path, label: str) -> Path:
        from ..plots.deploy import plot_boxes  # noqa: PLC0415 (matplotlib only when drawing)
        return plot_boxes(part.x, pred, part.y, Path(f"{path_stem}_boxes.png"), scores=box_iou(pred, part.y))

    def report_figure(self, load: Callable[[str], SpikingNetwork], data: DataSplits, folder: Path) -> Path:
        """Boxes of the hybrid SNN on the first 8 test images."""
        from ..plots.deploy import plot_boxes  # noqa: PLC0415 (matplotlib only when drawing)
        model = load("hybrid")
        x = data.test.x[:8]
        with torch.no_grad():
            pred = self.decode(model(torch.as_tensor(x), Mode.SNN, self.cfg.steps), model).numpy()
        return plot_boxes(x, pred, data.test.y[:8], folder / "locnet_boxes.png", scores=box_iou(pred, data.test.y[:8]))


__all__ = ["LocNetTask"]
