"""``HybridNetwork``: NetX's HDF5 network loader, extended to the layers loihi-hybrid exports.

A drop-in for ``netx.hdf5.Network``: the same arguments (``num_layers``, ``skip_layers``,
``input_message_bits``, ``input_shape``, ``reset_interval``, ``reset_offset``, ``spike_exp``,
``sparse_fc_layer``) with the same meaning, and NetX's own blocks for every layer it can build (input
layers with neurons, conv with per-axis stride/padding/dilation, dense, ``dense_rec``, SDNN neurons).
On top, ``convT`` layers and ``conv``/``dense`` layers that carry a ``weightExponent`` (which Lava's
``Conv`` process ignores) become NetX ``Dense`` blocks on a ``Sparse`` synapse holding the unrolled kernel,
with the exponent. Everything runs as Lava processes (no host computation inside the network). Each
layer's output is exposed in Lava's (x, y, c) shape (``layer_outputs``), with its (C, H, W) or (F,) shape
(``layer_shapes``) and name (``layer_names``).
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


def _file_shape(g: Any, kind: str) -> tuple[int, ...]:
    """A layer's output shape as loihi-hybrid uses it: (C, H, W), or (F,) for dense layers."""
    s = tuple(int(v) for v in np.asarray(g.f["shape"][()]).reshape(-1))
    return (int(np.prod(s)),) if kind in ("dense", "dense_rec") or len(s) == 1 else s


class HybridNetwork(netx.hdf5.Network):
    """``netx.hdf5.Network`` that also builds ``convT`` and exponent-``conv`` layers (as ``Sparse``)."""

    def _create(self) -> list:
        cfg = self.net_config["layer"]
        n = len(cfg) if self.num_layers is None else min(len(cfg), self.num_layers)
        layers: list = []
        self.layer_names: list[str] = []
        self.layer_shapes: list[tuple[int, ...]] = []  # (C, H, W) or (F,)
        self.layer_outputs: list = []                      # each layer's output in Lava's (x, y, c) shape
        bits = self.input_message_bits
        offset = self.reset_offset + 1                 # NetX convention: hardware time starts at 1
        reset = self.reset_interval
        shape_chw: tuple[int, ...] = tuple(self.input_shape[::-1]) if self.input_shape else ()
        flatten = False
        prev_port = None
        self.net_str += self._table_str(header=True) + "\n"
        for i in range(n):
            g = cfg[i]
            kind = g["type"]
            keep = i >= self.skip_layers
            if kind == "flatten":
                flatten = True
                continue
            exp = int(g.f["weightExponent"][()]) if "weightExponent" in g.keys() else 0
            # a conv written without dilation carries the project's plain-NetX guard: build it as Sparse too
            native = kind != "conv" or "dilation" in g.keys()
            if kind == "input":
                shape_chw = _file_shape(g, kind)
                if "neuron" not in g.keys():
                    self.input_shape = tuple(shape_chw[::-1])
                    continue
                block, table = self.create_input(g, reset_interval=reset, reset_offset=offset,
                                                 spike_exp=self.spike_exp)
            elif kind == "conv" and exp == 0 and native:
                if not shape_chw:
                    raise RuntimeError("Input shape could not be inferred: give input_shape=(x, y, c)")
                block, table = self.create_conv(layer_config=g, input_shape=tuple(shape_chw[::-1]),
                                                input_message_bits=bits, reset_interval=reset, reset_offset=offset,
                                                spike_exp=self.spike_exp)
            elif kind in ("dense", "dense_rec") and exp == 0:
                block, table = self.create_dense(layer_config=g, input_message_bits=bits, reset_interval=reset,
                                                 reset_offset=offset, spike_exp=self.spike_exp,
                                                 sparse_synapse=self.sparse_fc_layer, rec=kind == "dense_rec")
            elif kind in ("conv", "convT", "dense"):
                block, table = self._create_sparse(g, kind, shape_chw, exp, bits, offset)
            else:
                raise NotImplementedError(f"{kind} is not implemented.")
            bits = block.output_message_bits
            out_shape = _file_shape(g, kind)
            shape_chw = out_shape
            if not keep:  # NetX: a skipped layer's output becomes the network's input
                self.input_shape = tuple(out_shape[::-1])
                prev_port, flatten = None, False
                continue
            out_port = block.out if len(out_shape) == 1 or kind in ("conv", "input") and exp == 0 and native \
                else block.out.reshape(tuple(out_shape[::-1]))
            src = self.inp_port_source(prev_port, flatten, block)
            if src is not None:
                src.connect(block.inp)
            layers.append(block)
            name = g.f.attrs.get("name", "input" if kind == "input" else f"layer{i}")
            self.layer_names.append(name.decode() if isinstance(name, bytes) else str(name))
            self.layer_shapes.append(out_shape)
            self.layer_outputs.append(out_port)
            prev_port, flatten = out_port, False
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
