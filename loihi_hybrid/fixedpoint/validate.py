"""Checks of a NetX file before anything in it is trusted: :func:`load_checked` reads an open HDF5 file
into a :class:`FixedNetwork` and its metadata, checking every value as it reads it. ``read_netx`` calls it,
so every reader of a ``.net`` (export's verification, deploy, the API, bench) goes through it.

Each problem raises ``InputError(path, "<what is wrong, where>")``: one line.

Rules (Loihi's register formats; see ``format``):

- the file's own structure: only hard links (no external or soft links), no external raw storage, no
  virtual datasets; ``/layer/0..n-1`` groups in order; every array's size is checked before it is read;
- integer-valued registers (integer dtype, or a float dtype holding finite whole numbers);
- weight mantissas: even values in [-256, 254] (8-bit, the grid SLAYER/NetX and :func:`quantize` use);
  bias mantissa: [-4096, 4095] (13-bit); ``vThMant``: [1, 2**17 - 1] (17-bit);
  ``iDecay``/``vDecay``: [0, 4096] (12-bit fraction); ``weightExponent``: [-8, 7] (Loihi's signed 4-bit
  weight exponent, as in NxSDK's ``weightExponent`` and Lava's ``weight_exp``);
- shapes against each other: the weight against the input and the declared output shape, the conv / convT
  output size from kernel, stride and padding, the bias length, ``kernelSize``/``inChannels``/``outChannels``
  /``inFeatures``/``outFeatures`` where present, square strides and paddings, no dilation or groups
  (exports and the ``Sparse``-built layers; plain NetX ``conv`` layers may have per-axis values, dilation, groups);
- only the last layer is the non-spiking readout (exports with metadata);
- plain NetX files (no ``/loihi_hybrid``, as lava-dl writes them) are read as NetX 0.6 builds them: an
  optional ``input`` layer (with or without a neuron and a scalar bias), per-axis ``stride``/``padding``/
  ``dilation`` and ``groups`` on ``conv``, 1-D dense weights, ``dense_rec``, CUBA/LOIHI and SDNN neurons
  (``messageBits``), ``simulation/tSample`` as the default steps; NetX's ``num_layers``/``skip_layers``
  select the layers. ``wgtExp``/``weight_exp`` under the neuron are read and, as NetX 0.6 does, ignored
  (a warning when non-zero); pool/average/concat layers and RF neurons are refused;
- metadata (JSON): ``task`` a name, ``steps`` a whole number in [1, MAX_STEPS], ``warmup`` in [0, steps),
  ``input_levels`` in [1, 255], ``layer_scales`` one finite number > 0 per layer; where present (required
  with ``require_deploy``): ``config`` (parsed by :func:`loihi_hybrid.config.config_from_dict`, same task),
  ``decoding`` and ``preprocessing`` objects with finite numbers;
- caps, so that a hostile file cannot exhaust memory or time: :data:`MAX_NEURONS`, :data:`MAX_SYNAPSES`,
  :data:`MAX_STEPS`, :data:`MAX_NEURON_STEPS`, :data:`MAX_WEIGHTS`, :data:`MAX_LAYERS`.
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError
from ..neurons.params import DECAY_SCALE
from .format import (BIAS_MAX, INPUT_LEVELS, INPUT_MESSAGE_BITS, SDNN_MESSAGE_BITS, SPIKE_EXP, VTH_MAX, WEIGHT_MAX,
                     FixedLayer, FixedNetwork)

FORMAT = "loihi-hybrid-netx"
FORMAT_VERSION = 1

WEIGHT_MIN = -WEIGHT_MAX - 2            # -256: 8-bit signed mantissa on the even grid
BIAS_MIN = -BIAS_MAX - 1                # -4096
EXPONENT_LIMITS = (-8, 7)               # Loihi's signed 4-bit weight exponent
MAX_LAYERS = 256                        # /layer groups, input and flatten entries included
MAX_NEURONS = 10 ** 7                   # all layers together (a Loihi 2 chip holds 1 M)
MAX_SYNAPSES = 10 ** 9                  # unrolled synapses, all layers together
MAX_WEIGHTS = 10 ** 7                   # stored weights of one layer
MAX_STEPS = 10 ** 4                     # time steps per sample
MAX_NEURON_STEPS = 10 ** 9              # neurons x steps: the spike trains recorded for one sample
MAX_METADATA_CHARS = 10 ** 6
SCALE_LIMITS = (1e-9, 1e15)             # layer scales k (chip units per training-time unit)
MAX_DECODING_VALUE = 1e6                # |decoding parameter| (box means/stds, ...)
MAX_OBJECTS = 10 ** 4                   # groups and datasets in the file
MAX_KERNEL = 64
MAX_STRIDE = 64
SDNN_BIAS_LIMIT = 1 << 15               # a sigma-delta neuron's bias register is 16 bits
NEURON_TYPES = {"CUBA": "cuba", "LOIHI": "cuba", "SDNN": "sdnn"}


class _Bad(Exception):
    """A problem found while reading; becomes ``InputError(path, message)``."""


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise _Bad(msg)


# --- the file's structure ------------------------------------------------------------------------------

def check_structure(h: h5py.File) -> None:
    """No external/soft links, external storage or virtual datasets; a bounded number of objects."""
    seen = 0
    stack: list[tuple[h5py.Group, str]] = [(h, "")]
    while stack:
        g, where = stack.pop()
        for k in g.keys():
            name = f"{where}/{k}"
            seen += 1
            _check(seen <= MAX_OBJECTS, f"more than {MAX_OBJECTS} HDF5 objects")
            link = g.get(k, getlink=True)
            _check(not isinstance(link, h5py.ExternalLink), f"{name} is an external link to another file")
            _check(isinstance(link, h5py.HardLink), f"{name} is a soft link (not allowed in an export)")
            obj = g.get(k)
            if isinstance(obj, h5py.Group):
                _check(name.count("/") <= 4, f"{name}: groups nested too deep")
                stack.append((obj, name))
            elif isinstance(obj, h5py.Dataset):
                _check(not obj.is_virtual, f"{name} is a virtual dataset (reads other files)")
                _check(not obj.external, f"{name} has external storage (reads other files)")
            else:
                raise _Bad(f"{name} is neither a group nor a dataset")


def _group(g: h5py.Group, key: str, where: str) -> h5py.Group:
    _check(key in g, f"{where}: missing '{key}'")
    obj = g[key]
    _check(isinstance(obj, h5py.Group), f"{where}: '{key}' must be a group")
    return obj


def _dataset(g: h5py.Group, key: str, where: str, max_size: int) -> np.ndarray:
    _check(key in g, f"{where}: missing '{key}'")
    ds = g[key]
    _check(isinstance(ds, h5py.Dataset), f"{where}: '{key}' must be a dataset")
    _check(ds.shape is not None, f"{where}: '{key}' is empty")
    size = math.prod(int(s) for s in ds.shape)
    _check(size <= max_size, f"{where}: '{key}' has {size} values, at most {max_size} expected")
    return np.asarray(ds[()])


def _ints(g: h5py.Group, key: str, where: str, max_size: int = 8) -> np.ndarray:
    """An integer-valued array (integer dtype, or finite whole floats) as int64."""
    v = _dataset(g, key, where, max_size)
    if v.dtype.kind in "iu":
        if v.dtype.kind == "u" and v.size and int(v.max()) > np.iinfo(np.int64).max:
            raise _Bad(f"{where}: '{key}' out of range")
        return v.astype(np.int64)
    _check(v.dtype.kind == "f", f"{where}: '{key}' must hold integers, got {v.dtype}")
    _check(bool(np.all(np.isfinite(v))), f"{where}: '{key}' holds NaN or infinite values")
    _check(bool(np.all(np.abs(v) < 2.0 ** 62)), f"{where}: '{key}' holds values out of range")
    _check(bool(np.all(v == np.round(v))), f"{where}: '{key}' must hold whole numbers")
    return v.astype(np.int64)


def _scalar(g: h5py.Group, key: str, where: str, lo: int, hi: int) -> int:
    v = _ints(g, key, where, max_size=2).reshape(-1)
    _check(v.size >= 1, f"{where}: '{key}' is empty")
    _check(bool(np.all(v == v[0])), f"{where}: '{key}' must be the same in both dimensions, got {v.tolist()}")
    x = int(v[0])
    _check(lo <= x <= hi, f"{where}: '{key}' = {x} is outside [{lo}, {hi}]")
    return x


def _pair(g: h5py.Group, key: str, where: str, lo: int, hi: int, default: int) -> int | tuple[int, int]:
    """A stride/padding/dilation: one value or (h, w) per axis; an int when both axes agree."""
    if key not in g:
        return default
    v = _ints(g, key, where, max_size=2).reshape(-1)
    _check(v.size in (1, 2), f"{where}: '{key}' must hold 1 or 2 values")
    _in_range(v, lo, hi, where, f"'{key}'")
    return int(v[0]) if v.size == 1 or v[0] == v[1] else (int(v[0]), int(v[1]))


def _in_range(v: np.ndarray, lo: int, hi: int, where: str, what: str) -> None:
    if v.size:
        a, b = int(v.min()), int(v.max())
        _check(lo <= a and b <= hi, f"{where}: {what} in [{a}, {b}], outside [{lo}, {hi}]")


def _type(g: h5py.Group, where: str) -> str:
    v = _dataset(g, "type", where, 4).reshape(-1)
    _check(v.size == 1, f"{where}: 'type' must be one string")
    s = v[0]
    if isinstance(s, bytes):
        try:
            s = s.decode("ascii")
        except UnicodeDecodeError:
            raise _Bad(f"{where}: 'type' is not ASCII") from None
    _check(isinstance(s, str), f"{where}: 'type' must be a string")
    return s


def _shape(g: h5py.Group, where: str, dims: tuple[int, ...]) -> tuple[int, ...]:
    v = _ints(g, "shape", where, max_size=4).reshape(-1)
    _check(v.size in dims, f"{where}: 'shape' must have {' or '.join(map(str, dims))} entries, got {v.size}")
    _check(bool(np.all(v >= 1)), f"{where}: 'shape' entries must be >= 1, got {v.tolist()}")
    _check(bool(np.all(v <= MAX_NEURONS)), f"{where}: 'shape' {v.tolist()} exceeds {MAX_NEURONS} neurons")
    shape = tuple(int(s) for s in v)
    _check(math.prod(shape) <= MAX_NEURONS, f"{where}: {math.prod(shape)} neurons, at most {MAX_NEURONS} allowed")
    return shape


# --- layers ------------------------------------------------------------------------------------------

def _neuron(g: h5py.Group, where: str, plain: bool, is_input: bool) -> dict[str, Any]:
    """The neuron fields of a layer: CUBA registers, or a sigma-delta neuron (plain files)."""
    if "neuron" not in g and plain and not is_input:  # NetX's default: a non-leaky integrator
        return {"neuron": "cuba", "i_decay": 0, "v_decay": DECAY_SCALE, "vth": 1 << 17}
    n = _group(g, "neuron", where)
    nwhere = f"{where} neuron"
    kind = _type(n, nwhere) if ("type" in n or plain) else "CUBA"
    _check(kind in NEURON_TYPES and (plain or kind in ("CUBA", "SDNN")),
           f"{nwhere}: neuron type {kind[:20]!r} is not supported (CUBA, LOIHI" + (", SDNN)" if plain else ")"))
    for key in ("wgtExp", "weight_exp"):
        if key in n and _scalar(n, key, nwhere, *EXPONENT_LIMITS) != 0:
            warnings.warn(f"{nwhere}: {key} is not 0; NetX 0.6 ignores it and so does loihi-hybrid", stacklevel=4)
    bits = _scalar(n, "messageBits", nwhere, 0, 24) if "messageBits" in n else None
    if NEURON_TYPES[kind] == "cuba":
        return {"neuron": "cuba", "i_decay": _scalar(n, "iDecay", nwhere, 0, DECAY_SCALE),
                "v_decay": _scalar(n, "vDecay", nwhere, 0, DECAY_SCALE),
                "vth": _scalar(n, "vThMant", nwhere, 1, VTH_MAX), "message_bits": bits or 0}
    sigma = "sigma_output" in n and not is_input
    return {"neuron": "sigma" if sigma else "sdnn", "vth": 0 if sigma else _scalar(n, "vThMant", nwhere, 0, VTH_MAX),
            "message_bits": SDNN_MESSAGE_BITS if bits is None else bits}


def _input_layer(g: h5py.Group, key: str, plain: bool) -> tuple[tuple[int, ...], FixedLayer | None]:
    """The input shape and, where the input layer has a neuron (plain files), that layer."""
    where = f"layer {key} (input)"
    shape = _shape(g, where, (1, 3) if plain else (3,))
    if not plain or "neuron" not in g:
        return shape, None
    fields = _neuron(g, where, plain, is_input=True)
    b = _ints(g, "bias", where, 1).reshape(-1) if "bias" in g else np.zeros(1, np.int64)
    _check(b.size == 1, f"{where}: the input layer's bias must be one value")
    lim = (BIAS_MIN, BIAS_MAX) if fields["neuron"] == "cuba" else (-SDNN_BIAS_LIMIT, SDNN_BIAS_LIMIT - 1)
    _in_range(b, *lim, where, "bias mantissa")
    name = g.attrs.get("name", "input")
    return shape, FixedLayer(name=name if isinstance(name, str) else "input", op="input",
                             weight=np.zeros(0, np.int32), bias=np.full(shape[0], int(b[0]), np.int32),
                             in_shape=shape, out_shape=shape, **fields)


def _layer(g: h5py.Group, key: str, kind: str, in_shape: tuple[int, ...], flatten: bool,
           plain: bool = False) -> FixedLayer:
    where = f"layer {key} ({kind})"
    _check("delay" not in g, f"{where}: synaptic delays are not supported")
    rec = kind == "dense_rec"
    kind = "dense" if rec else kind
    out_shape = _shape(g, where, (1, 3) if kind == "dense" and plain else (1,) if kind == "dense" else (3,))
    role = g.attrs.get("role", "spiking")
    role = role.decode() if isinstance(role, bytes) else role
    _check(role in ("spiking", "readout"), f"{where}: role must be 'spiking' or 'readout'")
    name = g.attrs.get("name", f"layer{key}")
    name = name.decode(errors="replace") if isinstance(name, bytes) else name
    _check(isinstance(name, str) and 0 < len(name) <= 64, f"{where}: 'name' attribute must be a short string")
    if "weight" in g and isinstance(g["weight"], h5py.Dataset):
        wshape = tuple(int(s) for s in (g["weight"].shape or ()))
    else:
        raise _Bad(f"{where}: missing 'weight' dataset")
    if plain:  # as NetX reads them: a 1-D dense weight is one row per neuron, a conv kernel may end in (..., 1)
        if kind == "dense" and len(wshape) == 1:
            _check(wshape[0] % math.prod(out_shape) == 0, f"{where}: 1-D weight of {wshape[0]} values for "
                                                           f"{math.prod(out_shape)} neurons")
            wshape = (math.prod(out_shape), wshape[0] // math.prod(out_shape))
        elif kind != "dense" and len(wshape) == 5 and wshape[4] == 1:
            wshape = wshape[:4]
    _check(len(wshape) == (2 if kind == "dense" else 4),
           f"{where}: weight must be {'2' if kind == 'dense' else '4'}-D, got shape {tuple(wshape)}")
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups = 1
    exp = _scalar(g, "weightExponent", where, *EXPONENT_LIMITS) if "weightExponent" in g else 0
    if kind == "dense":
        fo, fi = wshape
        _check(len(in_shape) == 1, f"{where}: a dense layer needs a flat input (a flatten entry before it), "
                                   f"got {in_shape}")
        _check(fi == in_shape[0], f"{where}: weight expects {fi} inputs, previous layer gives {in_shape[0]}")
        _check(math.prod(out_shape) == fo and (len(out_shape) == 1 or out_shape[1:] == (1, 1)),
               f"{where}: shape {out_shape} does not match the weight's {fo} outputs")
        out_shape = (fo,)
        for k, want in (("inFeatures", fi), ("outFeatures", fo)):
            if k in g:
                got = _scalar(g, k, where, 0, 2 ** 62)
                _check(got == want, f"{where}: {k} = {got}, the weight gives {want}")
    else:
        _check(len(in_shape) == 3, f"{where}: needs a (C, H, W) input, previous layer gives {in_shape}")
        a, b, kh, kw = wshape
        _check(1 <= kh <= MAX_KERNEL and 1 <= kw <= MAX_KERNEL, f"{where}: kernel {kh}x{kw} outside 1..{MAX_KERNEL}")
        # per-axis values and groups only where Lava's Conv process builds the layer (plain NetX conv)
        per_axis = plain and kind == "conv" and not exp
        if per_axis:
            stride = _pair(g, "stride", where, 1, MAX_STRIDE, 1)
            padding = _pair(g, "padding", where, 0, MAX_KERNEL, 0)
            dilation = _pair(g, "dilation", where, 1, MAX_KERNEL, 1)
            groups = _scalar(g, "groups", where, 1, 1 << 16) if "groups" in g else 1
        else:
            stride = _scalar(g, "stride", where, 1, MAX_STRIDE)
            padding = _scalar(g, "padding", where, 0, max(kh, kw) - 1)
            if "dilation" in g:
                _check(_scalar(g, "dilation", where, 1, 1) == 1, f"{where}: dilation must be 1")
            if "groups" in g:
                _check(_scalar(g, "groups", where, 1, 1) == 1, f"{where}: groups must be 1")
        co, ci = (a, b * groups) if kind == "conv" else (b, a)
        _check(co % groups == 0, f"{where}: {co} output channels do not split into {groups} groups")
        _check(ci == in_shape[0], f"{where}: weight expects {ci} input channels, previous layer gives {in_shape[0]}")
        if "kernelSize" in g:
            ks = tuple(int(v) for v in _ints(g, "kernelSize", where, 2).reshape(-1))
            _check(ks in ((kh, kw), (kh,)) and (kh == kw or len(ks) == 2),
                   f"{where}: kernelSize {list(ks)} does not match the weight's {kh}x{kw}")
        for k, want in (("inChannels", ci), ("outChannels", co)):
            if k in g:
                got = _scalar(g, k, where, 0, 2 ** 62)
                _check(got == want, f"{where}: {k} = {got}, the weight gives {want}")
        _, h, w = in_shape
        (sh, sw), (ph, pw), (dh, dw) = (((v, v) if isinstance(v, int) else v) for v in (stride, padding, dilation))
        if kind == "conv":
            want = (co, (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
        else:
            want = (co, (h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
        _check(min(want[1:]) >= 1 and out_shape == want,
               f"{where}: shape {out_shape} does not match input {in_shape}, kernel {kh}x{kw}, stride {stride}, "
               f"padding {padding} (gives {want})")
    n_weights = math.prod(wshape) * (2 if rec else 1)
    _check(n_weights <= MAX_WEIGHTS, f"{where}: {n_weights} weights, at most {MAX_WEIGHTS} allowed")
    weight = _ints(g, "weight", where, MAX_WEIGHTS).reshape(wshape)
    _in_range(weight, WEIGHT_MIN, WEIGHT_MAX, where, "weight mantissas")
    _check(bool(np.all(weight % 2 == 0)), f"{where}: weight mantissas must be even (8-bit mantissa grid)")
    rec_weight = None
    if rec:
        rec_weight = _ints(g, "weight_rec", where, MAX_WEIGHTS).reshape(-1)
        _check(rec_weight.size == out_shape[0] ** 2, f"{where}: weight_rec must be {out_shape[0]}x{out_shape[0]}")
        rec_weight = rec_weight.reshape(out_shape[0], out_shape[0])
        _in_range(rec_weight, WEIGHT_MIN, WEIGHT_MAX, where, "weight_rec mantissas")
    fields = _neuron(g, where, plain, is_input=False)
    channels = out_shape[0]
    if "bias" in g:
        bias = _ints(g, "bias", where, MAX_NEURONS).reshape(-1)
        _check(bias.size == channels, f"{where}: bias has {bias.size} values, expected {channels} "
                                      f"({'one per output channel' if kind != 'dense' else 'one per neuron'})")
        lim = (BIAS_MIN, BIAS_MAX) if fields["neuron"] == "cuba" else (-SDNN_BIAS_LIMIT, SDNN_BIAS_LIMIT - 1)
        _in_range(bias, *lim, where, "bias mantissas")
    else:
        bias = np.zeros(channels, np.int64)
    _check(fields["neuron"] == "cuba" or not exp or not plain, f"{where}: weightExponent needs a CUBA neuron")
    return FixedLayer(name=name, op=kind, weight=weight.astype(np.int32), bias=bias.astype(np.int32),
                      in_shape=tuple(in_shape), out_shape=out_shape, stride=stride, padding=padding,
                      spiking=role != "readout", weight_exp=exp, flatten_input=flatten, dilation=dilation,
                      groups=groups, rec_weight=None if rec_weight is None else rec_weight.astype(np.int32), **fields)


def _layers(h: h5py.File, plain: bool = False, num_layers: int | None = None, skip_layers: int = 0,
            input_bits: int = INPUT_MESSAGE_BITS) -> tuple[tuple[int, ...], list[FixedLayer], int]:
    """``(input shape, layers, message bits of the network input)``; ``num_layers``/``skip_layers`` select
    the ``/layer`` groups as ``netx.hdf5.Network`` does (plain files)."""
    groups = _group(h, "layer", "file")
    keys = list(groups.keys())
    _check(0 < len(keys) <= MAX_LAYERS, f"/layer must hold 1 to {MAX_LAYERS} layers, holds {len(keys)}")
    _check(sorted(keys) == sorted(str(i) for i in range(len(keys))),
           "/layer entries must be named 0, 1, ..., n-1")
    first = _group(groups, "0", "/layer")
    kind0 = _type(first, "layer 0")
    _check(kind0 == "input" or plain, "layer 0 must be the input layer")
    shape: tuple[int, ...] = ()
    flatten = False
    built: list[tuple[int, FixedLayer]] = []
    neurons = synapses = 0
    for i in range(min(len(keys), len(keys) if num_layers is None else num_layers)):
        key = str(i)
        g = _group(groups, key, "/layer")
        kind = _type(g, f"layer {key}")
        if kind == "input":
            _check(i == 0, f"layer {key}: an input layer after the first")
            shape, layer = _input_layer(g, key, plain)
            if layer is not None:
                built.append((i, layer))
                neurons += layer.neurons
            continue
        if kind == "flatten":
            _check(not flatten, f"layer {key}: two flatten entries in a row")
            _check(bool(shape), f"layer {key}: a flatten entry before any layer")
            shape, flatten = (math.prod(shape),), True
            if "shape" in g:
                got = tuple(int(v) for v in _ints(g, "shape", f"layer {key} (flatten)", 4).reshape(-1))
                _check(math.prod(got) == shape[0] and (got in (shape, (shape[0], 1, 1)) or plain),
                       f"layer {key} (flatten): shape {list(got)}, the previous layer gives {shape[0]} values")
            continue
        _check(kind in ("conv", "convT", "dense") or (plain and kind == "dense_rec"),
               f"layer {key}: unsupported layer type {kind[:20]!r}")
        if not shape:  # a file without input layer (NetX: the input comes from Network.inp)
            _check(kind in ("dense", "dense_rec") and "weight" in g and isinstance(g["weight"], h5py.Dataset),
                   f"layer {key}: the first layer needs an input layer with its shape")
            ws = g["weight"].shape or ()
            outs = _shape(g, f"layer {key} ({kind})", (1, 3))
            _check(len(ws) in (1, 2), f"layer {key}: weight must be 1-D or 2-D")
            shape = (int(ws[1]) if len(ws) == 2 else max(1, int(ws[0]) // math.prod(outs)),)
        layer = _layer(g, key, kind, shape, flatten, plain)
        neurons += layer.neurons
        _check(neurons <= MAX_NEURONS, f"layer {key}: more than {MAX_NEURONS} neurons in all")
        synapses += layer.synapses
        _check(synapses <= MAX_SYNAPSES, f"layer {key}: more than {MAX_SYNAPSES} unrolled synapses in all")
        built.append((i, layer))
        shape, flatten = layer.out_shape, False
    _check(not flatten, "the file ends with a flatten entry")
    for i, layer in built:
        if i < skip_layers:  # NetX: skipped layers are left out; the network input replaces their output
            input_bits = layer.message_bits
    layers = [layer for i, layer in built if i >= skip_layers]
    _check(bool(layers) and any(ly.op != "input" for ly in layers), "no conv, convT or dense layer")
    input_shape = layers[0].in_shape
    if not plain:
        _check(not layers[-1].spiking, "the last layer must be the non-spiking readout (role 'readout')")
        for layer in layers[:-1]:
            _check(layer.spiking, f"layer {layer.name}: only the last layer may be the readout")
    return input_shape, layers, input_bits


# --- metadata ----------------------------------------------------------------------------------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite_tree(v: Any, where: str, depth: int = 0) -> None:
    _check(depth <= 16, f"{where}: nested too deep")
    if isinstance(v, float):
        _check(math.isfinite(v), f"{where}: holds NaN or infinity")
    elif isinstance(v, dict):
        for k, x in v.items():
            _finite_tree(x, f"{where}.{k}", depth + 1)
    elif isinstance(v, list):
        for x in v:
            _finite_tree(x, where, depth + 1)


def _metadata(h: h5py.File, n_layers: int, require_deploy: bool) -> dict[str, Any]:
    g = _group(h, "loihi_hybrid", "file")
    fmt = g.attrs.get("format")
    fmt = fmt.decode(errors="replace") if isinstance(fmt, bytes) else fmt
    _check(isinstance(fmt, str) and fmt == FORMAT,
           "no /loihi_hybrid metadata (a plain NetX file? deploy needs a loihi-hybrid export)")
    version = g.attrs.get("format_version")
    _check(isinstance(version, (int, np.integer)) and not isinstance(version, (bool, np.bool_)),
           "/loihi_hybrid: format_version must be a whole number")
    _check(1 <= int(version), f"/loihi_hybrid: format_version {int(version)} is not valid")
    _check(int(version) <= FORMAT_VERSION,
           f"format version {int(version)} is newer than this loihi-hybrid ({FORMAT_VERSION})")
    text = g.attrs.get("metadata")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _Bad("metadata is not UTF-8 text") from None
    _check(isinstance(text, str), "/loihi_hybrid: missing 'metadata' (JSON text)")
    _check(len(text) <= MAX_METADATA_CHARS, f"metadata longer than {MAX_METADATA_CHARS} characters")
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as err:
        raise _Bad(f"metadata is not valid JSON: {str(err)[:80]}") from None
    _check(isinstance(meta, dict), "metadata must be a JSON object")
    _check(isinstance(meta.get("task"), str) and 0 < len(meta["task"]) <= 64,
           "metadata 'task' must be a network name")
    steps = meta.get("steps")
    _check(_is_int(steps), f"metadata 'steps' must be a whole number, got {str(steps)[:40]}")
    _check(1 <= steps <= MAX_STEPS, f"metadata 'steps' = {steps} is outside [1, {MAX_STEPS}]")
    warmup = meta.get("warmup")
    _check(_is_int(warmup), f"metadata 'warmup' must be a whole number, got {str(warmup)[:40]}")
    _check(0 <= warmup < steps, f"metadata 'warmup' = {warmup} must be in [0, steps = {steps})")
    levels = meta.get("input_levels")
    _check(_is_int(levels) and 1 <= levels <= INPUT_LEVELS,
           f"metadata 'input_levels' must be a whole number in [1, {INPUT_LEVELS}], got {str(levels)[:40]}")
    scales = meta.get("layer_scales")
    _check(isinstance(scales, list) and len(scales) == n_layers,
           f"metadata 'layer_scales' must list one scale per layer ({n_layers})")
    _check(all(isinstance(k, (int, float)) and not isinstance(k, bool) and math.isfinite(k)
               and SCALE_LIMITS[0] <= k <= SCALE_LIMITS[1] for k in scales),
           f"metadata 'layer_scales' must be numbers in [{SCALE_LIMITS[0]:g}, {SCALE_LIMITS[1]:g}]")
    names = meta.get("layer_names")
    _check(names is None or (isinstance(names, list) and len(names) == n_layers
                             and all(isinstance(s, str) for s in names)),
           f"metadata 'layer_names' must list one name per layer ({n_layers})")
    for key in ("config", "decoding", "preprocessing"):
        if key in meta or require_deploy:
            _check(isinstance(meta.get(key), dict), f"metadata '{key}' must be an object")
    if "config" in meta:
        from ..config import config_from_dict  # noqa: PLC0415 (only needed for full exports)

        try:
            cfg = config_from_dict(meta["config"], "metadata 'config'")
        except InputError as err:
            raise _Bad(err.message if err.path is None else str(err)) from None
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            raise _Bad(f"metadata 'config' cannot be read: {str(err)[:80]}") from None
        _check(meta["task"] in (cfg.task,), f"metadata 'config' is for {cfg.task!r}, the file for {meta['task']!r}")
    for key in ("decoding", "preprocessing"):
        if key in meta:
            _finite_tree(meta[key], f"metadata '{key}'")
    if "preprocessing" in meta:
        src = meta["preprocessing"].get("data_source")
        _check(src is None or isinstance(src, str), "metadata 'preprocessing.data_source' must be a string")
    return meta


def check_decoding(path: str | Path, decoding: Any, keys: tuple[str, ...] | list[str],
                   readout_shape: tuple[int, ...]) -> None:
    """The task's decoding parameters ``keys`` in an export's ``decoding`` metadata: present, finite numbers
    with ``|x| <= MAX_DECODING_VALUE``, broadcastable against the decoded readout ``(N, *readout_shape)``.
    For callers that know the task (``workflows.deploy.open_export``); raises ``InputError(path, ...)``."""
    if not isinstance(decoding, dict):
        raise InputError(path, "metadata 'decoding' must be an object")
    for k in keys:
        where = f"metadata 'decoding.{k}'"
        if k not in decoding:
            raise InputError(path, f"{where} is missing")
        v = decoding[k]
        try:
            a = np.asarray(v)
        except (TypeError, ValueError):
            a = np.asarray(None)
        if a.dtype.kind not in "iuf" or a.size == 0:
            raise InputError(path, f"{where} must be a number or a list of numbers")
        a = a.astype(np.float64)
        if a.size > MAX_NEURONS or not np.all(np.isfinite(a)) or np.any(np.abs(a) > MAX_DECODING_VALUE):
            raise InputError(path, f"{where} must hold finite numbers within +-{MAX_DECODING_VALUE:g}")
        try:
            np.broadcast_shapes(a.shape, (1, *readout_shape))
        except ValueError:
            raise InputError(path, f"{where} has shape {a.shape}, the readout gives {tuple(readout_shape)}") from None


def _plain_steps(h: h5py.File) -> int:
    """``simulation/tSample`` of a plain NetX file (0: not given, the caller chooses)."""
    sim = h.get("simulation")
    if not isinstance(sim, h5py.Group) or "tSample" not in sim:
        return 0
    return _scalar(sim, "tSample", "simulation", 1, MAX_STEPS)


def load_checked(h: h5py.File, require_deploy: bool = False, num_layers: int | None = None, skip_layers: int = 0,
                 spike_exp: int = SPIKE_EXP, input_message_bits: int | None = None
                 ) -> tuple[FixedNetwork, dict[str, Any]]:
    """The checked network and metadata of an open NetX file; raises :class:`_Bad` (see :func:`load`).

    A file without ``/loihi_hybrid`` is a plain NetX file: metadata ``{}``, ``steps`` from
    ``simulation/tSample`` (else 0), and ``num_layers``, ``skip_layers``, ``spike_exp``,
    ``input_message_bits`` mean what they mean to ``netx.hdf5.Network`` (default input: binary spikes)."""
    check_structure(h)
    plain = "loihi_hybrid" not in h
    _check(not plain or not require_deploy,
           "no /loihi_hybrid metadata (a plain NetX file): it has no task to evaluate; run raw input arrays "
           "through it (deploy.py --inputs FILE.npy)")
    _check(num_layers is None or num_layers >= 1, "num_layers must be >= 1")
    _check(0 <= skip_layers and 0 <= spike_exp <= 16, "skip_layers must be >= 0 and spike_exp in [0, 16]")
    bits = (0 if plain else INPUT_MESSAGE_BITS) if input_message_bits is None else int(input_message_bits)
    input_shape, layers, bits = _layers(h, plain, num_layers if plain else None, skip_layers if plain else 0, bits)
    if plain:
        meta: dict[str, Any] = {}
        steps, warmup = _plain_steps(h), 0
    else:
        meta = _metadata(h, len(layers), require_deploy)
        steps, warmup = int(meta["steps"]), int(meta["warmup"])
    neurons = sum(ly.neurons for ly in layers)
    _check(neurons * max(steps, 1) <= MAX_NEURON_STEPS,
           f"{neurons} neurons x {steps} steps exceeds {MAX_NEURON_STEPS} neuron updates per sample")
    for layer, k in zip(layers, meta.get("layer_scales", [1.0] * len(layers))):
        layer.scale = float(k)
    once = meta.get("input_once", False)
    _check(isinstance(once, bool), f"metadata 'input_once' must be true or false, got {str(once)[:40]}")
    _check(not once or (layers[0].neuron == "cuba" and layers[0].i_decay == 0)
           or (layers[0].neuron == "sdnn" and layers[0].op != "input"),
           "metadata 'input_once' needs a first CUBA layer with iDecay 0 (its current holds the input) or a "
           "sigma-delta one (its sigma holds it)")
    net = FixedNetwork(layers=layers, input_shape=input_shape, steps=steps, warmup=warmup,
                       input_levels=int(meta.get("input_levels", INPUT_LEVELS)), meta=meta, input_bits=bits,
                       spike_exp=spike_exp, input_once=once)
    return net, meta


def load(h: h5py.File, path: str | Path, require_deploy: bool = False, **netx_args: Any
         ) -> tuple[FixedNetwork, dict[str, Any]]:
    """:func:`load_checked` with every problem as ``InputError(path, ...)``."""
    try:
        return load_checked(h, require_deploy, **netx_args)
    except _Bad as err:
        raise InputError(path, " ".join(str(err).split())) from None
