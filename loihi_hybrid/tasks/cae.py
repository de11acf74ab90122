"""CAE: convolutional auto-encoder segmenting the hippocampus in MRI slices (Dice per volume)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ArraySplit, DataSplits, augment_masks, load_hippocampus, synthetic_hippocampus
from ..metrics import dice_per_slice, dice_per_volume
from ..models import CAE, CAESpec, Mode, SpikingNetwork
from .base import Task, register


@register
class CAETask(Task):
    name, metric_name, label = "cae", "dice", "CAE (Dice per volume)"
    order = 1
    description = "CAE: hippocampus segmentation in MRI slices (Dice per volume)"
    in_channels = 1
    own_keys = ("train.bce_weight", "train.dice_weight", "data.slice_axis")
    data_dir_name = "hippocampus"
    reproduce_config = "cae_cpu_budget"
    paper = {"ann": (0.8221, None), "converted": (0.4859, 708.23), "hybrid": (0.7648, 731.38)}
    target = 0.83
    report_title = "CAE (Table 2): Dice per volume, hippocampus"
    reproduce_method_batches = 20

    def load_data(self, data_dir: str | Path | None) -> DataSplits:
        d = self.cfg.data
        common = dict(size=tuple(d.input_size), seed=self.cfg.seed, test_frac=d.test_frac, val_frac=d.val_frac)
        if data_dir is None:
            return synthetic_hippocampus(n_volumes=d.synthetic_samples, axis=d.slice_axis, **common)
        return load_hippocampus(data_dir, axis=d.slice_axis, **common)

    def make_model(self, in_channels: int) -> CAE:
        c = self.cfg
        return CAE(CAESpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                           channels=tuple(c.channels), pool_convs=c.pool_convs,
                           neuron=c.neuron))

    def loss(self, model: torch.nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``bce_weight`` x BCE + ``dice_weight`` x (1 - soft Dice)."""
        t = self.cfg.train
        bce = F.binary_cross_entropy_with_logits(out, y)
        p = torch.sigmoid(out)
        soft_dice = (2 * (p * y).sum() + 1.0) / (p.sum() + y.sum() + 1.0)
        return t.bce_weight * bce + t.dice_weight * (1.0 - soft_dice)

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return augment_masks(x, y, rng)

    def decode_values(self, y: Any, params: dict[str, Any]) -> Any:
        """Readout logits -> hippocampus probability map."""
        return torch.sigmoid(y) if isinstance(y, torch.Tensor) else 1.0 / (1.0 + np.exp(-y))

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        return (dice_per_volume(pred, split.y, split.groups),
                {"dice_per_slice_with_hippocampus": dice_per_slice(pred, split.y)})

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """Predict the training split's mean mask (pixel-wise frequency) for every test slice."""
        mean_mask = data.train.y.mean(axis=0, keepdims=True)
        metric, extra = self.score(np.repeat(mean_mask, len(data.test), axis=0), data.test)
        return metric, {**extra, "predictor": "mean training mask"}

    def preprocessing(self, source: str) -> dict[str, Any]:
        return {"image": "per-volume clip to the 1st..99th percentile of nonzero voxels, scaled to [0, 1]; "
                         "2-D slices centre-cropped / zero-padded to HxW",
                "slice_axis": self.cfg.data.slice_axis, "loader": "loihi_hybrid.data.hippocampus.load_hippocampus"}

    def decoding(self, model: torch.nn.Module) -> dict[str, Any]:
        return {"output": "hippocampus probability = sigmoid(y); mask = probability > 0.5"}

    def plot_predictions(self, part: ArraySplit, pred: np.ndarray, path_stem: Path, label: str) -> Path:
        from ..plots.deploy import plot_segmentation_panels  # noqa: PLC0415 (matplotlib only when drawing)
        rows = np.flatnonzero(part.y.reshape(len(part.y), -1).any(1))[:4]
        return plot_segmentation_panels(part.x, part.y, {label: pred}, Path(f"{path_stem}_panels.png"),
                                        rows=rows if len(rows) else None)

    def report_figure(self, load: Callable[[str], SpikingNetwork], data: DataSplits, folder: Path) -> Path:
        """ANN, converted and hybrid probability maps on 4 test slices with hippocampus."""
        from ..plots.deploy import plot_segmentation_panels  # noqa: PLC0415 (matplotlib only when drawing)
        rows = np.flatnonzero(data.test.y.reshape(len(data.test), -1).sum(1) > 20)
        rows = rows[np.linspace(0, len(rows) - 1, 4).astype(int)]
        probs = {}
        for stage, mode in (("ann", Mode.ANN), ("converted", Mode.SNN), ("hybrid", Mode.SNN)):
            model = load(stage)
            with torch.no_grad():
                probs[stage] = self.decode(model(torch.as_tensor(data.test.x[rows]), mode, self.cfg.steps),
                                           model).numpy()
        return plot_segmentation_panels(data.test.x[rows], data.test.y[rows], probs, folder / "cae_panels.png",
                                        show_mask=True)


__all__ = ["CAETask"]
