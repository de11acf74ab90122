"""Spiking CUBA dynamics over T steps, bit-exact with SLAYER's fixed-point CUBA neuron.

SLAYER's current ``u[t] = (1 - a) u[t-1] + x[t]`` settles at ``x / a``; the input is multiplied by ``a``
so the current settles at the synaptic input itself (a unit-gain low-pass filter, as NengoDL's synapse),
and the rate function's argument equals the time-averaged synaptic input. On Loihi the factor ``a`` is
folded into the exported weights.

Two implementations of the same arithmetic:

- :func:`spikes_surrogate` runs SLAYER's own kernels (autograd through time, for BPTT).
- :func:`spikes` (no gradient; the ``snn`` and ``hybrid`` forward pass) runs the same integer recurrence
  as one compiled (numba) loop per neuron on the CPU, both state variables in registers. SLAYER's CPU
  kernel is a Python loop over steps that materialises int64 temporaries and the current and voltage
  traces. ``tests/test_spiking.py`` checks that the spikes are identical.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from ..compat import slayer_ops
from .params import DECAY_SCALE, NeuronParams

_SCALE = slayer_ops.STATE_SCALE  # states on a 1/4096 grid, as SLAYER's CUBA neuron (scale 1 << 6)


def voltage(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Pre-reset membrane voltage (..., T) for synaptic input ``z_seq`` (..., T), via SLAYER's kernels."""
    gain = p.current_decay / DECAY_SCALE
    current = slayer_ops.leaky_integrate(z_seq * gain, p.current_decay)
    return slayer_ops.leaky_integrate(current + bias, p.voltage_decay, p.threshold)


def spikes_surrogate(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Binary spike trains with SLAYER's surrogate gradient through time (BPTT)."""
    return slayer_ops.surrogate_spike(voltage(z_seq, bias, p), p.threshold, p.tau_grad, p.scale_grad)


@numba.njit(cache=True, inline="always")
def _decayed(state: int, keep: int) -> int:
    """``state * keep >> 12`` rounded toward zero (SLAYER's right_shift_to_zero)."""
    prod = state * keep
    return prod // 4096 if prod >= 0 else -((-prod) // 4096)


@numba.njit(parallel=True, cache=True)
def _cuba_kernel(x: np.ndarray, bias: np.ndarray, keep_u: int, keep_v: int, threshold: float,
                 u_state: np.ndarray, v_state: np.ndarray) -> np.ndarray:
    """x: (M, T) int64 scaled input current per step; bias: (M,) float32 -> (M, T) bool spikes.

    ``u_state``/``v_state`` (M,) int64 hold the states before the first step and are updated in place,
    so a long sequence can be run in chunks of steps with the same result.
    """
    m_total, steps = x.shape
    out = np.zeros((m_total, steps), dtype=np.bool_)
    scale = np.float32(4096.0)
    for m in numba.prange(m_total):
        u = u_state[m]
        v = v_state[m]
        b = bias[m]
        for t in range(steps):
            u = _decayed(u, keep_u) + x[m, t]
            # SLAYER passes the current to the voltage integrator as float32 (u / 4096) plus the bias
            v_in = np.int64(scale * (np.float32(u) / scale + b))
            v = _decayed(v, keep_v) + v_in
            if v >= threshold:
                out[m, t] = True
                v = 0
        u_state[m] = u
        v_state[m] = v
    return out


NeuronState = tuple[np.ndarray, np.ndarray]


@torch.no_grad()
def spikes_stateful(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams,
                    state: NeuronState | None = None) -> tuple[torch.Tensor, NeuronState]:
    """:func:`spikes` continuing from ``state`` (None: at rest); returns the spikes and the new state."""
    gain = p.current_decay / DECAY_SCALE
    # the same float32 operations as SLAYER's kernel, for all steps at once
    x = (_SCALE * (z_seq * gain)).to(torch.int64)
    b = torch.as_tensor(bias, dtype=torch.float32).expand(z_seq.shape).select(-1, 0)
    x2 = x.reshape(-1, x.shape[-1]).numpy()
    if state is None:
        state = (np.zeros(x2.shape[0], np.int64), np.zeros(x2.shape[0], np.int64))
    out = _cuba_kernel(x2, np.ascontiguousarray(b.reshape(-1).numpy()),
                       DECAY_SCALE - p.current_decay, DECAY_SCALE - p.voltage_decay,
                       (p.threshold + slayer_ops.THRESHOLD_EPS) * _SCALE, state[0], state[1])
    return torch.from_numpy(out).reshape(z_seq.shape).to(z_seq.dtype), state


@torch.no_grad()
def spikes(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Binary spike trains (..., T) of CUBA neurons, without gradient; bit-exact with SLAYER."""
    if z_seq.is_cuda:  # SLAYER's CUDA kernel is fast there
        return (voltage(z_seq, bias, p) >= p.threshold + slayer_ops.THRESHOLD_EPS).to(z_seq.dtype)
    return spikes_stateful(z_seq, bias, p)[0]
