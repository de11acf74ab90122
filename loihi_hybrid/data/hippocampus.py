"""Hippocampus MRI loader for the CAE (2D segmentation) task.

Layouts, auto-detected under ``root``: a list file ``pairs.txt`` / ``pairs.csv`` with lines
``image_path,mask_path`` (relative to ``root``), or the Medical Segmentation Decathlon layout
``imagesTr/*.nii.gz`` + ``labelsTr/`` with the same file names.  Volumes are normalised per volume,
sliced along ``axis`` and centre-cropped/padded to ``size``; splits are made by volume so that no
subject leaks between train, val and test.  :func:`volumes_to_splits` is the shared path also used
by the synthetic generator.
"""
from __future__ import annotations

import csv
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from loihi_hybrid.data.splits import build_splits, check_size
from loihi_hybrid.data.types import ArraySplit, DataSplits, warn_skip
from loihi_hybrid.errors import DataError, InputError

PAIR_FILES = ("pairs.txt", "pairs.csv")
#: MSD Task04 hippocampus labels: 0 background, 1 anterior, 2 posterior (the CAE segments label > 0)
LABEL_VALUES = (0, 1, 2)
NIFTI_SUFFIXES = (".nii.gz", ".nii")
_NIFTI_ERRORS = (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError, zlib.error)


def load_hippocampus(
    root: str | Path,
    size: tuple[int, int] = (48, 64),
    axis: int = 2,
    seed: int = 0,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
) -> DataSplits:
    """Load image/label NIfTI pairs as 2D CAE splits (whole hippocampus = label > 0)."""
    root = Path(root)
    size = check_size(size)
    _check_axis(axis)
    if not root.is_dir():
        raise DataError(root, "hippocampus folder not found")
    skipped: list[tuple[str, str]] = []
    pairs = _find_pairs(root, skipped)
    volumes = []
    for image_path, mask_path in pairs:
        loaded = _load_pair(image_path, mask_path, skipped)
        if loaded is not None:
            volumes.append((image_path.name, *loaded))
    if not volumes:
        raise DataError(root, "no usable image/label pairs (all were left out, see warnings)")
    return volumes_to_splits(volumes, size, axis, seed, test_frac, val_frac, str(root), skipped)


def volumes_to_splits(
    volumes: list[tuple[str, np.ndarray, np.ndarray]],
    size: tuple[int, int],
    axis: int,
    seed: int,
    test_frac: float,
    val_frac: float,
    source: str,
    skipped: list[tuple[str, str]],
) -> DataSplits:
    """Normalise, slice and crop/pad ``(name, image, mask)`` volumes, then split them by volume."""
    _check_axis(axis)
    xs, ys, names, groups = [], [], [], []
    for index, (name, image, mask) in enumerate(volumes):
        image_slices = slice_volume(normalise_intensity(image), axis, size)
        mask_slices = slice_volume((mask > 0).astype(np.float32), axis, size)
        xs.append(image_slices)
        ys.append(mask_slices)
        names.extend(f"{name}:{k}" for k in range(len(image_slices)))
        groups.append(np.full(len(image_slices), index, dtype=np.int64))
    data = ArraySplit(
        x=np.concatenate(xs)[:, None],
        y=np.concatenate(ys)[:, None],
        names=names,
        groups=np.concatenate(groups),
    )
    return build_splits(data, seed, test_frac, val_frac, source, "cae", skipped)


def normalise_intensity(volume: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Clip to the 1st..99th percentile of nonzero voxels (all voxels if none) and scale to [0, 1].

    Per volume, because the data mixes uint8 and float32 volumes whose scales differ by orders of
    magnitude; zero is MRI background after cropping, so it would otherwise drag the low percentile.
    """
    volume = np.asarray(volume, dtype=np.float64)  # float64 so the top of the range maps to exactly 1.0
    nonzero = volume[volume != 0]
    for voxels in (nonzero, volume.ravel()):
        if voxels.size == 0:
            continue
        lo, hi = np.percentile(voxels, [low_pct, high_pct])
        if hi > lo:
            return ((np.clip(volume, lo, hi) - lo) / (hi - lo)).astype(np.float32)
    return np.zeros(volume.shape, dtype=np.float32)  # constant volume: no contrast to keep


def slice_volume(volume: np.ndarray, axis: int, size: tuple[int, int]) -> np.ndarray:
    """(S, H, W) float32 slices along ``axis``, each centre-cropped/zero-padded to ``size``."""
    slices = np.moveaxis(volume, axis, 0)
    return np.ascontiguousarray(center_crop_pad(slices, size), dtype=np.float32)


def center_crop_pad(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Crop or zero-pad the last two axes of ``arr`` to ``size``, keeping the centre.

    Odd differences put the extra row/column at the end (pad) or drop it from the end (crop).
    """
    out = arr
    for ax, target in zip((-2, -1), size):
        current = out.shape[ax]
        if current > target:
            start = (current - target) // 2
            out = np.take(out, np.arange(start, start + target), axis=ax)
        elif current < target:
            before = (target - current) // 2
            pad = [(0, 0)] * out.ndim
            pad[ax] = (before, target - current - before)
            out = np.pad(out, pad)
    return out


def check_labels(mask: np.ndarray) -> str | None:
    """Why a label volume cannot be used (values other than ``LABEL_VALUES``), or None."""
    finite = np.isfinite(mask)
    if not finite.all():
        return f"{int((~finite).sum())} label voxels are NaN or infinite"
    values = np.unique(mask)
    unknown = values[~np.isin(values, LABEL_VALUES)]
    if unknown.size:
        shown = ", ".join(f"{v:g}" for v in unknown[:5]) + (", ..." if unknown.size > 5 else "")
        return (f"label values {shown} outside {{{', '.join(map(str, LABEL_VALUES))}}} "
                "(0 background, 1 anterior, 2 posterior hippocampus)")
    return None


def _check_axis(axis: int) -> None:
    if axis not in (0, 1, 2):
        raise InputError(None, f"axis must be 0, 1 or 2, got {axis!r}")


def _find_pairs(root: Path, skipped: list[tuple[str, str]]) -> list[tuple[Path, Path]]:
    """(image, mask) paths from a pairs list file, else from the Decathlon layout."""
    pair_file = next((root / f for f in PAIR_FILES if (root / f).is_file()), None)
    if pair_file is not None:
        pairs = _read_pair_file(pair_file, root, skipped)
    elif (root / "imagesTr").is_dir() and (root / "labelsTr").is_dir():
        pairs = []
        for image in sorted((root / "imagesTr").iterdir()):
            if image.name.startswith("._") or not image.name.endswith(NIFTI_SUFFIXES):
                continue  # "._*" are macOS resource forks, not volumes
            label = root / "labelsTr" / image.name
            if label.is_file():
                pairs.append((image, label))
            else:
                warn_skip(skipped, image, f"no label file {label}")
    else:
        raise DataError(root, f"no {' or '.join(PAIR_FILES)} and no imagesTr/ + labelsTr/ folders")
    if not pairs:
        raise DataError(root, "no image/label pairs found")
    return pairs


def _read_pair_file(pair_file: Path, root: Path, skipped: list[tuple[str, str]]) -> list[tuple[Path, Path]]:
    try:
        with pair_file.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(enumerate(csv.reader(fh), start=1))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise DataError(pair_file, f"cannot read pair list ({err})") from None
    pairs = []
    for line, row in rows:
        fields = [c.strip() for c in row]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if len(fields) != 2:
            warn_skip(skipped, f"{pair_file}:{line}", f"expected 'image_path,mask_path', got {','.join(row)!r}")
            continue
        if line == rows[0][0] and not any(f.endswith(NIFTI_SUFFIXES) for f in fields):
            continue  # header line such as "image,mask"
        image, mask = (root / f for f in fields)  # absolute paths stay absolute
        missing = [str(p) for p in (image, mask) if not p.is_file()]
        if missing:
            warn_skip(skipped, image, f"missing file(s) {', '.join(missing)}")
            continue
        pairs.append((image, mask))
    return pairs


def _load_pair(
    image_path: Path, mask_path: Path, skipped: list[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Image (float32) and mask (bool, label > 0) if both load and share shape and affine, else None.

    Also None (with a :class:`DataWarning`) for an image with NaN/inf voxels, which would blank the whole
    volume in the percentile normalisation, and for labels outside ``LABEL_VALUES``."""
    loaded = []
    for path in (image_path, mask_path):
        try:
            img = nib.load(str(path))
            data = np.asarray(img.get_fdata(dtype=np.float32))
        except _NIFTI_ERRORS as err:
            warn_skip(skipped, path, f"unreadable NIfTI ({type(err).__name__}: {err})")
            return None
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim != 3:
            warn_skip(skipped, path, f"expected a 3D volume, got shape {data.shape}")
            return None
        loaded.append((data, img.affine))
    (image, image_affine), (mask, mask_affine) = loaded
    bad = ~np.isfinite(image)
    if bad.any():
        warn_skip(skipped, image_path, f"{int(bad.sum())} of {image.size} voxels are NaN or infinite")
        return None
    problem = check_labels(mask)
    if problem:
        warn_skip(skipped, mask_path, problem)
        return None
    if image.shape != mask.shape:
        warn_skip(skipped, image_path,
                  f"image shape {image.shape} differs from label {mask_path} shape {mask.shape}")
        return None
    if not np.allclose(image_affine, mask_affine):
        warn_skip(skipped, image_path, f"image affine differs from label {mask_path} affine")
        return None
    return image, mask > 0
