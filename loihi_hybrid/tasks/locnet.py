"""LocNet: bounding-box regression of the airplane in Caltech-101 photos (mean IoU)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ArraySplit, DataSplits, augment_boxes, load_caltech, synthetic_airplanes
from ..data.placed import placed_augment, placed_split
from ..metrics import box_iou, corner_error_px, giou_loss, mean_box_baseline
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
    protocols = ("paper", "placed")
    own_keys = ("train.box_loss", "data.protocol", "data.placed_fraction")
    #: seeds of the fixed placed splits, as offsets from the run's seed
    PLACED_SEED = {"train": 100, "val": 101, "test": 102}

    def load_data(self, data_dir: str | Path | None) -> DataSplits:
        """The photos as they are (protocol "paper") or placed (``data/placed.py``) for validation and test;
        the other protocol's test split is evaluated beside it when either uses placed photos."""
        d = self.cfg.data
        common = dict(size=tuple(d.input_size), seed=self.cfg.seed, test_frac=d.test_frac, val_frac=d.val_frac)
        data = synthetic_airplanes(n=d.synthetic_samples, **common) if data_dir is None \
            else load_caltech(data_dir, **common)
        if d.protocol == "paper" and d.placed_fraction == 0:
            return data
        placed_test = self._placed(data.test, "test")
        if d.protocol == "placed":
            return replace(data, val=self._placed(data.val, "val"), test=placed_test, extra_tests={"paper": data.test})
        return replace(data, extra_tests={"placed": placed_test})

    def _placed(self, split: ArraySplit, part: str) -> ArraySplit:
        return placed_split(split, self.cfg.seed + self.PLACED_SEED[part])

    @property
    def _uses_placed(self) -> bool:
        return self.cfg.data.protocol == "placed" or self.cfg.data.placed_fraction > 0

    def _train_boxes(self, data: DataSplits, protocol: str) -> np.ndarray:
        """The training boxes under ``protocol`` (placed: the fixed placed version of the training split)."""
        return self._placed(data.train, "train").y if protocol == "placed" else data.train.y

    def make_model(self, in_channels: int) -> LocNet:
        c = self.cfg
        return LocNet(LocNetSpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                                 channels=tuple(c.channels), hidden=tuple(c.hidden),
                                 pool_convs=c.pool_convs, neuron=c.neuron))

    def fit_targets(self, model: torch.nn.Module, data: DataSplits) -> None:
        """Standardise the regression targets per coordinate (z-score on the training split, with its
        placed version when training places photos)."""
        self._pool = data.train.x  # backgrounds for placed training photos: the training split only
        boxes = [data.train.y] + ([self._train_boxes(data, "placed")] if self._uses_placed else [])
        y = torch.as_tensor(np.concatenate(boxes), dtype=torch.float32)
        model.target_mean.copy_(y.mean(0))
        model.target_std.copy_(y.std(0).clamp_min(1e-3))

    def loss(self, model: torch.nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``train.box_loss``: "mse" (the paper) or "smooth_l1" (Huber with beta 0.1: L1 beyond 0.1 standard
        deviations, so far-off boxes do not dominate and small errors still get a gradient of constant size) on
        the standardised corners, or "giou" (``1 - GIoU`` of the decoded boxes: an error counts by what it
        costs in IoU, so a pixel off a large box in the frame-filling photos counts as much as it costs there,
        not by the corners' spread over the training set)."""
        loss = self.cfg.train.box_loss
        if loss == "giou":
            return giou_loss(self.decode_values(out, self.decoding_params(model)), y)
        target = (y - model.target_mean) / model.target_std
        if loss == "smooth_l1":
            return F.smooth_l1_loss(out, target, beta=0.1)
        return F.mse_loss(out, target)

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``placed_fraction`` of the batch placed on other training photos, then (``data.augment``) flips
        and shifts."""
        if self.cfg.data.placed_fraction > 0:
            x, y = placed_augment(self._pool, self.cfg.data.placed_fraction)(x, y, rng)
        return augment_boxes(x, y, rng) if self.cfg.data.augment else (x, y)

    def decode_values(self, y: Any, params: dict[str, Any]) -> Any:
        """Standardised readout -> box [x0, y0, x1, y1] normalised to the image size."""
        return y * params["target_std"] + params["target_mean"]

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        iou = box_iou(pred, split.y)
        extra = {f"iou_ge_{t}": float(np.mean(iou >= t)) for t in (0.5, 0.75, 0.9)}
        if split.orig_size is not None:
            extra["corner_error_px"] = float(np.mean(corner_error_px(pred, split.y, split.orig_size)))
        return float(np.mean(iou)), extra

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """The best constant box: the training split's mean box (under the test split's protocol) for every
        test image; the same for each extra test split under its protocol."""
        protocol = self.cfg.data.protocol
        metric, extra = self.score(mean_box_baseline(self._train_boxes(data, protocol), len(data.test)), data.test)
        others = {name: self.score(mean_box_baseline(self._train_boxes(data, name), len(split)), split)[0]
                  for name, split in data.extra_tests.items()}
        predictor = "mean training box" + (" (placed photos)" if protocol == "placed" else "")
        return metric, {**extra, "predictor": predictor,
                        **({"protocols": others} if others else {})}

    def deploy_extra(self, data: DataSplits, part: ArraySplit) -> dict[str, Any]:
        boxes = self._train_boxes(data, self.cfg.data.protocol)
        return {"mean_box_baseline": self.score(mean_box_baseline(boxes, len(part)), part)[0],
                "protocol": self.cfg.data.protocol}

    def preprocessing(self, source: str) -> dict[str, Any]:
        """Also names the protocols the network was trained on and validated under."""
        d = self.cfg.data
        trained = ["paper"] if d.placed_fraction < 1 else []
        trained += ["placed"] if d.placed_fraction > 0 else []
        return {"image": "RGB (grey images repeated), resized to HxW, divided by 255",
                "loader": "loihi_hybrid.data.caltech.load_caltech",
                "protocols": {"trained_on": trained, "placed_fraction": d.placed_fraction,
                              "validated_on": d.protocol,
                              "placed": "loihi_hybrid.data.placed: photo scaled by f ~ U[0.4, 0.8], pasted inside "
                                        "a blurred (sigma 4% of W) photo of the same split, border feathered "
                                        "over 3% of its width"}}

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
