"""Deterministic synthetic stand-ins for both tasks, for tests and runs without the real data.

They go through the same splitting (and, for the CAE, slicing/normalising) code as the real loaders.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from loihi_hybrid.data.hippocampus import volumes_to_splits
from loihi_hybrid.data.splits import build_splits, check_size
from loihi_hybrid.data.types import ArraySplit, DataSplits
from loihi_hybrid.errors import InputError

# Side-view airplane in unit box coordinates (u along the body, nose at u = 1; v downwards).
# Each part is a convex polygon; the fuselage is an ellipse added separately.
_FIN = ((0.00, 0.58), (0.06, 0.00), (0.17, 0.00), (0.30, 0.55))
_STABILISER = ((0.03, 0.60), (0.18, 0.62), (0.10, 0.78), (0.02, 0.76))


def synthetic_airplanes(
    n: int = 240,
    size: tuple[int, int] = (32, 48),
    seed: int = 0,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
) -> DataSplits:
    """``n`` RGB airplane silhouettes on textured backgrounds, with the exact box of the silhouette."""
    height, width = check_size(size)
    if n < 1:
        raise InputError(None, f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    xs = np.empty((n, 3, height, width), dtype=np.float32)
    ys = np.empty((n, 4), dtype=np.float32)
    for i in range(n):
        mask = _airplane_mask(rng, height, width)
        background = _textured_background(rng, height, width)
        xs[i] = _paint(rng, background, mask)
        rows, cols = np.nonzero(mask)
        # Pixel-edge convention, as for Caltech: the box spans whole pixels.
        ys[i] = (cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height)
    data = ArraySplit(
        x=xs,
        y=ys,
        names=[f"synthetic_{i:04d}.png" for i in range(n)],
        groups=np.arange(n, dtype=np.int64),
        orig_size=np.tile(np.array([height, width], dtype=np.int64), (n, 1)),
    )
    return build_splits(data, seed, test_frac, val_frac, "synthetic", "locnet", [])


def synthetic_hippocampus(
    n_volumes: int = 24,
    size: tuple[int, int] = (32, 32),
    depth: int = 16,
    seed: int = 0,
    test_frac: float = 0.1,
    val_frac: float = 0.1,
    axis: int = 2,
) -> DataSplits:
    """``n_volumes`` MRI-like volumes with a curved tube-like structure as mask, sliced like real data."""
    height, width = check_size(size)
    if n_volumes < 1 or depth < 1:
        raise InputError(None, f"need n_volumes >= 1 and depth >= 1, got {n_volumes}, {depth}")
    rng = np.random.default_rng(seed)
    volumes = []
    for i in range(n_volumes):
        # Volume extents vary around ``size`` like the cropped real volumes, so crop/pad is exercised.
        shape = (height + int(rng.integers(-3, 4)), width + int(rng.integers(-3, 4)), depth)
        shape = (max(shape[0], 8), max(shape[1], 8), depth)
        image, mask = _mri_volume(rng, shape)
        volumes.append((f"synthetic_{i:03d}.nii.gz", image, mask))
    return volumes_to_splits(volumes, (height, width), axis, seed, test_frac, val_frac, "synthetic", [])


def _airplane_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Boolean silhouette whose box covers ~50-90 % of the width, like Caltech side views."""
    box_w = rng.uniform(0.55, 0.9) * width
    box_h = rng.uniform(0.45, 0.8) * height
    # Objects sit near the centre (photographer framing) but not exactly on it.
    x0 = (width - box_w) * np.clip(rng.normal(0.5, 0.15), 0, 1)
    y0 = (height - box_h) * np.clip(rng.normal(0.5, 0.15), 0, 1)
    cols = (np.arange(width) + 0.5 - x0) / box_w  # pixel centres in unit box coordinates
    rows = (np.arange(height) + 0.5 - y0) / box_h
    u, v = np.meshgrid(cols, rows)

    body_v = rng.uniform(0.55, 0.68)
    body_r = rng.uniform(0.09, 0.16)
    mask = ((u - 0.5) / 0.5) ** 2 + ((v - body_v) / body_r) ** 2 <= 1.0
    sweep = rng.uniform(0.05, 0.25)
    root_u = rng.uniform(0.40, 0.55)
    wing = ((root_u, body_v), (root_u + 0.18, body_v), (root_u - sweep + 0.06, 1.0), (root_u - sweep, 1.0))
    fin_scale = rng.uniform(0.0, 0.25)  # fin top between v = 0 and 0.25 varies the apparent height
    fin = tuple((pu, pv + fin_scale * (1 - pv / 0.58)) for pu, pv in _FIN)
    for poly in (wing, fin, _STABILISER):
        mask |= _in_convex_polygon(u, v, poly)
    if rng.random() < 0.5:  # half the planes fly left
        mask = mask[:, ::-1]
    if not mask.any():  # cannot happen for sizes >= a few pixels, but keep the box well defined
        mask[height // 2, width // 2] = True
    return mask


def _in_convex_polygon(u: np.ndarray, v: np.ndarray, poly: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Points inside a convex polygon given in either winding order."""
    signs = []
    for (pu, pv), (qu, qv) in zip(poly, poly[1:] + poly[:1]):
        signs.append((qu - pu) * (v - pv) - (qv - pv) * (u - pu))
    signs = np.stack(signs)
    return np.all(signs >= 0, axis=0) | np.all(signs <= 0, axis=0)


def _textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sky/ground-like RGB background: a colour gradient plus smooth noise plus fine grain."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / width + np.sin(angle) * yy / height)[None]
    base = rng.uniform(0.2, 0.8, size=(3, 1, 1))
    smooth = gaussian_filter(rng.normal(size=(3, height, width)), sigma=(0, height / 6, width / 6))
    smooth /= smooth.std() + 1e-8
    grain = rng.normal(scale=0.03, size=(3, height, width))
    return base + rng.uniform(-0.25, 0.25) * ramp + rng.uniform(0.03, 0.12) * smooth + grain


def _paint(rng: np.random.Generator, background: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Composite a plane of random brightness (darker or brighter than the sky) and clip to [0, 1]."""
    sky = float(background.mean())
    contrast = rng.uniform(0.2, 0.45) * (1 if sky < 0.5 else -1) * (1 if rng.random() < 0.85 else -1)
    colour = np.clip(sky + contrast + rng.normal(scale=0.05, size=(3, 1, 1)), 0, 1)
    plane = colour + rng.normal(scale=0.04, size=background.shape)
    return np.clip(np.where(mask[None], plane, background), 0, 1).astype(np.float32)


def _mri_volume(rng: np.random.Generator, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Smooth tissue-like volume with a bent tube running along the last axis; random dtype and scale."""
    nx, ny, nz = shape
    tissue = gaussian_filter(rng.normal(size=shape), sigma=(nx / 8, ny / 8, max(nz / 8, 0.5)))
    tissue = 0.5 + 0.1 * tissue / (tissue.std() + 1e-8)
    xx, yy = np.mgrid[0:nx, 0:ny].astype(np.float32)
    tissue *= (1 - 0.3 * (((xx - nx / 2) / nx) ** 2 + ((yy - ny / 2) / ny) ** 2))[..., None]  # bias field

    # Centre line: a parabola-bent curve whose position, bend and thickness vary per volume.
    t = np.linspace(-1, 1, nz)
    cx = nx * (0.5 + rng.uniform(-0.12, 0.12)) + nx * rng.uniform(-0.15, 0.15) * t ** 2
    cy = ny * (0.5 + rng.uniform(-0.12, 0.12)) + ny * rng.uniform(0.1, 0.25) * t
    radius = rng.uniform(0.07, 0.12) * min(nx, ny) * (1 - 0.4 * t + 0.15 * np.sin(3 * t + rng.uniform(0, 6)))
    aspect = rng.uniform(1.2, 2.0)
    start = int(rng.integers(0, max(nz // 8, 1)))  # the structure fades out near the volume ends
    stop = nz - int(rng.integers(0, max(nz // 8, 1)))
    mask = np.zeros(shape, dtype=bool)
    for z in range(start, stop):
        mask[..., z] = ((xx - cx[z]) / radius[z]) ** 2 + ((yy - cy[z]) / (aspect * radius[z])) ** 2 <= 1

    # always darker than the surrounding tissue (grey matter in a T1-like image): a random sign made the
    # task bimodal, and with 2 test volumes the score depended on which sign they drew
    contrast = -rng.uniform(0.15, 0.3)
    image = tissue + contrast * gaussian_filter(mask.astype(np.float32), 0.7) + rng.normal(scale=0.05, size=shape)
    image = np.clip(image, 0, None)
    if rng.random() < 0.3:  # some volumes are stored as uint8, others as float32 with huge scale
        return np.round(image / image.max() * 255).astype(np.uint8), mask
    return (image * 10 ** rng.uniform(0, 4)).astype(np.float32), mask
