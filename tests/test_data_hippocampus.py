"""Hippocampus loader: layouts, label union, normalisation, bad pairs, volume split, crop/pad, real data."""
from __future__ import annotations

import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from loihi_hybrid.data import DataWarning, load_hippocampus
from loihi_hybrid.data.hippocampus import center_crop_pad, normalise_intensity
from loihi_hybrid.errors import DataError

SHAPE = (6, 8, 4)


def _save(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))


def _volume(i: int, shape=SHAPE) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(i)
    image = rng.uniform(1, 100, size=shape).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    label[2:4, 3:5, 1] = 1  # "head"
    label[2:4, 3:5, 2] = 2  # "body/tail"; slices 0 and 3 stay empty
    return image, label


def _msd(root: Path, n: int = 5) -> Path:
    for i in range(n):
        image, label = _volume(i)
        _save(root / "imagesTr" / f"hip_{i:03d}.nii.gz", image)
        _save(root / "labelsTr" / f"hip_{i:03d}.nii.gz", label)
    (root / "imagesTr" / "._hip_000.nii.gz").write_bytes(b"\x00\x05\x16\x07 mac resource fork")
    return root


def _names(splits) -> list[str]:
    return [n for p in (splits.train, splits.val, splits.test) for n in p.names]


def _volumes(part) -> set[str]:
    return {n.split(":")[0] for n in part.names}


def test_msd_layout_union_and_shapes(tmp_path: Path) -> None:
    splits = load_hippocampus(_msd(tmp_path), size=(8, 10))
    assert splits.task == "cae" and splits.skipped == []
    assert len(_names(splits)) == 5 * SHAPE[2]  # all slices kept, including empty-mask ones
    for part in (splits.train, splits.val, splits.test):
        assert part.x.dtype == np.float32 and part.x.shape[1:] == (1, 8, 10)
        assert part.y.dtype == np.float32 and part.y.shape[1:] == (1, 8, 10)
        assert set(np.unique(part.y)) <= {0.0, 1.0}
        assert part.groups.dtype == np.int64 and part.orig_size is None
    part = splits.train
    by_name = dict(zip(part.names, part.y))
    name = part.names[0].split(":")[0]
    # labels 1 and 2 both count; crop/pad offsets: rows (8-6)//2 = 1, cols (10-8)//2 = 1
    assert by_name[f"{name}:1"][0, 3:5, 4:6].sum() == 4 and by_name[f"{name}:1"].sum() == 4
    assert by_name[f"{name}:2"].sum() == 4
    assert by_name[f"{name}:0"].sum() == 0 and by_name[f"{name}:3"].sum() == 0


def test_pairs_file_layout(tmp_path: Path) -> None:
    lines = ["image,mask"]
    for i in range(3):
        image, label = _volume(i)
        _save(tmp_path / "img" / f"case{i}.nii.gz", image)
        _save(tmp_path / "seg" / f"case{i}_seg.nii.gz", label)
        lines.append(f"img/case{i}.nii.gz,seg/case{i}_seg.nii.gz")
    (tmp_path / "pairs.csv").write_text("\n".join(lines) + "\n")
    splits = load_hippocampus(tmp_path, size=(6, 8))
    assert sorted({n.split(":")[0] for n in _names(splits)}) == ["case0.nii.gz", "case1.nii.gz", "case2.nii.gz"]
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4, 4, 4)


def test_normalisation_per_volume() -> None:
    rng = np.random.default_rng(0)
    big = (rng.uniform(0, 1, size=(10, 10, 10)) * 1e6).astype(np.float32)
    small = rng.integers(0, 256, size=(10, 10, 10)).astype(np.uint8)
    for volume in (big, small):
        out = normalise_intensity(volume)
        assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    # Nonzero voxels define the range: a zero background does not drag the low percentile.
    half = np.zeros((10, 10, 10), dtype=np.float32)
    half[5:] = np.linspace(100, 200, 500).reshape(5, 10, 10)
    out = normalise_intensity(half)
    assert out[:5].max() == 0.0 and out[5:].mean() == pytest.approx(0.5, abs=0.02)
    assert normalise_intensity(np.full((3, 3, 3), 7.0)).max() == 0.0  # constant volume


def test_loader_normalises_mixed_scales(tmp_path: Path) -> None:
    root = _msd(tmp_path, n=2)
    rng = np.random.default_rng(1)
    _save(root / "imagesTr/hip_000.nii.gz", (rng.uniform(1, 2, SHAPE) * 1e7).astype(np.float32))
    _save(root / "imagesTr/hip_001.nii.gz", rng.integers(1, 256, SHAPE).astype(np.uint8))
    splits = load_hippocampus(root, size=SHAPE[:2], test_frac=0.0, val_frac=0.0)
    for group in (0, 1):
        x = splits.train.x[splits.train.groups == group]
        assert x.min() == 0.0 and x.max() == 1.0


def test_mismatched_pairs_skipped(tmp_path: Path) -> None:
    root = _msd(tmp_path, n=4)
    image, label = _volume(1, shape=(6, 8, 5))
    _save(root / "labelsTr/hip_001.nii.gz", label)  # shape (6, 8, 5) vs image (6, 8, 4)
    shifted = np.eye(4)
    shifted[0, 3] = 2.0
    _save(root / "labelsTr/hip_002.nii.gz", _volume(2)[1], affine=shifted)
    with pytest.warns(DataWarning) as record:
        splits = load_hippocampus(root, size=(6, 8))
    messages = [str(w.message) for w in record]
    assert any("imagesTr/hip_001" in m and "labelsTr/hip_001" in m and "shape" in m for m in messages)
    assert any("imagesTr/hip_002" in m and "labelsTr/hip_002" in m and "affine" in m for m in messages)
    assert {n.split(":")[0] for n in _names(splits)} == {"hip_000.nii.gz", "hip_003.nii.gz"}
    assert len(splits.skipped) == 2


def test_corrupt_nifti_skipped(tmp_path: Path) -> None:
    root = _msd(tmp_path, n=4)
    (root / "imagesTr/hip_003.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    good = (root / "labelsTr/hip_002.nii.gz").read_bytes()
    (root / "labelsTr/hip_002.nii.gz").write_bytes(good[:40])  # truncated
    with pytest.warns(DataWarning) as record:
        splits = load_hippocampus(root, size=(6, 8))
    messages = " | ".join(str(w.message) for w in record)
    assert "hip_003" in messages and "hip_002" in messages
    assert {n.split(":")[0] for n in _names(splits)} == {"hip_000.nii.gz", "hip_001.nii.gz"}


def test_split_by_volume_and_deterministic(tmp_path: Path) -> None:
    root = _msd(tmp_path, n=12)
    a = load_hippocampus(root, size=(6, 8), seed=5)
    b = load_hippocampus(root, size=(6, 8), seed=5)
    parts = (a.train, a.val, a.test)
    vols = [_volumes(p) for p in parts]
    assert [len(v) for v in vols] == [10, 1, 1]  # test round(12 * 0.1) = 1, val round(11 * 0.1) = 1
    assert not (vols[0] & vols[1] or vols[0] & vols[2] or vols[1] & vols[2])
    for p in parts:  # every volume contributes all of its slices to one split
        assert len(p) == len(_volumes(p)) * SHAPE[2]
        for g in np.unique(p.groups):
            assert len({n.split(":")[0] for n, gg in zip(p.names, p.groups) if gg == g}) == 1
    assert (a.train.names, a.test.names) == (b.train.names, b.test.names)
    np.testing.assert_array_equal(a.train.x, b.train.x)


def test_center_crop_pad_hand_case() -> None:
    arr = np.arange(10, dtype=np.float32).reshape(1, 5, 2) + 1
    out = center_crop_pad(arr, (3, 4))  # crop rows 5 -> 3 (drop 1 top, 1 bottom), pad cols 2 -> 4
    expected = np.array([[0, 3, 4, 0], [0, 5, 6, 0], [0, 7, 8, 0]], dtype=np.float32)
    np.testing.assert_array_equal(out[0], expected)
    odd = center_crop_pad(np.ones((1, 2, 3)), (5, 4))  # odd differences: extra row/col at the end
    np.testing.assert_array_equal(odd[0].sum(axis=1), [0, 3, 3, 0, 0])
    np.testing.assert_array_equal(odd[0].sum(axis=0), [2, 2, 2, 0])
    np.testing.assert_array_equal(center_crop_pad(np.ones((2, 4, 4)), (2, 3))[0], np.ones((2, 3)))


def test_crop_uses_image_geometry_not_label(tmp_path: Path) -> None:
    image = np.arange(6 * 8 * 1, dtype=np.float32).reshape(6, 8, 1) + 1
    label = np.zeros((6, 8, 1), dtype=np.uint8)
    label[0, 0, 0] = 1  # off-centre structure must not pull the crop window
    _save(tmp_path / "imagesTr/a.nii.gz", image)
    _save(tmp_path / "labelsTr/a.nii.gz", label)
    splits = load_hippocampus(tmp_path, size=(4, 4), test_frac=0.0, val_frac=0.0)
    assert splits.train.y.sum() == 0  # pixel (0, 0) is outside the centred 4x4 window (rows 1-4, cols 2-5)
    expected = normalise_intensity(image)[1:5, 2:6, 0]
    np.testing.assert_allclose(splits.train.x[0, 0], expected)


def test_axis_option(tmp_path: Path) -> None:
    splits = load_hippocampus(_msd(tmp_path, n=3), size=(8, 4), axis=0, test_frac=0.0, val_frac=0.0)
    assert len(splits.train) == 3 * SHAPE[0]


def test_missing_root_and_no_pairs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nowhere"):
        load_hippocampus(tmp_path / "nowhere")
    with pytest.raises(DataError, match=str(tmp_path)):
        load_hippocampus(tmp_path)
    (tmp_path / "imagesTr").mkdir()
    (tmp_path / "labelsTr").mkdir()
    with pytest.raises(DataError, match="no image/label pairs"):
        load_hippocampus(tmp_path)


@pytest.fixture(scope="module")
def real_hippocampus(shared_data: Path):
    root = shared_data / "hippocampus"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    start = time.perf_counter()
    splits = load_hippocampus(root)
    return splits, time.perf_counter() - start


def test_real_hippocampus(real_hippocampus) -> None:
    splits, seconds = real_hippocampus
    parts = (splits.train, splits.val, splits.test)
    vols = [_volumes(p) for p in parts]
    assert sum(len(v) for v in vols) == 220 and splits.skipped == []
    assert len(set.union(*vols)) == 220  # no volume in two splits
    groups = [set(p.groups.tolist()) for p in parts]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert [len(v) for v in vols] == [178, 20, 22]
    for p in parts:
        assert p.x.shape[1:] == (1, 48, 64) and p.x.min() >= 0 and p.x.max() <= 1
        assert set(np.unique(p.y)) == {0.0, 1.0}
    assert seconds < 60
