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

Never silently wrong in plain NetX: a file either runs there spike for spike as in ``sim`` (no extension;
``export.py`` folds the first layer's exponent into the input levels where that is all it takes:
:mod:`.plain`) or plain NetX fails to load it. ``convT`` raises ``NotImplementedError`` there by itself. A
``conv`` layer with a ``weightExponent`` in a file without ``convT`` is written without ``dilation`` and
``groups``, which only NetX's own ``Conv`` reads (``HybridNetwork`` builds the layer as ``Sparse``, and the
reader takes 1 for both), so plain NetX stops with ``KeyError: ... 'dilation' doesn't exist``; so is the
first layer of an ``input_once`` file, whose image plain NetX users would send every step. A ``dense``
layer with an exponent has no such guard (NetX reads nothing there that the project does not), so
:func:`write_netx` refuses to write one in a file without ``convT``.

``/loihi_hybrid`` holds what the project needs to use the file alone (JSON in attribute ``metadata``).
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputError
from ..fsio import atomic_write
from .format import FixedLayer, FixedNetwork
from .validate import FORMAT, FORMAT_VERSION, load
EXTENSIONS = {
    "convT": "transposed convolution; load with loihi_hybrid.backends.lava.network.HybridNetwork, which builds it "
             "as a Lava Sparse connection of the unrolled kernel (rows/columns in Lava's (x, y, c) order)",
    "weightExponent": "synaptic sums are shifted by weightExponent (Loihi weight exponent, negative = right "
                      "shift); NetX 0.6 ignores it for conv, HybridNetwork builds such a layer as Sparse",
    "plainNetxGuard": "written without dilation and groups so that plain lava-dl NetX, which would ignore the "
                      "weight exponent (or, for input_once, be sent the image every step) and run the layer wrong, "
                      "stops with KeyError 'dilation'",
}


def plain_netx_guarded(net: FixedNetwork) -> set[str]:
    """Names of the layers written without ``dilation``/``groups`` so that plain NetX refuses the file (see
    the module doc); raises ``ValueError`` for a file that plain NetX would run wrong and cannot be stopped."""
    if any(ly.op == "convT" for ly in net.layers):
        return set()  # plain NetX stops at the convT layer
    exp = [ly for ly in net.layers if ly.weight_exp]
    if net.input_once:  # a plain NetX user sends the image every step: the held first-layer current would add up
        if net.layers[0].op != "conv":
            raise ValueError(f"layer {net.layers[0].name}: an input_once file with a dense first layer would run "
                             "wrong in plain lava-dl NetX (fed every step), and nothing in the file can stop it")
        # the guard on the first layer stops plain NetX before any later layer, dense ones with exponents included
        return {net.layers[0].name} | {ly.name for ly in exp if ly.op == "conv"}
    dense = [ly.name for ly in exp if ly.op != "conv"]
    if dense:
        raise ValueError(f"layers {', '.join(dense)}: a dense layer with a weight exponent would run wrong in plain "
                         "lava-dl NetX, and nothing in the file can stop it: export the plain form (export.py "
                         "folds a first layer's exponent into the input levels)")
    return {ly.name for ly in exp}


def _str(g: h5py.Group, key: str, value: str) -> None:
    g.create_dataset(key, (1,), "S10", [value.encode("ascii")])


def _write_neuron(g: h5py.Group, layer: FixedLayer) -> None:
    n = g.create_group("neuron")
    if layer.neuron == "sdnn":  # NetX's SigmaDelta (ReLU), as lava-dl's sigma_delta blocks write it
        _str(n, "type", "SDNN")
        _str(n, "activation", "relu")
        n.create_dataset("vThMant", data=layer.vth)  # 16-bit messages: NetX's default for SDNN
        return
    _str(n, "type", "CUBA")
    n.create_dataset("iDecay", data=layer.i_decay)
    n.create_dataset("vDecay", data=layer.v_decay)
    n.create_dataset("vThMant", data=layer.vth)
    n.create_dataset("refDelay", data=1)
    n.create_dataset("gradedSpike", data=False)


def write_netx(net: FixedNetwork, path: str | Path, metadata: dict[str, Any]) -> Path:
    """Write ``net`` and ``metadata`` (JSON-serialisable) to ``path``; returns the path.

    The HDF5 file is built in memory, checked as :func:`read_netx` would check it, and then written with
    :func:`loihi_hybrid.fsio.atomic_write` (temporary file beside ``path``, fsync, rename): HDF5 never
    writes to the disk itself, and a full disk leaves the previous ``path`` as it was and no temporary
    file, with one line (:class:`InputError`)."""
    path = Path(path)
    data = netx_bytes(net, metadata)
    with h5py.File(io.BytesIO(data), "r") as h:
        load(h, path)  # never write a file that read_netx would refuse
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def netx_bytes(net: FixedNetwork, metadata: dict[str, Any]) -> bytes:
    """The NetX HDF5 file of ``net`` and ``metadata``, built in memory."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h:
        layers = h.create_group("layer")
        idx = 0

        def group() -> h5py.Group:
            nonlocal idx
            g = layers.create_group(str(idx))
            idx += 1
            return g

        guarded = plain_netx_guarded(net)
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
                if layer.name not in guarded:
                    g.create_dataset("dilation", data=np.array([1, 1]))
                    g.create_dataset("groups", data=1)
            g.create_dataset("weight", data=layer.weight.astype(np.int16), compression="gzip")
            # NetX broadcasts a per-channel bias over conv outputs; dense layers take one per neuron
            g.create_dataset("bias", data=layer.bias.astype(np.int32))
            if layer.weight_exp:
                g.create_dataset("weightExponent", data=layer.weight_exp)
                g.attrs["extension"] = EXTENSIONS["weightExponent"] + (
                    "; " + EXTENSIONS["plainNetxGuard"] if layer.name in guarded else "")
            if layer.op == "convT":
                g.attrs["extension"] = EXTENSIONS["convT"]
            _write_neuron(g, layer)
        meta = h.create_group("loihi_hybrid")
        meta.attrs["format"] = FORMAT
        meta.attrs["format_version"] = FORMAT_VERSION
        content = {**metadata, "steps": net.steps, "warmup": net.warmup, "input_levels": net.input_levels,
                   "layer_scales": [ly.scale for ly in net.layers], "layer_names": [ly.name for ly in net.layers]}
        content.pop("input_once", None)
        if net.input_once:  # only then: files of the every-step encoding stay as they were
            content["input_once"] = True
        meta.attrs["metadata"] = json.dumps(content, default=float)
    return buf.getvalue()


def is_plain_netx(path: str | Path) -> bool:
    """Whether ``path`` lacks the ``/loihi_hybrid`` metadata (a plain NetX file, e.g. lava-dl's). Only the
    top level is looked at; a file HDF5 cannot open gets :func:`read_netx`'s one-line error."""
    try:
        with h5py.File(path, "r") as h:
            return "loihi_hybrid" not in h
    except Exception:  # noqa: BLE001 (h5py raises OSError, ValueError, RuntimeError, KeyError on damaged files)
        return not read_netx(path)[1]  # the full reader names what is wrong (one line) or decides


def read_netx(path: str | Path, require_deploy: bool = False, **netx_args: Any) -> tuple[FixedNetwork, dict[str, Any]]:
    """Load a file written by :func:`write_netx`, or a plain NetX file as lava-dl writes it (metadata ``{}``),
    checked by :mod:`.validate` (register ranges, shapes, metadata, size caps, no links to other files); any
    problem raises :class:`InputError` (one line).

    ``require_deploy``: the metadata must also hold ``config``, ``decoding`` and ``preprocessing`` (what
    deploy needs; the exports of ``export.py`` do). ``netx_args``: ``num_layers``, ``skip_layers``,
    ``spike_exp``, ``input_message_bits`` as ``netx.hdf5.Network`` takes them (plain files)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "exported network not found")
    try:
        with h5py.File(path, "r") as h:
            return load(h, path, require_deploy, **netx_args)
    except InputError:
        raise
    except OSError as err:
        reason = " ".join(str(err.args[0] if err.args else err).split())[:200]
        raise InputError(path, f"not a readable HDF5 file (truncated or corrupt?): {reason}") from None
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        reason = " ".join(str(err).split())[:200]
        raise InputError(path, f"not a loihi-hybrid NetX export: {reason}") from None
