"""Batched, bit-exact emulation of an exported fixed-point network (the ``emu`` backend).

The arithmetic is that of Lava's bit-accurate process models for Loihi (``PyLifModelBitAcc``,
``PyConvModelFixed``, ``PySparseModelBitAcc``): synaptic input shifted left by 6 bits, decays as
``x * (4096 - d)`` shifted right by 12 bits toward zero, the current wrapping around at 24 bits, the
voltage saturating, a spike when ``v > vth << 6`` and a reset to 0. Time is aligned: here every layer
sees its input spikes in the same step, whereas Lava delays each layer by one step; within a sample's
window the spikes are the same (``tests/test_lava_parity.py`` checks them one by one).

Synaptic sums are computed with float32 convolutions, which are exact while the sums stay below 2**24;
:func:`emulate` falls back to float64 for a layer where they might not.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .format import MANT_SHIFT, STATE_LIMIT, FixedLayer, FixedNetwork


@dataclass
class EmuResult:
    readout: np.ndarray                 # (N, ...) decoded readout, training-time units
    v_warm: np.ndarray                  # readout voltage at the end of step warmup-1 (chip units)
    v_end: np.ndarray                   # ... at the end of step T-1
    counts: np.ndarray                  # (N, L) spikes per sample and layer (all L layers incl. readout)
    peak_state: list[float] = field(default_factory=list)  # per layer max |current|, |voltage| before wrap/clip
    spikes: list[np.ndarray] | None = None  # per layer (N, *out_shape, T) bool, when recorded


def _decay(x: torch.Tensor, d: int) -> torch.Tensor:
    """``x * (4096 - d) >> 12`` toward zero, as Loihi's decay."""
    prod = x * (4096 - d)
    return torch.sign(prod) * torch.div(prod.abs(), 4096, rounding_mode="floor")


class _Synapse:
    """Integer synaptic sum of one layer, on float32 (exact here) or float64 tensors."""

    def __init__(self, layer: FixedLayer, max_input: int) -> None:
        self.layer = layer
        w = np.abs(layer.weight.astype(np.int64))
        per_output = w.sum(axis=(0, 2, 3)) if layer.op == "convT" else w.reshape(w.shape[0], -1).sum(1)
        exact32 = float(per_output.max()) * max_input < 2 ** 24
        self.dtype = torch.float32 if exact32 else torch.float64
        self.w = torch.as_tensor(layer.weight, dtype=self.dtype)

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        L, x = self.layer, s.to(self.dtype)
        if L.flatten_input:
            x = x.reshape(x.shape[0], -1)
        if L.op == "dense":
            y = x @ self.w.T
        elif L.op == "conv":
            y = F.conv2d(x, self.w, stride=L.stride, padding=L.padding)
        else:
            y = F.conv_transpose2d(x, self.w, stride=L.stride, padding=L.padding)
        return torch.round(y).to(torch.int64)


def emulate(net: FixedNetwork, x: np.ndarray, batch_size: int = 32, record: bool = False,
            record_peaks: bool = False, progress: Callable[[int], None] | None = None) -> EmuResult:
    """Run ``net`` on images ``x`` (N, C, H, W) in [0, 1] for ``net.steps`` steps each (states reset per sample)."""
    q_all = net.encode_input(x)
    n = len(q_all)
    L = len(net.layers)
    syn = []
    max_in = net.input_levels
    for layer in net.layers:
        syn.append(_Synapse(layer, max_in))
        max_in = 1
    v_warm, v_end, counts = [], [], np.zeros((n, L), np.int64)
    if net.warmup == 0:  # the window starts with the sample
        v_warm = [np.zeros((n, *net.readout.out_shape), np.int64)]
    peaks = np.zeros(L)
    trains: list[list[np.ndarray]] = [[] for _ in range(L)]
    m = STATE_LIMIT
    with torch.no_grad():
        for lo in range(0, n, batch_size):
            q = torch.as_tensor(q_all[lo:lo + batch_size], dtype=torch.int64)
            b = len(q)
            u = [torch.zeros((b, *ly.out_shape), dtype=torch.int64) for ly in net.layers]
            v = [torch.zeros_like(t) for t in u]
            bias = [torch.as_tensor(ly.bias, dtype=torch.int64).view(-1, *([1] * (len(ly.out_shape) - 1)))
                    << MANT_SHIFT for ly in net.layers]
            rec = [[] for _ in range(L)] if record else None
            for t in range(net.steps):
                inp = q
                for i, ly in enumerate(net.layers):
                    a = syn[i](inp)
                    if ly.weight_exp:
                        a = a << ly.weight_exp if ly.weight_exp > 0 else a >> -ly.weight_exp
                    a = a << MANT_SHIFT
                    c = _decay(u[i], ly.i_decay) + a
                    wrapped = torch.where(c > m, c - 2 * m, c)
                    u[i] = torch.where(wrapped <= -m, c + 2 * m, wrapped)
                    vv = _decay(v[i], ly.v_decay) + u[i] + bias[i]
                    if record_peaks:
                        peaks[i] = max(peaks[i], float(c.abs().max()), float(vv.abs().max()))
                    vv = vv.clamp(-(m - 1), m - 1)
                    s = vv > (ly.vth << MANT_SHIFT)
                    v[i] = torch.where(s, torch.zeros_like(vv), vv)
                    counts[lo:lo + b, i] += s.reshape(b, -1).sum(1).numpy()
                    if rec is not None:
                        rec[i].append(s.numpy())
                    inp = s
                if t == net.warmup - 1:
                    v_warm.append(v[-1].numpy().copy())
            v_end.append(v[-1].numpy().copy())
            if rec is not None:
                for i in range(L):
                    trains[i].append(np.stack(rec[i], axis=-1))
            if progress is not None:
                progress(b)
    vw, ve = np.concatenate(v_warm), np.concatenate(v_end)
    return EmuResult(readout=net.decode_readout(vw, ve), v_warm=vw, v_end=ve, counts=counts,
                     peak_state=[float(p) for p in peaks],
                     spikes=[np.concatenate(tr) for tr in trains] if record else None)
