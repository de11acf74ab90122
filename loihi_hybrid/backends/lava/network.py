"""``HybridNetwork``: NetX's HDF5 network loader, extended to the layers loihi-hybrid exports.

Standard ``conv``/``dense`` layers are built by NetX itself. ``convT`` layers, and ``conv`` layers that
carry a ``weightExponent`` (which Lava's ``Conv`` process ignores), become NetX ``Dense`` blocks on a
``Sparse`` synapse holding the unrolled kernel, with the exponent. Everything runs as Lava processes
(no host computation inside the network). Each layer's output is exposed in Lava's (x, y, c) shape.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...compat import lava_py311

lava_py311.apply()

from lava.lib.dl import netx  # noqa: E402
from lava.lib.dl.netx.blocks.models import AbstractPyBlockModel  # noqa: E402
from lava.lib.dl.netx.blocks.process import Dense as DenseBlock  # noqa: E402
from lava.magma.core.decorator import implements  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402

from .unroll import unrolled  # noqa: E402


def _chw(shape: Any) -> tuple[int, int, int]:
    s = tuple(int(v) for v in np.asarray(shape).reshape(-1))
    return s if len(s) == 3 else (s[0], 1, 1)


class HybridNetwork(netx.hdf5.Network):
    """``netx.hdf5.Network`` that also builds ``convT`` and exponent-``conv`` layers (as ``Sparse``)."""

    def _create(self) -> list:
        cfg = self.net_config["layer"]
        layers: list = []
        self.layer_names: list[str] = []
        self.layer_shapes: list[tuple[int, ...]] = []  # (C, H, W) or (F,)
        self.layer_outputs: list = []                      # each layer's output in Lava's (x, y, c) shape
        bits = self.input_message_bits
        offset = self.reset_offset + 1                 # NetX convention: hardware time starts at 1
        shape_chw: tuple[int, ...] = ()
        pending_flatten = False
        prev_port = None
        self.net_str += self._table_str(header=True) + "\n"
        for i in range(len(cfg)):
            g = cfg[i]
            kind = g["type"]
            if kind == "input":
                shape_chw = _chw(g.f["shape"][()])
                self.input_shape = tuple(shape_chw[::-1])
                continue
            if kind == "flatten":
                pending_flatten = True
                continue
            exp = int(g.f["weightExponent"][()]) if "weightExponent" in g.keys() else 0
            if kind == "conv" and exp == 0:
                in_shape = self.input_shape if not layers else tuple(self.layer_shapes[-1][::-1])
                block, table = self.create_conv(layer_config=g, input_shape=in_shape, input_message_bits=bits,
                                                reset_interval=self.reset_interval, reset_offset=offset)
            elif kind == "dense" and exp == 0:
                block, table = self.create_dense(layer_config=g, input_message_bits=bits,
                                                 reset_interval=self.reset_interval, reset_offset=offset)
            elif kind in ("conv", "convT", "dense"):
                block, table = self._create_sparse(g, kind, shape_chw, exp, bits, offset)
            else:
                raise ValueError(f"layer {i}: unsupported layer type {kind!r}")
            out_shape = tuple(int(v) for v in np.asarray(g.f["shape"][()]).reshape(-1))
            out_port = block.out if len(out_shape) == 1 or kind == "conv" and exp == 0 \
                else block.out.reshape(tuple(out_shape[::-1]))
            src = self.inp_port_source(prev_port, pending_flatten, block)
            if src is not None:
                src.connect(block.inp)
            layers.append(block)
            attrs = g.f.attrs if hasattr(g, "f") else {}
            self.layer_names.append(str(attrs.get("name", f"layer{i}")))
            self.layer_shapes.append(out_shape)
            self.layer_outputs.append(out_port)
            prev_port, pending_flatten = out_port, False
            shape_chw = out_shape if len(out_shape) == 3 else (out_shape[0], 1, 1)
            bits = block.output_message_bits
            offset += 1
            self.net_str += table + "\n"
        self.net_str = self.net_str[:-1]
        return layers

    @staticmethod
    def inp_port_source(prev_port: Any, flatten: bool, block: Any) -> Any:
        """The port that feeds ``block`` (None for the first layer, fed through ``Network.inp``)."""
        if prev_port is None:
            return None
        if flatten:  # C-order flatten of (C, H, W), as SLAYER/NetX: transpose Lava's (x, y, c) first
            return prev_port.transpose([2, 1, 0]).flatten()
        if len(block.inp.shape) == 1 and len(prev_port.shape) != 1:
            return prev_port.flatten()
        return prev_port

    def _create_sparse(self, g: Any, kind: str, in_chw: tuple[int, ...], exp: int, bits: int,
                       offset: int) -> tuple[DenseBlock, str]:
        weight = np.asarray(g.f["weight"][()])
        out_shape = tuple(int(v) for v in np.asarray(g.f["shape"][()]).reshape(-1))
        if kind == "dense":
            matrix = weight.reshape(out_shape[0], -1)
            bias = np.asarray(g.f["bias"][()]).reshape(-1) if "bias" in g.keys() else None
        else:
            stride = int(np.asarray(g.f["stride"][()]).reshape(-1)[0])
            padding = int(np.asarray(g.f["padding"][()]).reshape(-1)[0])
            matrix = unrolled(kind, weight, tuple(in_chw), out_shape, stride, padding)
            bias = None
            if "bias" in g.keys():  # per channel -> per neuron in (x, y, c) order
                b = np.asarray(g.f["bias"][()]).reshape(-1)
                bias = np.broadcast_to(b, (out_shape[2], out_shape[1], out_shape[0])).reshape(-1).copy()
        neuron = self.get_neuron_params(g["neuron"], reset_interval=self.reset_interval, reset_offset=offset)
        block = DenseBlock(shape=(int(np.prod(out_shape)),), neuron_params=neuron, weight=matrix,
                           weight_exponent=exp, num_weight_bits=8, input_message_bits=bits,
                           sparse_synapse=True, bias=bias)
        table = self._table_str(type_str=f"Sparse({kind})", width=out_shape[-1] if len(out_shape) == 3 else 1,
                                height=out_shape[1] if len(out_shape) == 3 else 1, channel=out_shape[0])
        return block, table


@implements(proc=HybridNetwork, protocol=LoihiProtocol)
class PyHybridNetworkModel(AbstractPyBlockModel):
    """Hierarchical model: the network is its layer processes (as NetX's ``PyNetworkModel``)."""
