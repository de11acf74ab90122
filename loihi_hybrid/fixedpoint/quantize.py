"""Quantisation of a trained :class:`SpikingNetwork` into the fixed-point format (see ``format``).

Sigma-delta layers (``SDNN``) hold ``sigma`` and ``act`` on a ``2**12`` grid per chip unit (bias and threshold
are shifted left by ``spike_exp + 6 = 12`` bits, the synaptic sum is added as it is) and send ``act >> 6``: a
layer of scale ``k`` sends ``64 k`` per training-time unit of its activation. So its chip weights are
``4096 k W_eff`` (``W_eff`` per unit of the input message), its bias mantissa ``k alpha b`` and its threshold
``k theta``; written as ``64 k x`` for ``x = 64 W_eff, alpha b / 64, theta / 64`` they share the CUBA
formulas. The readout after a sigma-delta layer holds the summed messages in its current (``iDecay`` 0).
"""
from __future__ import annotations

import numpy as np
import torch

from ..compat import slayer_ops
from ..models.layers import Flatten, Readout, SpikingLayer
from ..models.network import SpikingNetwork
from ..neurons.params import DECAY_SCALE
from .emulator import emulate
from .format import (BIAS_MAX, HEADROOM, INPUT_LEVELS, SDNN_MESSAGE_BITS, STATE_LIMIT, VTH_MAX, WEIGHT_MAX,
                     FixedLayer, FixedNetwork)

#: the largest graded message a sigma-delta layer may send on the calibration images (signed 16 bits, with the
#: same margin as the current)
MESSAGE_LIMIT = HEADROOM * ((1 << (SDNN_MESSAGE_BITS - 1)) - 1)

#: graded input needs finer first-layer weights than 8 bits at the neuron's scale
EXPONENT_RANGE = (-8, 0)
EXPONENT_MAX = 7  # Loihi's weight exponent is signed 4 bits


def _round_even(x: np.ndarray) -> np.ndarray:
    return (2 * np.rint(np.asarray(x, np.float64) / 2)).astype(np.int64)


def _geometry(syn: torch.nn.Module, in_shape: tuple[int, ...]) -> tuple[str, np.ndarray, int, int, tuple[int, ...]]:
    op, w, stride, padding = slayer_ops.synapse_geometry(syn)
    w = w.cpu().double().numpy()
    if op == "dense":
        return op, w, 1, 0, (int(w.shape[0]),)
    _, h, wd = in_shape
    k = w.shape[-1]
    if op == "conv":
        out = (w.shape[0], (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1)
    else:
        out = (w.shape[1], (h - 1) * stride - 2 * padding + k, (wd - 1) * stride - 2 * padding + k)
    return op, w, stride, padding, tuple(int(v) for v in out)


def _layer_scale(w_eff: np.ndarray, bias_eff: np.ndarray, threshold: float | None, exp_min: int) -> float:
    """Largest k that the weight, bias and threshold registers allow."""
    limits = [WEIGHT_MAX / (64.0 * max(np.abs(w_eff).max(), 1e-12))]
    if np.abs(bias_eff).max() > 0:
        limits.append(BIAS_MAX / (64.0 * np.abs(bias_eff).max()))
    if threshold is not None:
        limits.append(VTH_MAX / (64.0 * threshold))
    return float(min(limits))


def _sdnn_start_scale(w_eff: np.ndarray, theta: float) -> float:
    """A sigma-delta layer's first scale: the threshold register's limit halved until the weights fit 8 bits with
    the largest (left) exponent; the message check then lowers it by powers of two. So ``k theta`` stays a power of
    two (the threshold lands on the chip's grid exactly while it is >= 1), and no weight is clipped (clipped
    weights would not scale with ``k``, and the check's step would miss)."""
    k = VTH_MAX / (64.0 * theta)
    fit = WEIGHT_MAX * 2.0 ** EXPONENT_MAX / (64.0 * max(float(np.abs(w_eff).max()), 1e-300))
    return k / 2.0 ** max(0.0, np.ceil(np.log2(k / fit)))


def _quantize_layer(layer: SpikingLayer | Readout, name: str, in_shape: tuple[int, ...], in_unit: float,
                    k: float | None, flatten_input: bool, exp_min: int, held: bool = False) -> FixedLayer:
    """``held``: the input is graded sigma-delta messages, which a CUBA readout's current adds up (iDecay 0)."""
    op, w, stride, padding, out_shape = _geometry(layer.synapse, in_shape)
    b = layer.bias.detach().cpu().double().numpy()
    neuron, bits = "cuba", 0
    if isinstance(layer, SpikingLayer) and layer.neuron.graded:
        a = float(layer.alpha)
        w_eff, b_eff, theta = 64.0 * a * w * in_unit, a * b / 64.0, layer.neuron.threshold / 64.0
        i_decay, v_decay, neuron, bits = DECAY_SCALE, 0, "sdnn", SDNN_MESSAGE_BITS  # unused: FixedLayer defaults
    elif isinstance(layer, SpikingLayer):
        a, p = float(layer.alpha), layer.neuron
        gain = p.current_decay / DECAY_SCALE
        w_eff, b_eff, theta = a * gain * w * in_unit, a * b, p.threshold
        i_decay, v_decay = p.current_decay, p.voltage_decay
    else:
        w_eff, b_eff, theta = w * in_unit, b, None
        i_decay, v_decay = (0 if held else DECAY_SCALE), 0
    if k is None:
        k = _sdnn_start_scale(w_eff, theta) if neuron == "sdnn" else _layer_scale(w_eff, b_eff, theta, exp_min)
    # the smallest exponent (finest weights) whose mantissas fit 8 bits; a sigma-delta layer's scale is not
    # bounded by its weights, whose exponent may then shift left
    exp_max = EXPONENT_MAX if neuron == "sdnn" else 0
    exp = int(np.clip(np.ceil(np.log2(64.0 * k * np.abs(w_eff).max() / WEIGHT_MAX + 1e-300)), exp_min, exp_max))
    weight = np.clip(_round_even(64.0 * k * w_eff * 2.0 ** -exp), -WEIGHT_MAX - 2, WEIGHT_MAX).astype(np.int32)
    bias = np.clip(np.rint(64.0 * k * b_eff), -BIAS_MAX - 1, BIAS_MAX).astype(np.int32)
    vth = VTH_MAX if theta is None else int(min(VTH_MAX, max(1, round(64.0 * k * theta))))
    return FixedLayer(name=name, op=op, weight=weight, bias=bias, in_shape=tuple(in_shape), out_shape=out_shape,
                      stride=stride, padding=padding, i_decay=int(i_decay), v_decay=int(v_decay), vth=vth,
                      spiking=theta is not None, weight_exp=exp, scale=float(k), flatten_input=flatten_input,
                      neuron=neuron, message_bits=bits)


def threshold_rounding(model: SpikingNetwork, fixed: FixedNetwork, tolerance: float = 0.1) -> list[str]:
    """One line per sigma-delta layer whose chip threshold ``vth / k`` misses the trained delta threshold by more
    than ``tolerance`` (relative): a layer's scale is capped by its 16-bit messages, so a threshold far below its
    largest activation rounds (at least to ``vth`` 1)."""
    out = []
    for m, ly in zip(model.spiking_layers(), fixed.layers):
        if ly.neuron != "sdnn":
            continue
        want, got = m.neuron.threshold, ly.vth / ly.scale
        if abs(got - want) > tolerance * want:
            out.append(f"{ly.name}: delta threshold {want:g} is {got:.3g} on the chip (vThMant {ly.vth} at scale "
                       f"{ly.scale:.3g}; the 16-bit messages cap the scale): the export's metric includes it")
    return out


def state_limits(layer: FixedLayer, first: bool = False) -> tuple[float, float]:
    """The largest calibrated peak (current, voltage) that ``layer``'s scale may give.

    The current wraps around at 24 bits, so it keeps a margin (``HEADROOM``) for inputs stronger than the
    calibration images. A spiking neuron's voltage saturates instead, and only on the negative side
    (above ``vth`` it spikes and resets), where saturating just shortens a deep silence: it only has to
    stay unclipped on the calibration images. In the ``first`` layer, whose input (an image) is the same
    every step, a clip cannot change a spike where :meth:`FixedLayer.static_clip_is_harmless` says so: no
    limit there. (A leaky first layer's negative voltage settles near ``4096 / dv`` times its current, 20x
    in LocNet, so this limit cut the scale of the image's weights, and with it the plain-NetX input levels,
    by 2-4x.) The readout's voltage is the decoded sum, so it keeps the margin. A sigma-delta layer's pair is
    its largest message (:data:`MESSAGE_LIMIT`) and its ``sigma + bias`` (24 bits).
    """
    if layer.neuron == "sdnn":
        return MESSAGE_LIMIT, STATE_LIMIT - 1
    if not layer.spiking:
        return HEADROOM * STATE_LIMIT, HEADROOM * STATE_LIMIT
    free = first and layer.static_clip_is_harmless()
    return HEADROOM * STATE_LIMIT, (float("inf") if free else STATE_LIMIT - 1)


def quantize(model: SpikingNetwork, calib_x: np.ndarray | torch.Tensor, steps: int, warmup: int,
             exp_min: tuple[int, ...] = (-8,), max_rounds: int = 8) -> FixedNetwork:
    """Fixed-point version of ``model`` (alphas folded in); scales checked on ``calib_x`` (N, C, H, W) in [0, 1].

    A layer whose current or voltage on the calibration images exceeds its limit (:func:`state_limits`)
    gets its scale lowered (by the measured excess, rounded up to a power of two) and the check repeats.
    """
    x = np.asarray(calib_x.detach().cpu().numpy() if isinstance(calib_x, torch.Tensor) else calib_x)
    scales: dict[int, float] = {}
    for _ in range(max_rounds):
        fixed = _build(model, x.shape[1:], steps, warmup, scales, exp_min)
        emu = emulate(fixed, x, record_peaks=True)
        over = False
        for i, (ly, c, v) in enumerate(zip(fixed.layers, emu.peak_current, emu.peak_voltage)):
            lim_c, lim_v = state_limits(ly, first=i == 0)
            excess = max(c / lim_c, v / lim_v)
            if excess > 1:
                scales[i], over = ly.scale / 2.0 ** np.ceil(np.log2(excess)), True
        if not over:
            return fixed
    raise RuntimeError("could not fit the network's states into Loihi's 24-bit registers")


def _build(model: SpikingNetwork, in_shape: tuple[int, ...], steps: int, warmup: int,
           scales: dict[int, float], exp_min: tuple[int, ...]) -> FixedNetwork:
    layers: list[FixedLayer] = []
    shape, unit, flatten = tuple(int(s) for s in in_shape), 1.0 / INPUT_LEVELS, False
    for m in model.layers:
        if isinstance(m, Flatten):
            flatten, shape = True, (int(np.prod(shape)),)
            continue
        name = m.name if isinstance(m, SpikingLayer) else "readout"
        e = exp_min[min(len(layers), len(exp_min) - 1)]
        held = bool(layers) and layers[-1].neuron == "sdnn"
        fl = _quantize_layer(m, name, shape, unit, scales.get(len(layers)), flatten, e, held)
        layers.append(fl)
        shape, flatten = fl.out_shape, False
        if fl.neuron == "sdnn":  # a message is 64 k alpha per unit of the layer's output
            unit = 1.0 / (64.0 * fl.scale * float(m.alpha))
        else:
            unit = 1.0 / float(m.alpha) if isinstance(m, SpikingLayer) else 1.0
    # sigma-delta: the image is one delta (sent once; the first layer's sigma holds it)
    return FixedNetwork(layers=layers, input_shape=tuple(int(s) for s in in_shape), steps=steps, warmup=warmup,
                        input_once=model.graded)
