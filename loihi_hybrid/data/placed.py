"""The "placed" protocol: airplane photos shrunk and pasted anywhere on a blurred background.

On Caltech airplanes as the paper uses them the box covers about 80 % of every photo, so the mean box
alone scores IoU 0.88-0.90. Placed photos make localisation necessary. The specification (followed
exactly, so that results compare across implementations), for each photo of size W x H:

- the canvas is W x H; the photo is scaled by one factor ``f ~ U[0.4, 0.8]`` on both axes and pasted at
  a uniformly random integer position fully inside the canvas;
- the background is another photo of the same split, resized to W x H and Gaussian-blurred with
  ``sigma = 0.04 W``; the pasted photo's border is feathered with a linear alpha ramp over ``0.03 w``
  pixels (``w`` the pasted width);
- the box moves and scales with the photo.

Images here are the loaders' arrays (N, C, H, W) in [0, 1] with boxes [x0, y0, x1, y1] normalised to
the image size; all sizes are relative, so the protocol is the same at any resolution. Everything is
deterministic by seed; :func:`placed_split` draws backgrounds only from the split it places, so nothing
of the test split reaches training.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from .types import ArraySplit

SCALE_RANGE = (0.4, 0.8)
BLUR_FRAC = 0.04      # background blur sigma, fraction of the canvas width
FEATHER_FRAC = 0.03   # alpha ramp width, fraction of the pasted photo's width


def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """(C, H, W) float image resized to (C, h, w), bilinear per channel."""
    return np.stack([np.asarray(Image.fromarray(c.astype(np.float32)).resize((w, h), Image.BILINEAR))
                     for c in img]).astype(np.float32)


def feather(h: int, w: int, ramp: float) -> np.ndarray:
    """Alpha (h, w): 0 at the outer edge, rising linearly to 1 over ``ramp`` pixels (pixel centres)."""
    yy = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5)
    xx = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5)
    dist = np.minimum(yy[:, None], xx[None, :])
    return np.clip(dist / max(ramp, 1e-9), 0.0, 1.0).astype(np.float32)


def place(photo: np.ndarray, box: np.ndarray, background: np.ndarray, f: float, top: int, left: int
          ) -> tuple[np.ndarray, np.ndarray]:
    """Paste ``photo`` (C, H, W) scaled by ``f`` at (``top``, ``left``) on the blurred ``background``.

    ``background`` is another photo of the same size (C, H, W); returns the image and the moved box."""
    c, height, width = photo.shape
    h, w = max(1, int(round(f * height))), max(1, int(round(f * width)))
    if not (0 <= top <= height - h and 0 <= left <= width - w):
        raise ValueError(f"a {h}x{w} photo at ({top}, {left}) does not fit a {height}x{width} canvas")
    canvas = np.stack([gaussian_filter(ch, BLUR_FRAC * width, mode="reflect") for ch in background]).astype(np.float32)
    small = _resize(photo, h, w)
    alpha = feather(h, w, FEATHER_FRAC * w)
    region = canvas[:, top:top + h, left:left + w]
    canvas[:, top:top + h, left:left + w] = alpha * small + (1.0 - alpha) * region
    b = np.asarray(box, dtype=np.float64)
    moved = np.array([(left + b[0] * w) / width, (top + b[1] * h) / height,
                      (left + b[2] * w) / width, (top + b[3] * h) / height], dtype=np.float32)
    return np.clip(canvas, 0.0, 1.0), moved


def draw(rng: np.random.Generator, shape: tuple[int, int, int], n_backgrounds: int, own: int = -1
         ) -> tuple[float, int, int, int]:
    """One placement: ``(f, top, left, background index in [0, n_backgrounds))``, never ``own`` (-1: none)."""
    _, height, width = shape
    f = float(rng.uniform(*SCALE_RANGE))
    h, w = max(1, int(round(f * height))), max(1, int(round(f * width)))
    top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
    choices = n_backgrounds - (own >= 0)
    if choices < 1:
        raise ValueError("the placed protocol needs another photo of the split for the background")
    bg = int(rng.integers(0, choices))
    return f, top, left, bg + (0 <= own <= bg)


def placed_images(x: np.ndarray, y: np.ndarray, pool: np.ndarray, rng: np.random.Generator,
                  own: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Place each image of ``x`` (N, C, H, W) with boxes ``y`` on a background drawn from ``pool``.

    ``own[i]`` is image i's index in ``pool`` (never used as its own background); None: not in the pool."""
    xs, ys = np.empty_like(x), np.empty_like(y)
    for i in range(len(x)):
        f, top, left, bg = draw(rng, x.shape[1:], len(pool), -1 if own is None else int(own[i]))
        xs[i], ys[i] = place(x[i], y[i], pool[bg], f, top, left)
    return xs, ys


PREFIX = "placed:"  # sample names of placed photos


def is_placed(split: ArraySplit) -> bool:
    """Whether ``split`` holds placed photos (:func:`placed_split`); a mixture is an error."""
    flags = {n.startswith(PREFIX) for n in split.names}
    if len(flags) > 1:
        raise ValueError("a split that mixes placed and original photos")
    return flags == {True}


def placed_split(split: ArraySplit, seed: int) -> ArraySplit:
    """The fixed placed version of ``split`` (each photo once, backgrounds from the same split)."""
    rng = np.random.default_rng(seed)
    x, y = placed_images(split.x, split.y, split.x, rng, own=np.arange(len(split)))
    return ArraySplit(x=x, y=y, names=[f"{PREFIX}{n}" for n in split.names], groups=split.groups.copy(),
                      orig_size=None if split.orig_size is None else split.orig_size.copy())


def placed_augment(pool: np.ndarray, fraction: float = 0.5):
    """On-the-fly training augmentation: a ``fraction`` of each batch placed on backgrounds from ``pool``
    (the training split's images). Returns ``augment(x, y, rng) -> (x, y)``."""
    def augment(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        which = np.flatnonzero(rng.random(len(x)) < fraction)
        if len(which) == 0:
            return x, y
        x, y = x.copy(), np.array(y, copy=True)
        x[which], y[which] = placed_images(x[which], y[which], pool, rng)
        return x, y
    return augment
