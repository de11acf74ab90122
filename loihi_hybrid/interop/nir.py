"""An exported fixed-point network as a NIR graph (Neuromorphic Intermediate Representation, PyPI ``nir``).

NIR is how snnTorch, Norse, Sinabs, Rockpool, Spyx, Nengo, SpiNNaker2 and Xylo/Speck exchange SNNs. The graph
is ``input -> (Conv2d|Affine -> CubaLIF)* [-> Flatten] ... -> Affine (readout) -> output``, in float. Each
node holds the chip's integers converted as stated in the graph's metadata (:data:`CONVENTIONS`):

- layer ``l`` with scale ``k_l``: weight ``w * 2^e / (64 k_l)``, threshold ``vThMant / (64 k_l)``, bias
  ``b / (64 k_l)``; the first layer's weights also times the input levels ``L``, since the graph takes the
  image ``x`` in [0, 1] every step where the chip takes ``round(L x)``;
- CUBA decays as continuous time constants for a step ``dt`` (forward Euler, current before voltage, as
  Loihi and snnTorch update): ``tau_syn = dt * 4096 / iDecay``, ``tau_mem = dt * 4096 / vDecay``
  (``inf`` for ``vDecay = 0``), ``w_in = tau_syn / dt``, ``r = tau_mem / dt``, so that each step adds the
  synaptic input to the current and the current to the voltage with gain 1; ``v_leak = 0``, ``v_reset = 0``,
  a spike when ``v > v_threshold``;
- Loihi adds the bias to the voltage; NIR's CubaLIF has no such input besides ``v_leak`` (which snnTorch
  refuses), so the bias is the synapse node's bias times ``iDecay / 4096``: the same in steady state, smaller
  during the first ``~4096 / iDecay`` steps after a reset;
- the readout (``iDecay = 4096``, ``vDecay = 0``: its voltage sums its input) is the last ``Affine`` alone:
  the decoded value is the mean of the graph's output over steps ``warmup .. T-1`` of each sample, then the
  task's decoding (``loihi_hybrid`` metadata ``decoding``), exactly the chip's ``(v[T-1] - v[warmup-1]) /
  (4096 k n)`` in float.

NIR 1.0 has no transposed convolution, so a network with a ``convT`` layer raises :class:`InputError`.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..fixedpoint.format import MANT_SHIFT, FixedLayer, FixedNetwork
from ..fsio import atomic_write
from ..neurons.params import DECAY_SCALE

NIR_VERSION = "1.0.8"
METADATA_KEY = "loihi_hybrid"
CONVENTIONS = (
    "continuous-time NIR nodes for a step dt (metadata dt_s); float value = chip mantissa * 2^weightExponent / "
    "(64 k) with k the layer's scale (first layer's weights also x input_levels: the graph takes the image in "
    "[0, 1] every step); tau_syn = dt*4096/iDecay, tau_mem = dt*4096/vDecay, w_in = tau_syn/dt, r = tau_mem/dt; "
    "bias = synapse bias x iDecay/4096 (Loihi adds it to the voltage: equal in steady state); readout = the last "
    "Affine: y = mean of the output over steps warmup..T-1 of a sample, then metadata decoding")


def _nir() -> Any:
    try:
        import nir  # noqa: PLC0415 (optional extra)
    except ImportError:
        raise InputError(None, "--format nir needs the 'nir' package: pip install -r requirements/nir.txt "
                               "(or pip install 'loihi-hybrid[nir]')") from None
    return nir


def nir_problems(net: FixedNetwork) -> list[str]:
    """Layers that NIR 1.0 cannot express (empty: the network converts)."""
    out = [f"{ly.name}: NIR 1.0 has no transposed-convolution node (nir.ConvTranspose2d does not exist)"
           for ly in net.layers if ly.op == "convT"]
    out += [f"{ly.name}: NIR 1.0 has no sigma-delta neuron (graded messages of the change of a ReLU)"
            for ly in net.layers if ly.neuron != "cuba"]
    if net.input_once:
        out.append(f"{net.layers[0].name}: the image is sent once (input_once), held by a current that never "
                   "decays; a NIR graph takes its input every step")
    ro = net.readout
    if ro.i_decay != DECAY_SCALE or ro.v_decay != 0:
        out.append(f"{ro.name}: the readout must integrate (iDecay 4096, vDecay 0), got {ro.i_decay}, {ro.v_decay}")
    return out


def _float_weights(layer: FixedLayer, input_levels: int | None) -> tuple[np.ndarray, np.ndarray]:
    unit = 2.0 ** MANT_SHIFT * layer.scale
    w = layer.weight.astype(np.float64) * 2.0 ** layer.weight_exp / unit
    if input_levels is not None:
        w = w * input_levels
    return w, layer.bias.astype(np.float64) / unit


def _neuron(nir: Any, layer: FixedLayer, dt: float) -> Any:
    du, dv = layer.i_decay / DECAY_SCALE, layer.v_decay / DECAY_SCALE
    shape = layer.out_shape
    full = lambda v: np.full(shape, v, dtype=np.float64)  # noqa: E731
    tau_syn = dt / du
    tau_mem = dt / dv if dv > 0 else np.inf
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / dt), v_leak=full(0.0),
                       v_threshold=full(layer.vth / (2.0 ** MANT_SHIFT * layer.scale)), v_reset=full(0.0),
                       w_in=full(tau_syn / dt))


def to_nir(net: FixedNetwork, metadata: dict[str, Any], dt: float) -> Any:
    """The ``nir.NIRGraph`` of ``net`` (see the module doc); ``metadata`` (the ``.net`` file's) goes into the
    graph's metadata as JSON, with the conversions and ``dt``."""
    nir = _nir()
    problems = nir_problems(net)
    if problems:
        raise InputError(None, f"no NIR form: {'; '.join(problems)}")
    if not (np.isfinite(dt) and dt > 0):
        raise InputError(None, f"--nir-dt must be a positive number of seconds, got {dt}")
    for ly in net.layers:
        if ly.i_decay == 0:
            raise InputError(None, f"{ly.name}: iDecay 0 (a current that never decays) has no finite tau_syn")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(net.input_shape))}
    edges: list[tuple[str, str]] = []
    prev, prev_shape = "input", tuple(net.input_shape)
    for i, ly in enumerate(net.layers):
        if ly.flatten_input:
            name = f"{ly.name}_flatten"
            nodes[name] = nir.Flatten(input_type=np.array(prev_shape), start_dim=0, end_dim=-1)
            edges.append((prev, name))
            prev = name
        w, b = _float_weights(ly, net.input_levels if i == 0 else None)
        spiking = ly.spiking
        b_syn = b * ly.i_decay / DECAY_SCALE if spiking else b
        if ly.op == "dense":
            nodes[ly.name] = nir.Affine(weight=w, bias=b_syn)
        else:
            nodes[ly.name] = nir.Conv2d(input_shape=np.array(prev_shape[1:]), weight=w, stride=np.array([ly.stride] * 2),
                                        padding=np.array([ly.padding] * 2), dilation=np.array([1, 1]), groups=1,
                                        bias=b_syn)
        edges.append((prev, ly.name))
        prev = ly.name
        if spiking:
            name = f"{ly.name}_lif"
            nodes[name] = _neuron(nir, ly, dt)
            edges.append((prev, name))
            prev = name
        prev_shape = tuple(ly.out_shape)
    nodes["output"] = nir.Output(output_type=np.array(net.readout.out_shape))
    edges.append((prev, "output"))
    meta = {"format": "loihi-hybrid NIR export", "nir_version": NIR_VERSION, "dt_s": float(dt),
            "steps": net.steps, "warmup": net.warmup, "input_levels": net.input_levels,
            "conventions": CONVENTIONS, "netx_metadata": metadata}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={METADATA_KEY: json.dumps(meta, default=float)})


def write_nir(net: FixedNetwork, path: str | Path, metadata: dict[str, Any], dt: float) -> Path:
    """Write the NIR graph of ``net`` to ``path`` (built in memory, then written atomically); returns the path."""
    nir = _nir()
    graph = to_nir(net, metadata, dt)
    buf = io.BytesIO()
    nir.write(buf, graph)
    data = buf.getvalue()
    return atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def read_nir(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(graph, loihi_hybrid metadata)`` of a NIR file written by :func:`write_nir`."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "NIR file not found")
    try:
        graph = nir.read(path)
        text = graph.metadata[METADATA_KEY]
        meta = json.loads(text.decode() if isinstance(text, bytes) else text)
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as err:
        raise InputError(path, f"not a loihi-hybrid NIR export: {' '.join(str(err).split())[:160]}") from None
    return graph, meta
