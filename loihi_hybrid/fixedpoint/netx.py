"""NetX HDF5 files (``*.net``) for a :class:`FixedNetwork`, in the schema lava-dl's SLAYER blocks write.

``/layer/<i>`` groups in order: an ``input`` layer with the input shape ``(C, H, W)``; ``conv`` and
``dense`` layers (weights in PyTorch layout, ``bias`` = bias mantissa, ``neuron/`` = CUBA parameters
``iDecay``, ``vDecay``, ``vThMant``); a ``flatten`` entry before the first dense layer. The readout is
a CUBA layer with ``iDecay = 4096``, ``vDecay = 0`` and the largest threshold: its voltage integrates.

Two extensions, documented in each such layer's ``extension`` attribute, which plain NetX 0.6 cannot load
(the project's Lava adapter, ``loihi_hybrid.backends.lava.network.HybridNetwork``, can):
- ``convT``: a transposed convolution (weight ``(Ci, Co, kh, kw)``), built as a Lava ``Sparse``
  connection of the unrolled kernel;
- a ``weightExponent`` dataset on a ``conv``/``dense`` layer: the synaptic sum is shifted by it (Loihi's
  weight exponent; negative is a right shift). NetX 0.6 ignores it for ``conv``, so such layers are built
  as ``Sparse`` with that exponent.

``/loihi_hybrid`` holds what the project needs to use the file alone (JSON in attribute ``metadata``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError
from .format import FixedLayer, FixedNetwork

FORMAT = "loihi-hybrid-netx"
FORMAT_VERSION = 1
EXTENSIONS = {
    "convT": "transposed convolution; load with loihi_hybrid.backends.lava.network.HybridNetwork, which builds it "
             "as a Lava Sparse connection of the unrolled kernel (rows/columns in Lava's (x, y, c) order)",
    "weightExponent": "synaptic sums are shifted by weightExponent (Loihi weight exponent, negative = right "
                      "shift); NetX 0.6 ignores it for conv, HybridNetwork builds such a layer as Sparse",
}


def _str(g: h5py.Group, key: str, value: str) -> None:
    g.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def _write_neuron(g: h5py.Group, layer: FixedLayer) -> None:
    n = g.create_group("neuron")
    _str(n, "type", "CUBA")
    n.create_dataset("iDecay", data=layer.i_decay)
    n.create_dataset("vDecay", data=layer.v_decay)
    n.create_dataset("vThMant", data=layer.vth)
    n.create_dataset("refDelay", data=1)
    n.create_dataset("gradedSpike", data=False)


def write_netx(net: FixedNetwork, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``net`` and ``metadata`` (JSON-serialisable) to ``path``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with h5py.File(tmp, "w") as h:
        layers = h.create_group("layer")
        idx = 0

        def group() -> h5py.Group:
            nonlocal idx
            g = layers.create_group(str(idx))
            idx += 1
            return g

        g = group()
        _str(g, "type", "input")
        g.create_dataset("shape", data=np.array(net.input_shape))
        for layer in net.layers:
            if layer.flatten_input:
                g = group()
                _str(g, "type", "flatten")
                g.create_dataset("shape", data=np.array([int(np.prod(layer.in_shape)), 1, 1]))
            g = group()
            _str(g, "type", layer.op)
            g.attrs["name"] = layer.name
            g.attrs["role"] = "spiking" if layer.spiking else "readout"
            g.create_dataset("shape", data=np.array(layer.out_shape))
            if layer.op == "dense":
                g.create_dataset("inFeatures", data=layer.weight.shape[1])
                g.create_dataset("outFeatures", data=layer.weight.shape[0])
            else:
                ci, co = (layer.weight.shape[1], layer.weight.shape[0]) if layer.op == "conv" else layer.weight.shape[:2]
                g.create_dataset("inChannels", data=ci)
                g.create_dataset("outChannels", data=co)
                g.create_dataset("kernelSize", data=np.array(layer.weight.shape[2:]))
                g.create_dataset("stride", data=np.array([layer.stride, layer.stride]))
                g.create_dataset("padding", data=np.array([layer.padding, layer.padding]))
                g.create_dataset("dilation", data=np.array([1, 1]))
                g.create_dataset("groups", data=1)
            g.create_dataset("weight", data=layer.weight.astype(np.int16), compression="gzip")
            # NetX broadcasts a per-channel bias over conv outputs; dense layers take one per neuron
            g.create_dataset("bias", data=layer.bias.astype(np.int32))
            if layer.weight_exp:
                g.create_dataset("weightExponent", data=layer.weight_exp)
                g.attrs["extension"] = EXTENSIONS["weightExponent"]
            if layer.op == "convT":
                g.attrs["extension"] = EXTENSIONS["convT"]
            _write_neuron(g, layer)
        meta = h.create_group("loihi_hybrid")
        meta.attrs["format"] = FORMAT
        meta.attrs["format_version"] = FORMAT_VERSION
        meta.attrs["metadata"] = json.dumps({**metadata, "steps": net.steps, "warmup": net.warmup,
                                             "input_levels": net.input_levels,
                                             "layer_scales": [ly.scale for ly in net.layers],
                                             "layer_names": [ly.name for ly in net.layers]}, default=float)
    tmp.replace(path)
    return path


def _int(g: h5py.Group, key: str, where: str) -> int:
    if key not in g:
        raise KeyError(f"{where}: missing '{key}'")
    return int(np.asarray(g[key][()]).reshape(-1)[0])


def _type(g: h5py.Group) -> str:
    v = g["type"][()]
    v = v[0] if np.ndim(v) else v
    return v.decode("ascii") if isinstance(v, bytes) else str(v)


def read_netx(path: str | Path) -> tuple[FixedNetwork, dict[str, Any]]:
    """Load a file written by :func:`write_netx`; a missing, truncated or foreign file raises :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "exported network not found")
    try:
        with h5py.File(path, "r") as h:
            return _read(h)
    except InputError:
        raise
    except OSError as err:
        raise InputError(path, f"not a readable HDF5 file (truncated or corrupt?): {err.args[0] if err.args else err}")
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as err:
        raise InputError(path, f"not a loihi-hybrid NetX export: {err}")


def _read(h: h5py.File) -> tuple[FixedNetwork, dict[str, Any]]:
    if "loihi_hybrid" not in h or h["loihi_hybrid"].attrs.get("format") != FORMAT:
        raise KeyError("no /loihi_hybrid metadata (a plain NetX file? deploy needs a loihi-hybrid export)")
    version = int(h["loihi_hybrid"].attrs["format_version"])
    if version > FORMAT_VERSION:
        raise ValueError(f"format version {version} is newer than this loihi-hybrid ({FORMAT_VERSION})")
    meta = json.loads(h["loihi_hybrid"].attrs["metadata"])
    groups = h["layer"]
    order = sorted(groups.keys(), key=int)
    if not order or _type(groups[order[0]]) != "input":
        raise ValueError("layer 0 must be the input layer")
    input_shape = tuple(int(v) for v in groups[order[0]]["shape"][()])
    layers: list[FixedLayer] = []
    shape: tuple[int, ...] = input_shape
    flatten = False
    for key in order[1:]:
        g = groups[key]
        kind = _type(g)
        where = f"layer {key} ({kind})"
        if kind == "flatten":
            flatten, shape = True, (int(np.prod(shape)),)
            continue
        if kind not in ("conv", "convT", "dense"):
            raise ValueError(f"{where}: unsupported layer type")
        w = np.asarray(g["weight"][()], dtype=np.int32)
        out_shape = tuple(int(v) for v in g["shape"][()])
        n = g["neuron"]
        stride = _int(g, "stride", where) if kind != "dense" else 1
        padding = _int(g, "padding", where) if kind != "dense" else 0
        expected_in = {"conv": lambda: w.shape[1], "convT": lambda: w.shape[0], "dense": lambda: w.shape[1]}[kind]()
        got_in = shape[0] if kind != "dense" else int(np.prod(shape))
        if expected_in != got_in:
            raise ValueError(f"{where}: weight expects {expected_in} inputs, previous layer gives {got_in}")
        layers.append(FixedLayer(
            name=str(g.attrs.get("name", f"layer{key}")), op=kind, weight=w,
            bias=np.asarray(g["bias"][()], dtype=np.int32) if "bias" in g else np.zeros(out_shape[0], np.int32),
            in_shape=shape, out_shape=out_shape, stride=stride, padding=padding,
            i_decay=_int(n, "iDecay", where), v_decay=_int(n, "vDecay", where), vth=_int(n, "vThMant", where),
            spiking=g.attrs.get("role", "spiking") != "readout",
            weight_exp=_int(g, "weightExponent", where) if "weightExponent" in g else 0,
            flatten_input=flatten))
        shape, flatten = out_shape, False
    if not layers or layers[-1].spiking:
        raise ValueError("the last layer must be the non-spiking readout")
    for layer, k in zip(layers, meta["layer_scales"], strict=True):
        layer.scale = float(k)
    net = FixedNetwork(layers=layers, input_shape=input_shape, steps=int(meta["steps"]),
                       warmup=int(meta["warmup"]), input_levels=int(meta["input_levels"]), meta=meta)
    return net, meta
