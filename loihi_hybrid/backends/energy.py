"""Activity, energy estimates and a Loihi 2 fit report from an exported network and its spike counts.

All energies are **estimates** from operation counts, labelled as such:

- ``loihi_estimate``: Loihi (1) per-operation energies (Davies et al., IEEE Micro 2018, Table 2):
  23.6 pJ per synaptic operation, 81 pJ per active (spiking) and 52 pJ per inactive neuron update.
  Synaptic operations include the graded input events of the first layer.
- ``ann_estimate``: the ANN's multiply-accumulates x 4.6 pJ (Horowitz, ISSCC 2014, 45 nm).
- ``snn_horowitz``: synaptic operations on graded inputs (a value times a weight: a MAC) x 4.6 pJ plus those on
  binary spikes (an accumulate) x 0.9 pJ, the usual paper estimate beside the ANN's. Graded: the first layer's
  image (every step, or once where the network takes its input once) and every sigma-delta layer's messages.
- Graded messages on Loihi 2 are counted at the Loihi 1 SynOp energy: no published table gives their cost
  (Intel's Loihi 2 brief says only that graded spikes come at little extra cost), so the Loihi estimate of a
  sigma-delta network assumes it.
- ``loihi2_static``: Loihi 2's static (leakage) share, from the one published Loihi 2 measurement with a
  static figure, lava-dl's PilotNet-LIF benchmark notebook on one chip: 0.232 W static (0.679 W total), 409
  inferences/s at 16 steps per inference, i.e. ``t_step = 1 / (409 x 16) s`` (152.8 us) and
  ``0.232 W x t_step`` = 35.45 uJ per step per chip. Per inference: ``T x 35.45 uJ x chips`` (chips: the fit
  report's cores / 128, at least 1). It assumes this network's steps take as long as PilotNet's.
- ``loihi_estimate_with_static`` = ``loihi_estimate`` (Loihi 1 dynamic figures) + ``loihi2_static`` (Loihi 2):
  a mixed-generation estimate, labelled as such.

Loihi 2's own energy comes only from its hardware profiler (``measured_uj_per_inference``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..fixedpoint.format import FixedLayer, FixedNetwork

PJ_SYNOP_LOIHI = 23.6
PJ_NEURON_ACTIVE = 81.0
PJ_NEURON_INACTIVE = 52.0
PJ_MAC = 4.6
PJ_AC = 0.9
# Loihi 2, measured: PilotNet-LIF on one chip (lava-dl's netx/pilotnet_snn benchmark notebook, reset_interval 16)
L2_PILOTNET_TOTAL_W = 0.679
L2_PILOTNET_STATIC_W = 0.232
L2_PILOTNET_INFERENCES_PER_S = 409.0
L2_PILOTNET_STEPS_PER_INFERENCE = 16
L2_STEP_S = 1.0 / (L2_PILOTNET_INFERENCES_PER_S * L2_PILOTNET_STEPS_PER_INFERENCE)
L2_STATIC_UJ_PER_STEP = L2_PILOTNET_STATIC_W * L2_STEP_S * 1e6   # per chip
#: which chip each figure comes from, for summaries
ENERGY_LABELS = {
    "loihi_estimate_uj_per_inference": "estimate: Loihi 1 per-operation energies (Davies et al. 2018), dynamic only",
    "loihi2_static_uj_per_inference": "estimate: Loihi 2 static power per step, from lava-dl's measured PilotNet-LIF "
                                      "benchmark (0.232 W static, 409 inferences/s at 16 steps)",
    "loihi_estimate_with_static_uj_per_inference": "estimate: Loihi 1 dynamic + Loihi 2 static (mixed generations)",
    "ann_estimate_uj_per_inference": "estimate: ANN MACs x 4.6 pJ (Horowitz 2014, 45 nm)",
    "snn_horowitz_uj_per_inference": "estimate: SynOps on graded input (image, sigma-delta messages) x 4.6 pJ + on "
                                     "binary spikes x 0.9 pJ (Horowitz 2014)",
    "measured_uj_per_inference": "measured: Loihi 2 power and execution-time profilers (hardware runs only)",
}
# Loihi 2 per chip (Intel brief, 2021): 128 neuro-cores, up to 1 M neurons and 120 M synapses
CHIP_CORES, CHIP_NEURONS, CHIP_SYNAPSES = 128, 1_000_000, 120_000_000
CORE_NEURONS, CORE_SYNAPSES = 8192, CHIP_SYNAPSES // CHIP_CORES


def fan_out(layer: FixedLayer) -> float:
    """Synapses per input neuron of ``layer`` (average over its inputs)."""
    return layer.synapses / float(np.prod(layer.in_shape))


def layer_activity(net: FixedNetwork, counts: np.ndarray, dt_s: float) -> list[dict[str, Any]]:
    """Per layer, per inference: neurons, spikes, firing rate (Hz) and SynOps (input spikes x fan-out).

    ``counts``: (N, L) spikes per sample and layer. The first layer's SynOps are its graded input events
    (every pixel, every step; once per sample where ``net.input_once``) times the fan-out.
    """
    mean = counts.mean(0) if len(counts) else np.zeros(len(net.layers))
    rows = []
    in_events = float(np.prod(net.input_shape)) * (1 if net.input_once else net.steps)
    for layer, spikes in zip(net.layers, mean):
        rows.append({"name": layer.name, "neurons": layer.neurons, "spikes": float(spikes),
                     "firing_rate_hz": float(spikes) / (layer.neurons * net.steps * dt_s),
                     "synops": in_events * fan_out(layer)})
        in_events = float(spikes)
    return rows


def mean_rate_hz(net: FixedNetwork, counts: np.ndarray, dt_s: float) -> float:
    """Spikes per spiking neuron per second, over the whole network (as the training-time figure)."""
    spiking = [i for i, ly in enumerate(net.layers) if ly.spiking]
    neurons = sum(net.layers[i].neurons for i in spiking)
    return float(counts[:, spiking].sum(1).mean()) / (neurons * net.steps * dt_s)


def ann_macs(net: FixedNetwork) -> float:
    """Multiply-accumulates of one ANN inference with the same architecture."""
    return float(sum(layer.synapses for layer in net.layers))


def energy_estimates(net: FixedNetwork, activity: list[dict[str, Any]]) -> dict[str, float]:
    """Estimated energy per inference in microjoules (see the module docstring for the formulas)."""
    synops = sum(r["synops"] for r in activity)
    spikes = sum(r["spikes"] for r in activity)
    updates = sum(r["neurons"] for r in activity) * net.steps
    loihi_pj = synops * PJ_SYNOP_LOIHI + spikes * PJ_NEURON_ACTIVE + (updates - spikes) * PJ_NEURON_INACTIVE
    graded_in = [net.input_bits > 0] + [ly.message_bits > 0 for ly in net.layers[:-1]]
    graded = sum(r["synops"] for r, g in zip(activity, graded_in) if g)
    static = static_uj_per_inference(net)
    return {"loihi_estimate_uj_per_inference": loihi_pj * 1e-6,
            "loihi2_static_uj_per_inference": static,
            "loihi_estimate_with_static_uj_per_inference": loihi_pj * 1e-6 + static,
            "ann_estimate_uj_per_inference": ann_macs(net) * PJ_MAC * 1e-6,
            "snn_horowitz_uj_per_inference": (graded * PJ_MAC + (synops - graded) * PJ_AC) * 1e-6}


def chips(net: FixedNetwork) -> int:
    """Loihi 2 chips the network needs by the fit report's core estimate (at least 1)."""
    return max(1, math.ceil(fit_report(net)["total"]["cores"] / CHIP_CORES))


def static_uj_per_inference(net: FixedNetwork) -> float:
    """Loihi 2 static energy of one inference: ``T x L2_STATIC_UJ_PER_STEP x chips`` (see the module doc)."""
    return net.steps * L2_STATIC_UJ_PER_STEP * chips(net)


def fit_report(net: FixedNetwork) -> dict[str, Any]:
    """Per layer: neurons, synapses (unrolled), fan-in/fan-out and estimated Loihi 2 cores; warnings.

    Cores are estimated from the chip totals divided evenly over its 128 cores (8192 neurons and about
    0.94 M synapses per core); the real allocation depends on Intel's compiler.
    """
    rows, warnings = [], []
    for layer in net.layers:
        cores = max(math.ceil(layer.neurons / CORE_NEURONS), math.ceil(layer.synapses / CORE_SYNAPSES))
        rows.append({"name": layer.name, "op": layer.op, "neurons": layer.neurons, "synapses": layer.synapses,
                     "fan_in": layer.fan_in, "fan_out": round(fan_out(layer), 2), "cores": cores})
    total = {k: sum(r[k] for r in rows) for k in ("neurons", "synapses", "cores")}
    if total["cores"] > CHIP_CORES:
        warnings.append(f"needs about {total['cores']} cores: more than one Loihi 2 chip ({CHIP_CORES})")
    if total["neurons"] > CHIP_NEURONS:
        warnings.append(f"{total['neurons']} neurons exceed one chip's {CHIP_NEURONS}")
    if total["synapses"] > CHIP_SYNAPSES:
        warnings.append(f"{total['synapses']} synapses exceed one chip's {CHIP_SYNAPSES}")
    return {"layers": rows, "total": total, "fits_one_chip": not warnings, "warnings": warnings}
