"""Data validation: bad samples are left out with a DataWarning naming the file, the rest still loads.

Hippocampus: NaN/inf voxels, labels outside {0, 1, 2}. Caltech: every bit depth and mode converted
correctly (16-bit PNGs by their true range), unsupported ones and decompression bombs skipped.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from loihi_hybrid.data import DataWarning, load_caltech, load_hippocampus
from loihi_hybrid.data import caltech

SHAPE = (8, 10, 4)


# --- hippocampus -------------------------------------------------------------------------------------------

def _save_nii(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(path))


def _decathlon(root: Path, n: int = 4) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        image = rng.uniform(10, 100, SHAPE).astype(np.float32)
        label = np.zeros(SHAPE, dtype=np.uint8)
        label[2:4, 3:5, 1] = 1
        label[2:4, 3:5, 2] = 2
        _save_nii(root / "imagesTr" / f"hip_{i:03d}.nii.gz", image)
        _save_nii(root / "labelsTr" / f"hip_{i:03d}.nii.gz", label)
    return root


def _volumes(splits) -> set[str]:
    return {n.split(":")[0] for part in (splits.train, splits.val, splits.test) for n in part.names}


def _skip_messages(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, DataWarning)]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_volume_with_non_finite_voxels_is_skipped_not_blanked(tmp_path: Path, bad: float) -> None:
    root = _decathlon(tmp_path)
    image = np.asarray(nib.load(str(root / "imagesTr/hip_001.nii.gz")).get_fdata(), dtype=np.float32)
    image[4, 5, 2] = bad  # one voxel
    _save_nii(root / "imagesTr/hip_001.nii.gz", image)
    with pytest.warns(DataWarning) as record:
        splits = load_hippocampus(root, size=(8, 8))
    messages = _skip_messages(record)
    assert any("imagesTr/hip_001.nii.gz" in m and "NaN or infinite" in m for m in messages), messages
    assert _volumes(splits) == {"hip_000.nii.gz", "hip_002.nii.gz", "hip_003.nii.gz"}
    assert [f for f, _ in splits.skipped] == [str(root / "imagesTr/hip_001.nii.gz")]
    for part in (splits.train, splits.val, splits.test):  # every kept volume has contrast, nothing blank
        assert np.isfinite(part.x).all()
        for g in np.unique(part.groups):
            assert part.x[part.groups == g].max() == pytest.approx(1.0)


@pytest.mark.parametrize("value", [3, 255, 1.5, -1])
def test_label_values_outside_0_1_2_are_skipped(tmp_path: Path, value: float) -> None:
    root = _decathlon(tmp_path)
    label = np.zeros(SHAPE, dtype=np.float32)
    label[2:4, 3:5, 1] = 1
    label[5, 5, 2] = value
    _save_nii(root / "labelsTr/hip_002.nii.gz", label)
    with pytest.warns(DataWarning) as record:
        splits = load_hippocampus(root, size=(8, 8))
    messages = _skip_messages(record)
    assert any("labelsTr/hip_002.nii.gz" in m and f"label values {value:g}" in m and "outside {0, 1, 2}" in m
               for m in messages), messages
    assert _volumes(splits) == {"hip_000.nii.gz", "hip_001.nii.gz", "hip_003.nii.gz"}


def test_labels_0_1_2_load_without_warnings(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        splits = load_hippocampus(_decathlon(tmp_path), size=(8, 8))
    assert len(_volumes(splits)) == 4


# --- Caltech -----------------------------------------------------------------------------------------------

W, H = 40, 20


def _caltech(root: Path, images: dict[str, Image.Image]) -> Path:
    """CSV layout, every image with the same full-image box."""
    (root / "images").mkdir(parents=True)
    for name, img in images.items():
        img.save(root / "images" / name)
    (root / "airplanes.csv").write_text("".join(f"{name},1,1,{W},{H}\n" for name in images))
    return root


def _rgb(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8))


def _pixels(splits) -> dict[str, np.ndarray]:
    return {n: x for part in (splits.train, splits.val, splits.test) for n, x in zip(part.names, part.x)}


def test_16_bit_png_is_scaled_by_its_true_range(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, W), (H, 1)).round().astype(np.uint16)  # dark to white, left to right
    img16 = Image.fromarray(ramp)
    assert img16.mode.startswith("I;16")
    root = _caltech(tmp_path, {"a16.png": img16, "b.png": _rgb(1), "c.png": _rgb(2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        splits = load_caltech(root, size=(H, W))  # same size: no interpolation
    x = _pixels(splits)["a16.png"]
    assert x.shape == (3, H, W) and x.dtype == np.float32
    np.testing.assert_allclose(x, np.broadcast_to(ramp / 65535.0, (3, H, W)), atol=1e-5)
    assert (x > 0.99).mean() < 0.1  # not 99.7 % white as when clipped at 255


@pytest.mark.parametrize("dtype", [np.int32, np.float32])
def test_mode_I_and_F_greyscale_are_scaled_not_clipped(dtype) -> None:
    # older Pillow decodes 16-bit PNGs as mode I; F must already be in [0, 1]
    ramp = np.tile(np.linspace(0, 1, W), (H, 1))
    a = (ramp * 65535).round().astype(dtype) if dtype == np.int32 else ramp.astype(dtype)
    img = Image.fromarray(a)
    assert img.mode == ("I" if dtype == np.int32 else "F")
    x = caltech._to_rgb_float(img, (W, H))
    np.testing.assert_allclose(x, np.broadcast_to(ramp, (3, H, W)), atol=1e-4)


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGBA", "CMYK", "1"])
def test_8_bit_modes_are_converted_to_rgb(tmp_path: Path, mode: str) -> None:
    source = _rgb(7)
    img = source.convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png"  # PNG cannot hold CMYK
    root = _caltech(tmp_path, {f"a{suffix}": img, "b.png": _rgb(1), "c.png": _rgb(2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        splits = load_caltech(root, size=(H, W))
    x = _pixels(splits)[f"a{suffix}"]
    expected = np.asarray(Image.open(root / "images" / f"a{suffix}").convert("RGB"), dtype=np.float32) / 255
    assert x.shape == (3, H, W) and 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x, expected.transpose(2, 0, 1), atol=1e-6)
    if mode == "1":
        assert set(np.unique(x)) <= {0.0, 1.0}


def test_decompression_bomb_is_skipped_and_the_rest_loads(tmp_path: Path, monkeypatch) -> None:
    # a "bomb" relative to a lowered limit: 60x50 = 3000 pixels over a 1000 pixel limit
    big = Image.fromarray(np.zeros((50, 60), dtype=np.uint8))
    root = _caltech(tmp_path, {"a.png": _rgb(0), "bomb.png": big, "c.png": _rgb(2), "d.png": _rgb(3)})
    (root / "airplanes.csv").write_text("a.png,1,1,40,20\nbomb.png,1,1,60,50\nc.png,1,1,40,20\nd.png,1,1,40,20\n")
    monkeypatch.setattr(caltech, "MAX_PIXELS", 1000)
    with pytest.warns(DataWarning, match=r"bomb\.png: 60x50 pixels is over the 1,000 pixel limit"):
        splits = load_caltech(root, size=(H, W))
    assert sorted(_pixels(splits)) == ["a.png", "c.png", "d.png"]


def test_pillow_decompression_bomb_error_and_warning_are_caught(tmp_path: Path, monkeypatch) -> None:
    big = Image.fromarray(np.zeros((50, 60), dtype=np.uint8))
    root = _caltech(tmp_path, {"a.png": _rgb(0), "bomb.png": big, "warn.png": big.crop((0, 0, 45, 40)),
                               "d.png": _rgb(3)})
    (root / "airplanes.csv").write_text("a.png,1,1,40,20\nbomb.png,1,1,60,50\nwarn.png,1,1,45,40\n"
                                        "d.png,1,1,40,20\n")
    # Pillow raises above 2 * MAX_IMAGE_PIXELS (3000 > 2 * 1000) and warns above it (1800 > 1000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.warns(DataWarning) as record:
        splits = load_caltech(root, size=(H, W))
    messages = _skip_messages(record)
    assert any("bomb.png" in m and "decompression bomb" in m for m in messages), messages
    assert any("warn.png" in m and "decompression bomb" in m for m in messages), messages
    assert sorted(_pixels(splits)) == ["a.png", "d.png"]


def test_unsupported_wide_values_are_skipped(tmp_path: Path) -> None:
    wide = Image.fromarray(np.full((H, W), 70000, dtype=np.int32))  # mode I beyond 16 bits
    root = _caltech(tmp_path, {"a.png": _rgb(0), "b.png": _rgb(1), "c.png": _rgb(2)})
    wide.save(root / "images" / "wide.tif")  # not a Caltech suffix: load it through the helper directly
    skipped: list[tuple[str, str]] = []
    with pytest.warns(DataWarning, match="outside 0..65535"):
        assert caltech._load_image(root / "images" / "wide.tif", (H, W), skipped) is None
    assert skipped and "wide.tif" in skipped[0][0]
