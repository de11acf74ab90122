"""Deployment figures: each writes a readable PNG and rejects inconsistent shapes."""
from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from loihi_hybrid.plots.deploy import (plot_boxes, plot_layer_rates, plot_raster,
                                               plot_segmentation_panels)

RNG = np.random.default_rng(0)


def _check_png(out: Path, expected: Path) -> None:
    assert out == expected and out.is_file() and out.stat().st_size > 0
    img = mpimg.imread(out)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50 and img.shape[2] in (3, 4)


def _boxes(n: int) -> np.ndarray:
    lo = RNG.uniform(0.0, 0.5, size=(n, 2))
    hi = lo + RNG.uniform(0.1, 0.5, size=(n, 2))
    return np.concatenate([lo, hi], axis=1)


def test_layer_rates(tmp_path: Path) -> None:
    layers = [{"name": f"conv{i}", "firing_rate_hz": float(r)} for i, r in enumerate([12.3, 40.0, 0.0, 7.5])]
    target = tmp_path / "nested" / "rates.png"
    _check_png(plot_layer_rates(layers, target, title="rates", mean_hz=15.0), target)
    _check_png(plot_layer_rates(layers, str(tmp_path / "plain.png")), tmp_path / "plain.png")
    with pytest.raises(ValueError):
        plot_layer_rates([], tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_layer_rates([{"name": "a"}], tmp_path / "x.png")


def test_raster(tmp_path: Path) -> None:
    rasters = {"input": RNG.random((5, 40)) < 0.2, "conv1": (RNG.random((3, 40)) < 0.1).astype(int),
               "empty": np.zeros((4, 40), dtype=bool)}
    target = tmp_path / "a" / "b" / "raster.png"
    _check_png(plot_raster(rasters, target, dt_ms=0.5, title="sample 0"), target)
    with pytest.raises(ValueError):
        plot_raster({}, tmp_path / "x.png")
    with pytest.raises(ValueError):
        plot_raster({"bad": np.zeros(10)}, tmp_path / "x.png")


@pytest.mark.parametrize("channels", [1, 3])
def test_boxes(tmp_path: Path, channels: int) -> None:
    N = 6
    images = RNG.random((N, channels, 24, 32))
    pred, true = _boxes(N), _boxes(N)
    target = tmp_path / "boxes" / f"c{channels}.png"
    _check_png(plot_boxes(images, pred, true, target, n=5, scores=RNG.random(N)), target)
    _check_png(plot_boxes(images[:2], pred[:2], true[:2], target), target)


def test_boxes_rejects_bad_shapes(tmp_path: Path) -> None:
    images, boxes = RNG.random((4, 3, 8, 8)), _boxes(4)
    out = tmp_path / "x.png"
    with pytest.raises(ValueError):
        plot_boxes(images, boxes[:3], boxes, out)  # mismatched N
    with pytest.raises(ValueError):
        plot_boxes(images, boxes, boxes[:, :3], out)  # not 4 coordinates
    with pytest.raises(ValueError):
        plot_boxes(images[:, 0], boxes, boxes, out)  # wrong ndim
    with pytest.raises(ValueError):
        plot_boxes(RNG.random((4, 2, 8, 8)), boxes, boxes, out)  # C not 1 or 3
    with pytest.raises(ValueError):
        plot_boxes(images, boxes, boxes, out, scores=np.ones(3))
    assert not out.exists()


def _seg(N: int = 5, H: int = 16, W: int = 12) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    images = RNG.random((N, 1, H, W))
    truth = (RNG.random((N, 1, H, W)) > 0.7).astype(np.float32)
    probs = {"ANN": RNG.random((N, 1, H, W)), "hybrid SNN": RNG.random((N, 1, H, W))}
    return images, truth, probs


def test_segmentation_panels(tmp_path: Path) -> None:
    images, truth, probs = _seg()
    target = tmp_path / "seg" / "panels.png"
    _check_png(plot_segmentation_panels(images, truth, probs, target, n=3), target)
    _check_png(plot_segmentation_panels(images, truth, probs, target, show_mask=False,
                                        rows=np.array([4, 1])), target)
    _check_png(plot_segmentation_panels(images, truth, {}, target, n=1, show_mask=False), target)


def test_segmentation_panels_rejects_bad_shapes(tmp_path: Path) -> None:
    images, truth, probs = _seg()
    out = tmp_path / "x.png"
    with pytest.raises(ValueError):
        plot_segmentation_panels(images, truth[:4], probs, out)  # mismatched N
    with pytest.raises(ValueError):
        plot_segmentation_panels(images[:, 0], truth[:, 0], probs, out)  # wrong ndim
    with pytest.raises(ValueError):
        plot_segmentation_panels(images, truth, {"ANN": probs["ANN"][:2]}, out)
    with pytest.raises(ValueError):
        plot_segmentation_panels(images, truth, {}, out)  # show_mask without a map
    with pytest.raises(ValueError):
        plot_segmentation_panels(images, truth, probs, out, rows=np.array([7]))
    assert not out.exists()
