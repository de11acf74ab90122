"""Batch augmentation (numpy only): random horizontal flip and small translation.

Images are shifted with zero padding (the same for masks, so image and mask stay aligned and a box
never covers padded pixels that look like the object).
"""
from __future__ import annotations

import numpy as np

MAX_SHIFT_FRAC = 0.08  # translations up to 8 % of the image size
FLIP_PROB = 0.5


def augment_boxes(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Flip/translate images (N, C, H, W) and move their boxes (N, 4) [x0, y0, x1, y1] with them."""
    flips, shifts = _draw(rng, x.shape)
    height, width = x.shape[-2:]
    x_out = _apply(x, flips, shifts)
    boxes = np.array(y, dtype=np.float32, copy=True)
    x0, x1 = boxes[:, 0].copy(), boxes[:, 2].copy()
    boxes[flips, 0], boxes[flips, 2] = 1 - x1[flips], 1 - x0[flips]
    boxes[:, [0, 2]] += (shifts[:, 1] / width)[:, None]
    boxes[:, [1, 3]] += (shifts[:, 0] / height)[:, None]
    return x_out, np.clip(boxes, 0.0, 1.0)


def augment_masks(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same random flip/translation to images (N, C, H, W) and masks (N, C', H, W)."""
    flips, shifts = _draw(rng, x.shape)
    return _apply(x, flips, shifts), _apply(y, flips, shifts)


def _draw(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample flip flags (N,) and integer (dy, dx) shifts (N, 2)."""
    n, height, width = shape[0], shape[-2], shape[-1]
    flips = rng.random(n) < FLIP_PROB
    max_dy, max_dx = int(MAX_SHIFT_FRAC * height), int(MAX_SHIFT_FRAC * width)
    shifts = np.stack([rng.integers(-max_dy, max_dy + 1, n), rng.integers(-max_dx, max_dx + 1, n)], axis=1)
    return flips, shifts


def _apply(arr: np.ndarray, flips: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    if len(arr) == 0:
        return arr.copy()
    out = np.where(flips[:, None, None, None], arr[..., ::-1], arr)
    return np.stack([_shift(sample, dy, dx) for sample, (dy, dx) in zip(out, shifts)]).astype(arr.dtype, copy=False)


def _shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Move the content of (C, H, W) ``img`` by (dy, dx) pixels, filling uncovered pixels with 0."""
    height, width = img.shape[-2:]
    out = np.zeros_like(img)
    src_y, dst_y = slice(max(-dy, 0), height - max(dy, 0)), slice(max(dy, 0), height - max(-dy, 0))
    src_x, dst_x = slice(max(-dx, 0), width - max(dx, 0)), slice(max(dx, 0), width - max(-dx, 0))
    out[..., dst_y, dst_x] = img[..., src_y, src_x]
    return out
