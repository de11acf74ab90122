"""Figures for a deployed (spiking) model: layer firing rates, spike rasters, box and mask predictions."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..fsio import atomic_write

DPI = 120
PathLike = str | os.PathLike[str]


def _save(fig: Figure, path: PathLike) -> Path:
    """PNG written atomically (temporary file renamed over ``path``; a full disk leaves the old one)."""
    out = Path(path)
    try:
        # format given: the temporary file's suffix is not ``.png``
        atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))
    finally:
        # A bare Figure is not registered with pyplot, so dropping the canvas releases everything.
        fig.clf()
    return out


def _as_nchw(name: str, a: np.ndarray, channels: Sequence[int] | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {a.shape}")
    if channels is not None and a.shape[1] not in channels:
        raise ValueError(f"{name} must have C in {tuple(channels)}, got shape {a.shape}")
    return a


def plot_layer_rates(layers: list[dict], path: PathLike, title: str = "",
                     mean_hz: float | None = None) -> Path:
    """Bar chart of per-layer firing rate (dicts with ``name`` and ``firing_rate_hz``)."""
    if not layers:
        raise ValueError("layers is empty")
    try:
        names = [str(d["name"]) for d in layers]
        rates = [float(d["firing_rate_hz"]) for d in layers]
    except KeyError as e:
        raise ValueError(f"every layer dict needs 'name' and 'firing_rate_hz' (missing {e})") from None

    fig = Figure(figsize=(max(4.0, 0.7 * len(names) + 2.0), 4.0))
    ax = fig.add_subplot()
    x = np.arange(len(names))
    bars = ax.bar(x, rates, color="C0")
    ax.bar_label(bars, labels=[f"{r:.1f} Hz" for r in rates], fontsize=8, padding=2)
    if mean_hz is not None:
        ax.axhline(mean_hz, color="C3", linestyle="--", linewidth=1, label=f"mean {mean_hz:.1f} Hz")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("firing rate (Hz)")
    # Headroom so the value labels above the tallest bar are not clipped.
    top = max(rates + ([mean_hz] if mean_hz is not None else []) + [0.0])
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_raster(rasters: dict[str, np.ndarray], path: PathLike, dt_ms: float = 1.0,
                title: str = "") -> Path:
    """Spike raster, one band per layer (dict order, top to bottom); arrays are (k_neurons, T)."""
    if not rasters:
        raise ValueError("rasters is empty")
    arrays = {}
    for name, a in rasters.items():
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"raster '{name}' must be 2-D (k_neurons, T), got shape {a.shape}")
        arrays[name] = a != 0

    n_bands = len(arrays)
    t_max = max(a.shape[1] for a in arrays.values()) * dt_ms
    fig = Figure(figsize=(7.0, 1.0 + 0.9 * n_bands))
    ax = fig.add_subplot()
    centres = []
    # Each band spans one unit of y regardless of neuron count, so small layers stay readable.
    for b, (name, spikes) in enumerate(arrays.items()):
        top = n_bands - b
        k = spikes.shape[0]
        neuron, step = np.nonzero(spikes)
        y = top - (neuron + 0.5) / max(k, 1)
        ax.scatter(step * dt_ms, y, s=6, marker="|", color=f"C{b % 10}", linewidths=1)
        centres.append(top - 0.5)
        if b > 0:
            ax.axhline(top, color="0.6", linewidth=0.5)
    ax.set_yticks(centres, list(arrays))
    ax.set_ylim(0, n_bands)
    ax.set_xlim(0, t_max if t_max > 0 else 1.0)
    ax.set_xlabel("time (ms)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_boxes(images: np.ndarray, pred: np.ndarray, true: np.ndarray, path: PathLike,
               n: int = 8, scores: np.ndarray | None = None) -> Path:
    """Grid of images with true (green) and predicted (red dashed) normalised [x0, y0, x1, y1] boxes."""
    images = _as_nchw("images", images, channels=(1, 3))
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    N = images.shape[0]
    for name, b in (("pred", pred), ("true", true)):
        if b.shape != (N, 4):
            raise ValueError(f"{name} must have shape ({N}, 4), got {b.shape}")
    if scores is not None:
        scores = np.asarray(scores, dtype=float).reshape(-1)
        if scores.shape[0] != N:
            raise ValueError(f"scores must have {N} entries, got {scores.shape[0]}")
    if N == 0 or n < 1:
        raise ValueError("nothing to plot (N == 0 or n < 1)")

    k = min(n, N)
    cols = min(k, 4)
    rows = -(-k // cols)
    H, W = images.shape[2:]
    fig = Figure(figsize=(2.6 * cols, (2.6 * H / max(W, 1) + 0.35) * rows + 0.4))
    for i in range(k):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = np.clip(np.moveaxis(images[i], 0, -1), 0.0, 1.0)
        # Pixel-edge extent so normalised coordinates times (W, H) land on the image borders.
        extent = (0, W, H, 0)
        if img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=1, extent=extent)
        else:
            ax.imshow(img, extent=extent)
        for box, colour, style in ((true[i], "lime", "-"), (pred[i], "red", "--")):
            x0, y0, x1, y1 = box * (W, H, W, H)
            ax.add_patch(Rectangle((min(x0, x1), min(y0, y1)), abs(x1 - x0), abs(y1 - y0),
                                   fill=False, edgecolor=colour, linestyle=style, linewidth=1.5))
        ax.set_xlim(0, W)
        ax.set_ylim(H, 0)
        ax.set_axis_off()
        if scores is not None:
            ax.set_title(f"IoU {scores[i]:.3f}", fontsize=9)
    handles = [Line2D([], [], color="lime", linestyle="-", label="true"),
               Line2D([], [], color="red", linestyle="--", label="predicted")]
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def plot_segmentation_panels(images: np.ndarray, truth: np.ndarray, probs: dict[str, np.ndarray],
                             path: PathLike, n: int = 4, threshold: float = 0.5,
                             show_mask: bool = True, rows: np.ndarray | None = None) -> Path:
    """Rows of input / truth / one probability map per ``probs`` key / thresholded last map."""
    images = _as_nchw("images", images, channels=(1,))
    shape = images.shape
    truth = np.asarray(truth)
    if truth.shape != shape:
        raise ValueError(f"truth must have shape {shape}, got {truth.shape}")
    maps = {}
    for key, p in probs.items():
        p = np.asarray(p, dtype=float)
        if p.shape != shape:
            raise ValueError(f"probs['{key}'] must have shape {shape}, got {p.shape}")
        maps[key] = p
    if show_mask and not maps:
        raise ValueError("show_mask needs at least one entry in probs")

    N = shape[0]
    if rows is None:
        if N == 0 or n < 1:
            raise ValueError("nothing to plot (N == 0 or n < 1)")
        idx = np.arange(min(n, N))
    else:
        idx = np.asarray(rows).reshape(-1)
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError("rows must be a non-empty array of integer sample indices")
        if idx.min() < -N or idx.max() >= N:
            raise ValueError(f"rows must index into {N} samples, got {idx.tolist()}")

    last = list(maps)[-1] if maps else None
    columns: list[tuple[str, np.ndarray, dict]] = [
        ("input", images, {"cmap": "gray"}),
        ("truth", truth, {"cmap": "gray", "vmin": 0, "vmax": 1}),
    ]
    columns += [(key, p, {"cmap": "viridis", "vmin": 0, "vmax": 1}) for key, p in maps.items()]
    if show_mask:
        columns.append((f"{last} > {threshold}", maps[last] > threshold,
                        {"cmap": "gray", "vmin": 0, "vmax": 1}))

    n_rows, n_cols = len(idx), len(columns)
    fig = Figure(figsize=(2.2 * n_cols, 2.2 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, s in enumerate(idx):
        for c, (label, data, style) in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(np.asarray(data[s, 0], dtype=float), interpolation="nearest", **style)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=9)
            if c == 0:
                ax.set_ylabel(f"#{int(s)}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
