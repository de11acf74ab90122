"""Synthetic data sets and augmentation."""
from __future__ import annotations

import numpy as np
import pytest

from loihi_hybrid.data import augment_boxes, augment_masks, synthetic_airplanes, synthetic_hippocampus

PARTS = ("train", "val", "test")


def _arrays(splits):
    return [getattr(getattr(splits, p), f) for p in PARTS for f in ("x", "y", "groups")]


def test_airplanes_deterministic_and_well_formed() -> None:
    a, b = synthetic_airplanes(n=60, seed=3), synthetic_airplanes(n=60, seed=3)
    for u, v in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a.train.x, synthetic_airplanes(n=60, seed=4).train.x)
    assert (len(a.train), len(a.val), len(a.test)) == (49, 5, 6)  # test round(6.0) = 6, val round(5.4) = 5
    assert a.source == "synthetic" and a.task == "locnet" and a.skipped == []
    for p in PARTS:
        part = getattr(a, p)
        assert part.x.dtype == np.float32 and part.x.shape[1:] == (3, 32, 48)
        assert part.x.min() >= 0 and part.x.max() <= 1
        assert part.y.dtype == np.float32 and part.y.shape[1:] == (4,)
        assert np.all((part.y >= 0) & (part.y <= 1))
        assert np.all(part.y[:, 0] < part.y[:, 2]) and np.all(part.y[:, 1] < part.y[:, 3])
        assert part.orig_size.tolist() == [[32, 48]] * len(part)
    widths = np.concatenate([getattr(a, p).y[:, 2] - getattr(a, p).y[:, 0] for p in PARTS])
    assert 0.45 <= widths.min() and widths.max() <= 0.95 and widths.std() > 0.05


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def test_airplane_mean_box_baseline_is_decent_but_beatable() -> None:
    splits = synthetic_airplanes(seed=0)
    mean_box = np.tile(splits.train.y.mean(axis=0), (len(splits.test), 1))
    assert 0.5 < _iou(splits.test.y, mean_box).mean() < 0.85


def test_hippocampus_deterministic_and_split_by_volume() -> None:
    a, b = synthetic_hippocampus(n_volumes=10, seed=1), synthetic_hippocampus(n_volumes=10, seed=1)
    for u, v in zip(_arrays(a), _arrays(b)):
        np.testing.assert_array_equal(u, v)
    assert a.task == "cae" and a.source == "synthetic"
    vols = [set(getattr(a, p).groups.tolist()) for p in PARTS]
    assert [len(v) for v in vols] == [8, 1, 1]
    assert not (vols[0] & vols[1] or vols[0] & vols[2] or vols[1] & vols[2])
    for p in PARTS:
        part = getattr(a, p)
        assert part.x.dtype == np.float32 and part.x.shape[1:] == (1, 32, 32)
        assert part.y.dtype == np.float32 and set(np.unique(part.y)) <= {0.0, 1.0}
        assert part.x.min() >= 0 and part.x.max() <= 1
        assert len(part) == 16 * len(np.unique(part.groups))
    y = np.concatenate([getattr(a, p).y for p in PARTS])
    non_empty = y.reshape(len(y), -1).max(axis=1) > 0
    assert non_empty.mean() > 0.7
    assert 0.005 < y.mean() < 0.2


def test_hippocampus_structure_differs_from_background() -> None:
    part = synthetic_hippocampus(n_volumes=6, seed=0, test_frac=0.0, val_frac=0.0).train
    gaps = []
    for g in np.unique(part.groups):
        x, y = part.x[part.groups == g], part.y[part.groups == g] > 0
        gaps.append(abs(x[y].mean() - x[~y].mean()))
    assert min(gaps) > 0.03  # learnable: the structure has its own mean intensity


def _rectangle_batch(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((n, 1, 50, 100), dtype=np.float32)
    x[:, :, 10:30, 20:60] = 1.0  # rows 10-29, cols 20-59
    y = np.tile(np.array([[0.2, 0.2, 0.6, 0.6]], dtype=np.float32), (n, 1))
    return x, y


def _box_of(img: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(img[0] > 0.5)
    h, w = img.shape[-2:]
    return np.array([cols.min() / w, rows.min() / h, (cols.max() + 1) / w, (rows.max() + 1) / h])


def test_augment_boxes_moves_box_with_image() -> None:
    x, y = _rectangle_batch()
    xa, ya = augment_boxes(x, y, np.random.default_rng(0))
    assert xa.shape == x.shape and xa.dtype == np.float32 and ya.dtype == np.float32
    assert np.array_equal(x[0, 0, 10:30, 20:60], np.ones((20, 40)))  # input untouched
    flipped = 0
    for img, box in zip(xa, ya):
        np.testing.assert_allclose(box, _box_of(img), atol=1e-6)
        flipped += box[0] > 0.3  # flipped box starts at 0.4 +- 0.08
    assert 0 < flipped < len(x)  # both flipped and unflipped samples occur
    assert len({tuple(b) for b in ya.round(3)}) > 5  # translations vary
    shifts = np.abs(ya - y)
    assert shifts[:, 1].max() <= 0.08 + 1e-6  # vertical shift <= 8 %


def test_augment_boxes_clips_at_border() -> None:
    x = np.zeros((32, 1, 20, 20), dtype=np.float32)
    x[:, :, :, :] = 1.0
    y = np.tile(np.array([[0.0, 0.0, 1.0, 1.0]], dtype=np.float32), (32, 1))
    _, ya = augment_boxes(x, y, np.random.default_rng(1))
    assert ya.min() >= 0 and ya.max() <= 1


def test_augment_masks_identical_transform() -> None:
    x, _ = _rectangle_batch()
    rng = np.random.default_rng(3)
    x = x + rng.uniform(0, 0.1, size=x.shape).astype(np.float32)  # texture so image != mask
    mask = (x > 0.5).astype(np.float32)
    xa, ma = augment_masks(x, mask, np.random.default_rng(7))
    np.testing.assert_array_equal(ma, (xa > 0.5).astype(np.float32))
    assert not np.array_equal(ma, mask)
    assert set(np.unique(ma)) <= {0.0, 1.0}


def test_augment_is_deterministic_given_rng() -> None:
    x, y = _rectangle_batch(8)
    a = augment_boxes(x, y, np.random.default_rng(5))
    b = augment_boxes(x, y, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("fn", [augment_boxes, augment_masks])
def test_augment_empty_batch(fn) -> None:
    x = np.zeros((0, 1, 8, 8), dtype=np.float32)
    y = np.zeros((0, 4), dtype=np.float32) if fn is augment_boxes else x.copy()
    xa, ya = fn(x, y, np.random.default_rng(0))
    assert len(xa) == 0 and len(ya) == 0
