"""Steady-state firing rate of the discrete-time CUBA neuron, in spikes per step.

The neuron (SLAYER's CUBA model, Loihi's fixed-point LIF with hard reset) receives a constant current
``j`` per step once its synaptic filter has settled (``u[t] -> j``), and integrates
``v[t] = (1 - d) v[t-1] + j``, spiking and resetting to 0 when ``v >= threshold``. From reset it
reaches threshold after ``p(j)`` steps::

    LIF (d > 0):  p = tau * log(1 + theta / (j/d - theta)),  tau = -1 / log(1 - d)
    IF  (d = 0):  p = theta / j

which is the Hunsberger-Eliasmith LIF curve with ``tau_RC = tau`` and ``V_th = theta`` on the steady-state
voltage ``j/d``. The discrete neuron spikes every ``ceil(p)`` steps (``rate_staircase``); the trainable
rate replaces ``max(x, 0)`` by ``rho(x) = gamma * log(1 + exp(x / gamma))`` and adds ``t_ref`` steps to the
period (``rate``). ``kind="if"`` with ``t_ref=0`` is the rectified-linear rate ``j / theta``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .params import DECAY_SCALE, NeuronParams

_TINY = 1e-30  # keeps log(1 + theta/rho) finite far below threshold (rate -> ~0, gradient -> 0)


def soft_rectify(x: torch.Tensor, gamma: float) -> torch.Tensor:
    """``gamma * log(1 + exp(x / gamma))``; the hard ``max(x, 0)`` when ``gamma == 0``."""
    return F.relu(x) if gamma == 0 else gamma * F.softplus(x / gamma)


def _period(j: torch.Tensor, p: NeuronParams, rectify) -> torch.Tensor:
    # written without 1/x terms whose derivative overflows float32 far below threshold (inf * 0 = nan)
    d = p.voltage_decay / DECAY_SCALE
    if d == 0:
        rho = rectify(j).clamp_min(_TINY)
        return torch.exp(math.log(p.threshold) - torch.log(rho))
    tau = -1.0 / math.log(1.0 - d)
    excess = rectify(j / d - p.threshold).clamp_min(_TINY)
    return tau * (torch.log(excess + p.threshold) - torch.log(excess))


def rate(j: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Smooth, differentiable steady-state rate (spikes per step, at most 1) for input current ``j``; for a
    sigma-delta neuron (``kind="sd"``) its activation ``relu(j)``, the value its messages add up to."""
    if p.kind == "sd":
        return F.relu(j)
    if p.kind == "if":
        rho = soft_rectify(j, p.gamma)
        return (rho / (p.threshold + p.t_ref * rho)).clamp(max=1.0)
    period = _period(j, p, lambda x: soft_rectify(x, p.gamma))
    return (1.0 / (period + p.t_ref)).clamp(max=1.0)


def rate_staircase(j: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """The reset-to-zero neuron's exact steady-state rate ``1 / ceil(period)`` (no smoothing)."""
    period = _period(j, p, F.relu)
    out = 1.0 / torch.ceil(period - 1e-9)
    return torch.where(period >= 1 / _TINY * 0.5, torch.zeros_like(out), out)
