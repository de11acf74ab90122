"""Digits: a small spiking classifier of scikit-learn's bundled 8x8 handwritten digits (accuracy).

A third network that goes through the same stages, export and back ends as LocNet and CAE, built only
from the shared layer factories: input 1x8x8 -> conv 3x3 -> stride-2 conv -> flatten -> dense -> readout
of 10 class logits. It needs no data download, so it is the quickest full check of the package.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import ArraySplit, DataSplits
from ..data.digits import DIGITS_SIZE, DIGITS_SOURCE, N_CLASSES, load_digits_splits, shift_digits
from ..errors import InputError
from ..fsio import atomic_write
from ..models import SpikingNetwork
from ..models.layers import conv_layer, dense_head
from ..neurons import NeuronParams
from .base import Task, register


@dataclass
class DigitsNetSpec:
    in_channels: int = 1
    input_size: tuple[int, int] = DIGITS_SIZE
    channels: tuple[int, ...] = (16, 32)  # conv 3x3, then the stride-2 conv
    hidden: tuple[int, ...] = (64,)       # dense layers before the readout
    pool_convs: bool = True               # false: channels are one stride-2 conv each
    n_classes: int = N_CLASSES
    neuron: NeuronParams = field(default_factory=NeuronParams)


class DigitsNet(SpikingNetwork):
    """conv1 (3x3) -> pool1 (3x3, stride 2) [-> more conv/pool pairs] -> flatten -> fc* -> readout."""

    def __init__(self, spec: DigitsNetSpec) -> None:
        if len(spec.channels) < 1 or (spec.pool_convs and len(spec.channels) % 2):
            raise InputError("config", "digits: channels must be pairs (conv, stride-2 conv), e.g. [16, 32], "
                                       "or one per stride-2 conv with pool_convs false")
        n = spec.neuron
        layers, cin = [], spec.in_channels
        h, w = spec.input_size
        if spec.pool_convs:
            for i in range(0, len(spec.channels), 2):
                c1, c2 = spec.channels[i], spec.channels[i + 1]
                layers.append(conv_layer(f"conv{i // 2 + 1}", cin, c1, n))
                layers.append(conv_layer(f"pool{i // 2 + 1}", c1, c2, n, stride=2))
                cin, h, w = c2, (h + 1) // 2, (w + 1) // 2
        else:
            for i, c in enumerate(spec.channels):
                layers.append(conv_layer(f"conv{i + 1}", cin, c, n, stride=2))
                cin, h, w = c, (h + 1) // 2, (w + 1) // 2
        layers += dense_head(cin * h * w, tuple(spec.hidden), spec.n_classes, n)
        super().__init__(layers)
        self.spec = spec


def _softmax(y: Any) -> Any:
    if isinstance(y, torch.Tensor):
        return torch.softmax(y, dim=-1)
    y = np.asarray(y, dtype=np.float64)
    e = np.exp(y - y.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@register
class DigitsTask(Task):
    name, metric_name, label = "digits", "accuracy", "Digits (accuracy)"
    description = "digits: 8x8 handwritten digit classification (scikit-learn's bundled set, accuracy)"
    in_channels = 1
    default_source = DIGITS_SOURCE
    target = 0.95

    def load_data(self, data_dir: str | Path | None) -> DataSplits:
        if data_dir is not None:
            raise InputError(data_dir, "the digits network uses scikit-learn's bundled digits; "
                                       "it takes no data folder (leave out --data)")
        d = self.cfg.data
        if tuple(d.input_size) != DIGITS_SIZE:
            raise InputError("config", f"digits: data.input_size must be {list(DIGITS_SIZE)} "
                                       f"(the images are 8x8), not {list(d.input_size)}")
        return load_digits_splits(seed=self.cfg.seed, test_frac=d.test_frac, val_frac=d.val_frac, task=self.name)

    def make_model(self, in_channels: int) -> DigitsNet:
        c = self.cfg
        return DigitsNet(DigitsNetSpec(in_channels=in_channels, input_size=tuple(c.data.input_size),
                                       channels=tuple(c.channels), hidden=tuple(c.hidden),
                                       pool_convs=c.pool_convs, neuron=c.neuron))

    def loss(self, model: torch.nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the readout logits (labels arrive as floats)."""
        return F.cross_entropy(out, y.long())

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return shift_digits(x, y, rng)

    def decode_values(self, y: Any, params: dict[str, Any]) -> Any:
        """Readout logits -> class probabilities (softmax over the last axis)."""
        return _softmax(y)

    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        """Accuracy of the argmax; extra: top-2 accuracy and per-class accuracy (classes present)."""
        pred = np.asarray(pred)
        labels = np.asarray(split.y).astype(np.int64).reshape(-1)
        if len(labels) == 0:
            return float("nan"), {}
        hit = pred.argmax(-1) == labels
        top2 = np.argsort(-pred, axis=-1, kind="stable")[:, :2]
        per_class = {str(c): float(hit[labels == c].mean()) for c in np.unique(labels)}
        return float(hit.mean()), {"top2_accuracy": float(np.mean((top2 == labels[:, None]).any(1))),
                                   "per_class_accuracy": per_class}

    def _majority(self, train: ArraySplit, n: int) -> tuple[np.ndarray, int]:
        counts = np.bincount(np.asarray(train.y).astype(np.int64), minlength=N_CLASSES)
        cls = int(counts.argmax())  # the smallest label among ties
        pred = np.zeros((n, max(N_CLASSES, len(counts))))
        pred[:, cls] = 1.0
        return pred, cls

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """Predict the training split's most frequent class for every test image."""
        pred, cls = self._majority(data.train, len(data.test))
        return self.score(pred, data.test)[0], {"majority_class": cls, "predictor": "majority training class"}

    def deploy_extra(self, data: DataSplits, part: ArraySplit) -> dict[str, Any]:
        pred, _ = self._majority(data.train, len(part))
        return {"majority_class_baseline": self.score(pred, part)[0]}

    def preprocessing(self, source: str) -> dict[str, Any]:
        return {"image": "sklearn.datasets.load_digits images (8x8, values 0..16) divided by 16",
                "loader": "loihi_hybrid.data.digits.load_digits_splits"}

    def decoding(self, model: torch.nn.Module) -> dict[str, Any]:
        return {"output": "10 class logits; probabilities = softmax(y); class = argmax(y)"}

    def plot_predictions(self, part: ArraySplit, pred: np.ndarray, path_stem: Path, label: str) -> Path | None:
        """The first (up to) 16 images with predicted / true class, wrong ones in red."""
        from matplotlib.figure import Figure  # noqa: PLC0415 (figures only when asked for)

        n = min(16, len(part))
        if n == 0:
            return None
        cols = min(8, n)
        rows = (n + cols - 1) // cols
        fig = Figure(figsize=(1.3 * cols, 1.5 * rows))
        guess, true = np.asarray(pred)[:n].argmax(-1), np.asarray(part.y)[:n].astype(int)
        for i in range(n):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.imshow(part.x[i, 0], cmap="gray_r", vmin=0, vmax=1)
            ax.set_title(f"{guess[i]} / {true[i]}", fontsize=9, color="black" if guess[i] == true[i] else "red")
            ax.set_axis_off()
        fig.suptitle(f"{label}: predicted / true class", fontsize=10)
        fig.tight_layout()
        out = atomic_write(Path(f"{path_stem}_digits.png"), lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
        fig.clf()
        return out


__all__ = ["DigitsNet", "DigitsNetSpec", "DigitsTask"]
