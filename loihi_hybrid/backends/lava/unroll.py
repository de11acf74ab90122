"""Convolutions as explicit synapse lists (sparse matrices) in Lava's (x, y, c) neuron order.

Used for layers Lava's ``Conv`` process cannot express: transposed convolutions and convolutions with a
weight exponent. Each (input neuron, output neuron) pair uses at most one kernel tap, so the matrix holds
exactly the exported integer weights. Pure numpy/scipy; no Lava import.
"""
from __future__ import annotations

import numpy as np
from scipy import sparse


def xyz_index(c: np.ndarray, h: np.ndarray, w: np.ndarray, shape_chw: tuple[int, int, int]) -> np.ndarray:
    """Flat index of neuron (c, h, w) in a Lava layer of shape (W, H, C), C order."""
    ch, hh, _ = shape_chw
    return (w * hh + h) * ch + c


def unrolled(op: str, weight: np.ndarray, in_chw: tuple[int, int, int], out_chw: tuple[int, int, int],
             stride: int, padding: int) -> sparse.csr_matrix:
    """(n_out, n_in) matrix of a ``conv`` (weight (Co,Ci,kh,kw)) or ``convT`` (weight (Ci,Co,kh,kw))."""
    co, ci, kh, kw = weight.shape if op == "conv" else (weight.shape[1], weight.shape[0], *weight.shape[2:])
    # the spatial positions that drive the taps: outputs for conv, inputs for convT
    anchor_h, anchor_w = (out_chw[1], out_chw[2]) if op == "conv" else (in_chw[1], in_chw[2])
    o, i, a, b, y, x = np.meshgrid(np.arange(co), np.arange(ci), np.arange(kh), np.arange(kw),
                                   np.arange(anchor_h), np.arange(anchor_w), indexing="ij")
    o, i, a, b, y, x = (v.ravel() for v in (o, i, a, b, y, x))
    py, px = y * stride - padding + a, x * stride - padding + b
    if op == "conv":   # anchor = output (y, x); input pixel (py, px)
        ok = (py >= 0) & (py < in_chw[1]) & (px >= 0) & (px < in_chw[2])
        rows = xyz_index(o[ok], y[ok], x[ok], out_chw)
        cols = xyz_index(i[ok], py[ok], px[ok], in_chw)
        vals = weight[o[ok], i[ok], a[ok], b[ok]]
    else:              # anchor = input (y, x); output pixel (py, px)
        ok = (py >= 0) & (py < out_chw[1]) & (px >= 0) & (px < out_chw[2])
        rows = xyz_index(o[ok], py[ok], px[ok], out_chw)
        cols = xyz_index(i[ok], y[ok], x[ok], in_chw)
        vals = weight[i[ok], o[ok], a[ok], b[ok]]
    keep = vals != 0
    n_out, n_in = int(np.prod(out_chw)), int(np.prod(in_chw))
    return sparse.csr_matrix((vals[keep].astype(np.int32), (rows[keep], cols[keep])), shape=(n_out, n_in))
