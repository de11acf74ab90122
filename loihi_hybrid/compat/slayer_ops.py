"""The SLAYER (lava-dl) operations the models are built from: synapses, CUBA dynamics, surrogate spikes.

Everything else in the package sees plain torch modules and tensors, so a future SDK only has to
replace this file (and the Lava adapters in ``backends/lava``). lava-dl is imported on first use, not
at import time: the fixed-point core, the emulator and the ``emu`` back end run without it.
"""
from __future__ import annotations

import functools
from typing import Any

import torch


@functools.cache
def _sl() -> Any:
    """``lava.lib.dl.slayer`` (imported once, with the Python 3.11 fixes)."""
    from .lava_py311 import slayer  # noqa: PLC0415

    return slayer()

#: States carry 12 fractional bits (SLAYER's CUBA neuron with scale=1<<6 uses s_scale = 1<<12 for its
#: integer dynamics); decays are 12-bit fractions, see ``neurons.params.DECAY_SCALE``.
STATE_SCALE = 1 << 12
#: SLAYER spikes at v >= th, Loihi at v > th: SLAYER adds this epsilon (cuba.Neuron.threshold_eps).
THRESHOLD_EPS = 0.01 / STATE_SCALE


def conv_synapse(in_ch: int, out_ch: int, kernel: int, stride: int = 1, padding: int = 0,
                 weight_scale: float = 1.0) -> torch.nn.Module:
    """SLAYER convolution synapse (NCHWT in, NCHWT out, no bias)."""
    return _sl().synapse.Conv(in_ch, out_ch, kernel, stride=stride, padding=padding, weight_scale=weight_scale)


def conv_transpose_synapse(in_ch: int, out_ch: int, kernel: int, stride: int = 2, padding: int = 0,
                           weight_scale: float = 1.0) -> torch.nn.Module:
    """SLAYER transposed-convolution synapse (exported by lava-dl as ``convT``)."""
    return _sl().synapse.ConvTranspose(in_ch, out_ch, kernel, stride=stride, padding=padding,
                                     weight_scale=weight_scale)


def dense_synapse(in_features: int, out_features: int, weight_scale: float = 1.0) -> torch.nn.Module:
    """SLAYER dense synapse (NCT in, NCT out, no bias)."""
    return _sl().synapse.Dense(in_features, out_features, weight_scale=weight_scale)


def leaky_integrate(x: torch.Tensor, decay_int: int, threshold: float | None = None) -> torch.Tensor:
    """SLAYER's fixed-point leaky integrator over the last (time) axis, with autograd.

    ``y[t] = y[t-1] * (4096 - decay_int) >> 12 + x[t]`` on a 1/4096 grid; with a threshold, ``y`` is
    reset to 0 after the step at which it reached ``threshold + eps`` (the returned value is pre-reset).
    """
    decay = torch.tensor([float(decay_int)], device=x.device)
    state = torch.zeros(x.shape[:-1], device=x.device, dtype=x.dtype)
    th = None if threshold is None else threshold + THRESHOLD_EPS
    return _sl().neuron.dynamics.leaky_integrator.dynamics(x.contiguous(), decay, state, STATE_SCALE, th)


def surrogate_spike(voltage: torch.Tensor, threshold: float, tau_grad: float, scale_grad: float) -> torch.Tensor:
    """SLAYER's spike function: Heaviside forward, exponential surrogate backward (as cuba.Neuron.spike)."""
    tau_rho = tau_grad * threshold * _sl().neuron.cuba.TAU_RHO_MULT
    scale_rho = scale_grad * _sl().neuron.cuba.SCALE_RHO_MULT
    return _sl().spike.Spike.apply(voltage, threshold + THRESHOLD_EPS, tau_rho, scale_rho, False, 0, 1)


def synapse_geometry(syn: torch.nn.Module) -> tuple[str, torch.Tensor, int, int]:
    """``(kind, weight, stride, padding)`` of a synapse made above; ``kind`` is conv|convT|dense and the
    weight drops SLAYER's trailing time-kernel axis (conv ``(Co,Ci,kh,kw)``, convT ``(Ci,Co,kh,kw)``,
    dense ``(Fo,Fi)``)."""
    w = syn.weight.detach()[..., 0]
    if isinstance(syn, _sl().synapse.Dense):
        return "dense", w[:, :, 0, 0], 1, 0
    kind = "convT" if isinstance(syn, _sl().synapse.ConvTranspose) else "conv"
    return kind, w, int(syn.stride[0]), int(syn.padding[0])
