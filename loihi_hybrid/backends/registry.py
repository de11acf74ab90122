"""Back ends that run an exported network, behind one registry and one result type.

``emu`` is the fixed-point core's bit-exact emulator; ``sim`` and ``loihi2`` run the file as Lava
processes (``backends/lava``, imported only when used). The CLI's ``--backend`` choices come from
:data:`BACKENDS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..fixedpoint.emulator import emulate, run_network
from ..fixedpoint.format import FixedNetwork

RASTER_NEURONS = 6
Progress = Callable[[int], None]


@dataclass
class BackendOutput:
    v_warm: np.ndarray                 # readout voltage at the end of step warmup-1, (N, *readout shape)
    v_end: np.ndarray                  # ... at the end of step T-1
    counts: np.ndarray                 # (N, L) spikes per sample and layer
    raster: dict[str, np.ndarray]      # layer name -> (k, T) spike trains of the watched neurons, sample 0
    measured_uj: float | None = None   # hardware energy per inference, where a profiler measured it
    spikes: list[np.ndarray] | None = None  # per layer (N, *shape, T) messages, when recorded (raw runs)
    overflows: np.ndarray | None = None  # (L, 2) neuron-steps with a wrapped current / clipped voltage (emu only)


class Backend:
    name: str = ""
    produced_by: str = ""              # what produced the numbers, for summaries
    help: str = ""                     # one line for ``--help``

    def unavailable_reason(self) -> str | None:
        """Why this back end cannot run here (None: it can)."""
        return None

    def run(self, path: Path, net: FixedNetwork, x: np.ndarray, watch: dict[int, np.ndarray],
            first: list[np.ndarray], progress: Progress | None) -> BackendOutput:
        raise NotImplementedError

    def run_raw(self, path: Path, net: FixedNetwork, q: np.ndarray, steps: int, bias_input: bool, record: bool,
                netx_args: dict, progress: Progress | None) -> BackendOutput:
        """Raw integer inputs ``q`` (N, *input shape[, T]) through a (plain NetX) file, ``steps`` per sample."""
        raise NotImplementedError


class Emulator(Backend):
    name = "emu"
    produced_by = ("bit-exact numpy/torch emulation of the exported fixed-point network "
                   "(parity-tested against the Lava simulator)")
    help = "batched bit-exact emulation of the same fixed-point network (fast)"

    def run(self, path: Path, net: FixedNetwork, x: np.ndarray, watch: dict[int, np.ndarray],
            first: list[np.ndarray], progress: Progress | None) -> BackendOutput:
        done = [0]

        def step(k: int) -> None:
            done[0] += k
            if progress is not None:
                progress(done[0])

        r = emulate(net, x, progress=step)
        raster = {net.layers[i].name: first[i][idx].astype(np.int32) for i, idx in watch.items()}
        return BackendOutput(r.v_warm, r.v_end, r.counts, raster, overflows=r.overflows)

    def run_raw(self, path: Path, net: FixedNetwork, q: np.ndarray, steps: int, bias_input: bool, record: bool,
                netx_args: dict, progress: Progress | None) -> BackendOutput:
        done = [0]

        def step(k: int) -> None:
            done[0] += k
            if progress is not None:
                progress(done[0])

        r = run_network(net, q, steps, bias_input=bias_input, pipeline=net.pipelined, record=record, progress=step,
                        input_once=net.input_once and not bias_input and q.ndim == len(net.input_shape) + 1)
        return BackendOutput(r.v_warm, r.v_end, r.counts, {}, spikes=r.spikes,
                             overflows=r.overflows)


class Lava(Backend):
    """The exported file as Lava processes, on Lava's CPU simulator or on Loihi 2."""

    def __init__(self, name: str, produced_by: str, help: str) -> None:
        self.name, self.produced_by, self.help = name, produced_by, help

    def unavailable_reason(self) -> str | None:
        if self.name != "loihi2":
            return None
        from .lava.runner import loihi2_unavailable_reason  # noqa: PLC0415 (Lava adapter)

        return loihi2_unavailable_reason()

    def run(self, path: Path, net: FixedNetwork, x: np.ndarray, watch: dict[int, np.ndarray],
            first: list[np.ndarray], progress: Progress | None) -> BackendOutput:
        from .lava.runner import run_lava  # noqa: PLC0415 (Lava adapter, imported only when used)

        r = run_lava(path, net, net.encode_input(x), backend=self.name, watch=watch, progress=progress)
        return BackendOutput(r.v_warm, r.v_end, r.counts, r.raster, r.measured_uj_per_inference)

    def run_raw(self, path: Path, net: FixedNetwork, q: np.ndarray, steps: int, bias_input: bool, record: bool,
                netx_args: dict, progress: Progress | None) -> BackendOutput:
        from .lava.runner import run_lava  # noqa: PLC0415 (Lava adapter, imported only when used)

        r = run_lava(path, net, q, backend=self.name, progress=progress, steps=steps, bias_input=bias_input,
                     netx_args=netx_args, record_trains=record)
        return BackendOutput(r.v_warm, r.v_end, r.counts, r.raster, r.measured_uj_per_inference, spikes=r.trains)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Lava("sim", "Lava CPU simulator, Loihi2SimCfg(select_tag='fixed_pt')",
         "Lava CPU simulator (bit-accurate fixed point)"),
    Lava("loihi2", "Loihi 2 hardware through Lava", "Loihi 2 through Lava (needs Intel's lava-loihi and a system)"),
    Emulator(),
)}


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise InputError(None, f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def raster_neurons(net: FixedNetwork, x0: np.ndarray) -> tuple[dict[int, np.ndarray], list[np.ndarray]]:
    """The most active neurons of each spiking layer on the first sample (flat (C, H, W) indices), and that
    sample's emulated spike trains per layer, each (neurons, T)."""
    trains = [s[0].reshape(-1, net.steps) for s in emulate(net, x0[None], record=True).spikes]
    watch = {i: np.sort(np.argsort(-t.sum(1), kind="stable")[:RASTER_NEURONS])
             for i, (layer, t) in enumerate(zip(net.layers, trains)) if layer.spiking}
    return watch, trains


def run_backend(name: str, path: Path, net: FixedNetwork, x: np.ndarray,
                progress: Progress | None = None) -> BackendOutput:
    """Run ``net`` (read from ``path``) on images ``x`` with back end ``name``."""
    backend = get_backend(name)
    reason = backend.unavailable_reason()
    if reason:
        raise InputError(None, f"--backend {name}: {reason}")
    watch, first = raster_neurons(net, x[0])
    return backend.run(path, net, x, watch, first, progress)
