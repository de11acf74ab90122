"""Exports for plain lava-dl NetX 0.6: which layers it would run differently from the project, and the plain form.

Plain ``netx.hdf5.Network`` ignores a layer's ``weightExponent`` (it builds ``Conv`` without one, and picks its
own exponent for ``dense`` from the mantissas alone) and raises ``NotImplementedError`` on ``convT``. A
weight exponent ``e < 0`` computes ``floor(sum(w q) / 2^-e)``: a floor of the whole sum, which no
exponent-free synapse reproduces, and the first layer needs it because the 8-bit graded input times 8-bit
weights would overflow the 24-bit current (the layer's scale is set by its state range, not its weights).

:func:`for_plain_netx` therefore moves the first layer's exponent into the input encoding: with ``L`` input
levels instead of 255, the weights become ``w * 2^e * 255 / L`` (even mantissas, |w| <= 254), so the synaptic
sum keeps its scale and the layer's bias, threshold and decays stay as they are. The result is a different
fixed-point network (its own emulator metric is measured at export), which plain NetX, ``sim`` and ``emu``
run spike for spike alike. ``L`` is the one whose first-layer synaptic sums are closest (RMS) to the exact
real-valued sums on calibration images.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .format import WEIGHT_MAX, FixedLayer, FixedNetwork

CALIBRATION_SEED = 0
CALIBRATION_RANDOM_IMAGES = 16
CALIBRATION_IMAGES = 16      # images that pick the input levels
LEVEL_STEPS_PER_OCTAVE = 8   # candidate level counts: geometric, 8 per doubling, up to the original levels


def plain_netx_issues(net: FixedNetwork) -> list[str]:
    """What plain lava-dl NetX 0.6 would not run as ``sim``/``emu`` do, one entry per layer (empty: it runs
    the file spike for spike)."""
    out = []
    for ly in net.layers:
        if ly.op == "convT":
            out.append(f"{ly.name}: transposed convolution (convT), which plain NetX does not implement")
        elif ly.weight_exp:
            out.append(f"{ly.name}: weight exponent {ly.weight_exp}, which plain NetX ignores")
    if net.input_once:
        out.append(f"{net.layers[0].name}: the image is sent once per sample (input_once), while plain NetX "
                   "users send it every step")
    return out


def _round_even(x: np.ndarray) -> np.ndarray:
    return (2 * np.rint(np.asarray(x, np.float64) / 2)).astype(np.int64)


def _synaptic_sums(layer: FixedLayer, w: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Synaptic sums of ``layer``'s geometry with weights ``w`` (float64) on inputs ``q`` (N, C, H, W)."""
    import torch  # noqa: PLC0415 (torch is a core dependency; imported where used)
    import torch.nn.functional as F  # noqa: PLC0415

    x = torch.as_tensor(q, dtype=torch.float64)
    wt = torch.as_tensor(w, dtype=torch.float64)
    if layer.op == "dense":
        return (x.reshape(len(x), -1) @ wt.T).numpy()
    return F.conv2d(x, wt, stride=layer.stride, padding=layer.padding).numpy()


def fold_input_exponent(net: FixedNetwork, calib_x: np.ndarray | None = None) -> FixedNetwork:
    """``net`` with its first layer's weight exponent folded into the input levels (see the module doc);
    ``calib_x`` (N, C, H, W) in [0, 1] picks the levels (None: uniform random images, seeded)."""
    first = net.layers[0]
    if not first.weight_exp:
        return net
    if first.op not in ("conv", "dense"):
        raise ValueError(f"{first.name}: a {first.op} layer has no plain NetX form")
    if calib_x is None or not len(calib_x):
        rng = np.random.default_rng(CALIBRATION_SEED)
        calib_x = rng.random((CALIBRATION_RANDOM_IMAGES, *net.input_shape))
    x = np.asarray(calib_x, np.float64)[:CALIBRATION_IMAGES]
    real_w = first.weight.astype(np.float64) * 2.0 ** first.weight_exp * net.input_levels  # per unit of x
    target = _synaptic_sums(first, real_w, x)
    low = max(1, int(np.ceil(np.abs(real_w).max() / WEIGHT_MAX)))
    best: tuple[float, int, np.ndarray] | None = None
    n_oct = np.log2(net.input_levels / low)
    candidates = sorted({min(net.input_levels, int(round(low * 2.0 ** (i / LEVEL_STEPS_PER_OCTAVE))))
                         for i in range(int(np.ceil(n_oct * LEVEL_STEPS_PER_OCTAVE)) + 1)})
    for levels in candidates:
        w = _round_even(real_w / levels)
        if np.abs(w).max() > WEIGHT_MAX:
            continue
        q = np.clip(np.rint(x * levels), 0, levels)
        err = float(np.sqrt(np.mean((_synaptic_sums(first, w.astype(np.float64), q) - target) ** 2)))
        if best is None or err < best[0]:
            best = (err, levels, w)
    if best is None:
        raise ValueError(f"{first.name}: its weights do not fit 8 bits at any input level count")
    _, levels, w = best
    layer = dataclasses.replace(first, weight=w.astype(np.int32), weight_exp=0)
    return dataclasses.replace(net, layers=[layer, *net.layers[1:]], input_levels=levels, meta=dict(net.meta))


def for_plain_netx(net: FixedNetwork, calib_x: np.ndarray | None = None) -> FixedNetwork:
    """The form of ``net`` to export: the first layer's exponent folded into the input levels when that makes
    the whole file run in plain NetX; otherwise ``net`` unchanged (plain NetX then refuses the file: see
    :func:`loihi_hybrid.fixedpoint.netx.write_netx`)."""
    rest = dataclasses.replace(net, layers=[dataclasses.replace(net.layers[0], weight_exp=0), *net.layers[1:]])
    if not net.layers[0].weight_exp or plain_netx_issues(rest):
        return net
    return fold_input_exponent(net, calib_x)
