"""Caltech airplanes loader: layouts, box conventions, bad samples, splits, real data."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from loihi_hybrid.data import DataWarning, load_caltech, split_indices
from loihi_hybrid.errors import DataError

W, H = 40, 20
# (top, bottom, left, right), 1-based inclusive, as in Caltech box_coord
BOXES = {1: (3, 12, 5, 30), 2: (1, 20, 1, 40), 3: (5, 15, 10, 25), 4: (2, 18, 3, 35), 5: (4, 10, 6, 20)}


def _write_image(path: Path, index: int, mode: str = "RGB") -> None:
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, quality=95)


def _make(root: Path, layout: str, boxes: dict[int, tuple[int, int, int, int]] = BOXES) -> Path:
    """Fake data set: layout in {"original", "flat", "csv", "csv-header"}."""
    image_dir = root / ("101_ObjectCategories/airplanes" if layout == "original" else "images")
    image_dir.mkdir(parents=True)
    for i in boxes:
        _write_image(image_dir / f"image_{i:04d}.jpg", i)
    if layout in ("original", "flat"):
        mat_dir = root / "Annotations/Airplanes_Side_2"
        mat_dir.mkdir(parents=True)
        for i, box in boxes.items():
            scipy.io.savemat(mat_dir / f"annotation_{i:04d}.mat", {"box_coord": np.array([box], dtype=np.uint16)})
    else:
        lines = ["filename,startX,startY,endX,endY"] if layout == "csv-header" else []
        lines += [f"image_{i:04d}.jpg,{left},{t},{r},{b}" for i, (t, b, left, r) in boxes.items()]
        (root / "airplanes.csv").write_text("\n".join(lines) + "\n")
    return root


def _all(splits):
    """Every sample's name -> (box, image) over train/val/test."""
    out = {}
    for part in (splits.train, splits.val, splits.test):
        for name, y, x in zip(part.names, part.y, part.x):
            out[name] = (y, x)
    return out


@pytest.mark.parametrize("layout", ["original", "flat", "csv", "csv-header"])
def test_layouts_normalise_boxes(tmp_path: Path, layout: str) -> None:
    splits = load_caltech(_make(tmp_path, layout), size=(12, 16))
    samples = _all(splits)
    assert sorted(samples) == [f"image_{i:04d}.jpg" for i in BOXES]
    # Hand-computed: left=5, top=3, right=30, bottom=12 in a 40x20 image.
    np.testing.assert_allclose(samples["image_0001.jpg"][0], [4 / 40, 2 / 20, 30 / 40, 12 / 20], atol=1e-6)
    np.testing.assert_allclose(samples["image_0002.jpg"][0], [0, 0, 1, 1], atol=1e-6)  # full-image box
    part = splits.train
    assert part.x.dtype == np.float32 and part.x.shape[1:] == (3, 12, 16)
    assert part.x.min() >= 0 and part.x.max() <= 1
    assert part.y.dtype == np.float32 and part.y.shape[1:] == (4,)
    assert part.orig_size.tolist()[0] == [H, W]
    assert splits.task == "locnet" and splits.source == str(tmp_path) and splits.skipped == []


def test_mat_and_csv_layouts_agree(tmp_path: Path) -> None:
    mat = _all(load_caltech(_make(tmp_path / "a", "flat"), size=(12, 16)))
    csv = _all(load_caltech(_make(tmp_path / "b", "csv"), size=(12, 16)))
    assert mat.keys() == csv.keys()
    for name in mat:
        np.testing.assert_array_equal(mat[name][0], csv[name][0])
        np.testing.assert_array_equal(mat[name][1], csv[name][1])


def test_mat_preferred_over_csv(tmp_path: Path) -> None:
    root = _make(tmp_path, "flat")
    (root / "airplanes.csv").write_text("".join(f"image_{i:04d}.jpg,1,1,2,2\n" for i in BOXES))
    samples = _all(load_caltech(root, size=(12, 16)))
    np.testing.assert_allclose(samples["image_0001.jpg"][0], [0.1, 0.1, 0.75, 0.6], atol=1e-6)


def test_grayscale_becomes_rgb(tmp_path: Path) -> None:
    root = _make(tmp_path, "csv")
    _write_image(root / "images/image_0001.jpg", 1, mode="L")
    samples = _all(load_caltech(root, size=(12, 16)))
    x = samples["image_0001.jpg"][1]
    assert x.shape == (3, 12, 16)
    np.testing.assert_array_equal(x[0], x[1])


@pytest.mark.parametrize("layout", ["flat", "csv"])
def test_degenerate_box_skipped_with_warning(tmp_path: Path, layout: str) -> None:
    boxes = dict(BOXES)
    boxes[3] = (7, 7, 10, 25)  # top == bottom, like the real image_0118
    boxes[4] = (2, 25, 3, 35)  # bottom beyond the 20-pixel-high image
    with pytest.warns(DataWarning) as record:
        splits = load_caltech(_make(tmp_path, layout, boxes), size=(12, 16))
    messages = " | ".join(str(w.message) for w in record)
    assert "image_0003" in messages and "degenerate" in messages
    assert "image_0004" in messages and "outside" in messages
    assert sorted(_all(splits)) == ["image_0001.jpg", "image_0002.jpg", "image_0005.jpg"]
    assert [Path(f).name for f, _ in splits.skipped] == ["image_0003.jpg", "image_0004.jpg"]


def test_corrupt_image_skipped_with_warning(tmp_path: Path) -> None:
    root = _make(tmp_path, "flat")
    (root / "images/image_0002.jpg").write_bytes(b"this is not a jpeg")
    good = (root / "images/image_0003.jpg").read_bytes()
    (root / "images/image_0003.jpg").write_bytes(good[: len(good) // 2])  # truncated
    with pytest.warns(DataWarning) as record:
        splits = load_caltech(root, size=(12, 16))
    messages = " | ".join(str(w.message) for w in record)
    assert "image_0002" in messages and "image_0003" in messages
    assert sorted(_all(splits)) == ["image_0001.jpg", "image_0004.jpg", "image_0005.jpg"]
    assert {Path(f).name for f, _ in splits.skipped} == {"image_0002.jpg", "image_0003.jpg"}


def test_corrupt_mat_skipped_with_warning(tmp_path: Path) -> None:
    root = _make(tmp_path, "flat")
    (root / "Annotations/Airplanes_Side_2/annotation_0005.mat").write_bytes(b"\x00garbage" * 10)
    with pytest.warns(DataWarning, match="annotation_0005"):
        splits = load_caltech(root, size=(12, 16))
    assert "image_0005.jpg" not in _all(splits)


def test_missing_folder_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        load_caltech(missing)


def test_no_images_or_annotations_raise(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_caltech(tmp_path)
    _write_image(tmp_path / "images/image_0001.jpg", 1)
    with pytest.raises(DataError, match="no annotations"):
        load_caltech(tmp_path)


def test_malformed_csv_raises(tmp_path: Path) -> None:
    root = _make(tmp_path, "csv")
    (root / "airplanes.csv").write_text("a;b;c\nfoo;bar;baz\n")
    with pytest.raises(DataError, match="airplanes.csv"):
        load_caltech(root)


def test_all_samples_bad_raises(tmp_path: Path) -> None:
    root = _make(tmp_path, "csv", {1: (5, 5, 1, 10)})
    with pytest.warns(DataWarning), pytest.raises(DataError, match="no usable"):
        load_caltech(root)


def test_split_is_deterministic(tmp_path: Path) -> None:
    boxes = {i: (2, 15, 3, 30) for i in range(1, 21)}
    root = _make(tmp_path, "csv", boxes)
    a, b, c = (load_caltech(root, size=(8, 8), seed=s) for s in (0, 0, 1))
    assert (a.train.names, a.val.names, a.test.names) == (b.train.names, b.val.names, b.test.names)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert a.test.names != c.test.names or a.val.names != c.val.names
    assert (len(a.train), len(a.val), len(a.test)) == (16, 2, 2)
    assert sorted(a.train.names + a.val.names + a.test.names) == sorted(f"image_{i:04d}.jpg" for i in boxes)


def test_split_indices_counts_and_determinism() -> None:
    train, val, test = split_indices(100, seed=3)
    assert (len(train), len(val), len(test)) == (81, 9, 10)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    again = split_indices(100, seed=3)
    for p, q in zip((train, val, test), again):
        np.testing.assert_array_equal(p, q)
    assert [len(p) for p in split_indices(3, seed=0)] == [1, 1, 1]
    assert [len(p) for p in split_indices(1, seed=0)] == [1, 0, 0]
    assert [len(p) for p in split_indices(10, seed=0, test_frac=0.0, val_frac=0.0)] == [10, 0, 0]


@pytest.fixture(scope="module")
def real_caltech(shared_data: Path):
    root = shared_data / "caltech_airplanes"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    start = time.perf_counter()
    with pytest.warns(DataWarning, match="image_0118"):
        splits = load_caltech(root)
    return splits, time.perf_counter() - start


def test_real_caltech(real_caltech) -> None:
    splits, seconds = real_caltech
    parts = (splits.train, splits.val, splits.test)
    assert sum(len(p) for p in parts) + len(splits.skipped) == 720
    assert [Path(f).stem for f, _ in splits.skipped] == ["image_0118"]
    names = [n for p in parts for n in p.names]
    assert len(set(names)) == len(names) == 719
    for p in parts:
        assert p.x.shape[1:] == (3, 48, 72)
        assert np.all((p.y >= 0) & (p.y <= 1))
        assert np.all(p.y[:, 0] < p.y[:, 2]) and np.all(p.y[:, 1] < p.y[:, 3])
    assert seconds < 30
