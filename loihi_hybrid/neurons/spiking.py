"""Spiking CUBA dynamics over T steps (SLAYER's fixed-point kernels), with the synaptic gain normalised.

SLAYER's current ``u[t] = (1 - a) u[t-1] + x[t]`` settles at ``x / a``; the input is multiplied by ``a``
so the current settles at the synaptic input itself (a unit-gain low-pass filter, as NengoDL's synapse),
and the rate function's argument equals the time-averaged synaptic input. On Loihi the factor ``a`` is
folded into the exported weights.
"""
from __future__ import annotations

import torch

from ..compat import slayer_ops
from .params import DECAY_SCALE, NeuronParams


def voltage(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Pre-reset membrane voltage (..., T) for synaptic input ``z_seq`` (..., T) and per-step ``bias``."""
    gain = p.current_decay / DECAY_SCALE
    current = slayer_ops.leaky_integrate(z_seq * gain, p.current_decay)
    return slayer_ops.leaky_integrate(current + bias, p.voltage_decay, p.threshold)


def spikes(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Binary spike trains, no gradient (the forward pass of the ``snn`` and ``hybrid`` modes)."""
    with torch.no_grad():
        return (voltage(z_seq, bias, p) >= p.threshold + slayer_ops.THRESHOLD_EPS).to(z_seq.dtype)


def spikes_surrogate(z_seq: torch.Tensor, bias: torch.Tensor | float, p: NeuronParams) -> torch.Tensor:
    """Binary spike trains with SLAYER's surrogate gradient through time (BPTT)."""
    return slayer_ops.surrogate_spike(voltage(z_seq, bias, p), p.threshold, p.tau_grad, p.scale_grad)
