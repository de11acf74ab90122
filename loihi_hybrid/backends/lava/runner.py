"""Run an exported network as Lava processes: the CPU simulator (``sim``) or Loihi 2 (``loihi2``).

One network is built and compiled once; all samples stream through it. A ``SpikeDataloader`` sends each
image as graded spikes for ``T`` steps; every layer's ``LIFReset`` neurons reset at the first step of
their window (one step later per layer, since each synapse delays by one step). Two ``Read`` processes
sample the readout voltage at the start and at the end of the readout window; a ``SpikeCounter`` per
layer counts spikes per step.

Timing (1-based Lava steps): sample ``k`` frame ``f`` leaves the dataloader at step ``kT + f + 2`` and
layer ``i`` (0-based) integrates it at step ``kT + f + 3 + i``. A plain NetX file whose first layer is an
``input`` layer with a neuron is fed without a synapse in between: into that neuron's bias (a
``StateDataloader`` writing ``bias_mant`` after step ``kT + 1``, as lava-dl's examples set it) or its
``a_in``; there layer ``i`` integrates frame ``f`` at step ``kT + f + 2 + i``.

Sigma-delta neurons cannot be reset (NetX ignores ``reset_interval`` for them), so a network with them
runs each sample as a fresh Lava run of ``T`` steps, input from a ``RingBuffer`` source: the emulator's
``pipeline`` timing.
"""
from __future__ import annotations

import importlib.util
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...compat import lava_py311
from ...errors import InputError
from ...fixedpoint.format import FixedNetwork

lava_py311.apply()
# Lava's compiler tries to import every module it finds on the call stack while looking for process models
warnings.filterwarnings("ignore", message="Cannot import module", category=UserWarning)

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.dataloader import PySpikeModelFixed, SpikeDataloader, StateDataloader  # noqa: E402
from lava.proc.io.source import RingBuffer as SpikeSource  # noqa: E402
from lava.proc.io.sink import PyReadFixed, Read  # noqa: E402
from lava.proc.io.sink import RingBuffer as SpikeSink  # noqa: E402

from .network import HybridNetwork  # noqa: E402
from .probes import PySpikeCounterModel, SpikeCounter  # noqa: E402
from .unroll import xyz_index  # noqa: E402

FIRST_STEP = 2  # 0-based run step at which layer 0 integrates frame 0 of sample 0 (1 without a synapse)


@dataclass
class LavaRun:
    v_warm: np.ndarray                 # (N, *readout shape) in (C, H, W) / (F,) order
    v_end: np.ndarray
    counts: np.ndarray                 # (N, L) spikes per sample and layer
    raster: dict[str, np.ndarray]      # layer name -> (k, T) spike trains of watched neurons, sample 0
    seconds: float                     # whole run, including build and compile
    build_seconds: float
    measured_uj_per_inference: float | None = None
    trains: list[np.ndarray] | None = None  # per layer (N, *shape, T) in (C, H, W) order, when recorded
    profile: dict = field(default_factory=dict)


def _xyc(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One sample ``(*shape[, T])`` in (C, H, W) order -> Lava's (x, y, c[, T]) order, int32."""
    if len(shape) == 3:
        a = np.moveaxis(a, (0, 1, 2), (2, 1, 0))
    return np.ascontiguousarray(a, dtype=np.int32)


class _Frames:
    """Dataset for the dataloaders: sample k -> its input in (x, y, c), repeated over T steps (``steps``),
    at the first of T steps and 0 after (``once``), or as it is (``steps`` None: a bias, or a sample that has
    its own time axis)."""

    def __init__(self, q: np.ndarray, steps: int | None, shape: tuple[int, ...] | None = None,
                 once: bool = False) -> None:
        self.q, self.steps, self.once = q, steps, once
        self.shape = tuple(q.shape[1:4]) if shape is None else shape

    def __len__(self) -> int:
        return len(self.q)

    def __getitem__(self, k: int) -> tuple[np.ndarray, int]:
        frame = _xyc(self.q[k], self.shape)
        if self.steps is None or frame.ndim > len(self.shape):
            return frame, 0
        if self.once:
            out = np.zeros((*frame.shape, self.steps), frame.dtype)
            out[..., 0] = frame
            return out, 0
        return np.repeat(frame[..., None], self.steps, axis=-1), 0


def _to_chw(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Values in Lava's (x, y, c) order, ``(*lava shape or flat, K)`` -> ``(*shape, K)`` in (C, H, W) order."""
    k = a.shape[-1]
    if len(shape) == 1:
        return a.reshape(shape[0], k)
    c, h, w = shape
    return a.reshape(w, h, c, k).transpose(2, 1, 0, 3)


def loihi2_unavailable_reason() -> str | None:
    """Why the ``loihi2`` back end cannot run here (None if it can)."""
    if importlib.util.find_spec("lava.utils.loihi2_profiler") is None:
        return ("Intel's Lava extension for Loihi (lava-loihi) is not installed: it is distributed to members "
                "of the Intel Neuromorphic Research Community (INRC, https://intel-ncl.atlassian.net/wiki/"
                "spaces/INRC) and is installed into this environment with pip from the INRC package index")
    from lava.utils import slurm  # noqa: PLC0415
    if not (slurm.is_available() or os.environ.get("NXSDKHOST")):
        return ("lava-loihi is installed but no Loihi 2 system is reachable: run on an INRC host with SLURM, "
                "or set NXSDKHOST (lava.utils.loihi.use_ethernet_host) for a Kapoho Point board")
    return None


def _run_config(backend: str) -> tuple[object, dict]:
    if backend == "sim":
        return Loihi2SimCfg(select_tag="fixed_pt"), {}
    reason = loihi2_unavailable_reason()
    if reason is not None:
        raise InputError(None, f"--backend loihi2: {reason}")
    from lava.magma.core.run_configs import Loihi2HwCfg  # noqa: PLC0415
    from lava.utils import loihi  # noqa: PLC0415
    from lava.utils.loihi2_profiler import Loihi2ExecutionTime, Loihi2Power  # noqa: PLC0415

    if loihi.host is None:
        loihi.use_slurm_host()
    power, runtime = Loihi2Power(num_steps=1), Loihi2ExecutionTime()
    # I/O and probes stay on the host (Python process models); the network runs on the neuro-cores
    exceptions = {SpikeDataloader: PySpikeModelFixed, Read: PyReadFixed, SpikeCounter: PySpikeCounterModel}
    cfg = Loihi2HwCfg(exception_proc_model_map=exceptions, callback_fxs=[power, runtime])
    return cfg, {"power": power, "runtime": runtime}


def _measured_uj(profilers: dict, n_samples: int) -> tuple[float | None, dict]:
    """Energy per inference from Loihi 2's power and execution-time profilers (hardware only)."""
    if not profilers:
        return None, {}
    power, runtime = profilers["power"], profilers["runtime"]
    total_w = float(np.mean(power.total_power))            # W, averaged over the run
    step_s = np.asarray(runtime.execution_time_per_step) * 1e-6  # profiler reports microseconds
    energy_j = total_w * float(step_s.sum())
    return energy_j / n_samples * 1e6, {"total_power_w": total_w, "steps_s": float(step_s.sum())}


def _state_var(block: object) -> object:
    """The readout's state: the voltage of a CUBA neuron, the running sum of a sigma-delta one."""
    neuron = block.neuron
    return neuron.v if hasattr(neuron, "v") else neuron.sigma


def _readout_state(lnet: object, shape: tuple[int, ...]) -> np.ndarray:
    """The readout's state now, in (C, H, W) order."""
    return _to_chw(np.asarray(_state_var(lnet.layers[-1]).get())[..., None], shape)[..., 0]


def _probe(lnet: object, steps: int, record_trains: bool, watch: dict[int, Any] | None = None, first: int = 0,
           raster_len: int = 0) -> tuple[list, list]:
    """A spike counter on every layer output of ``lnet`` (``watch``: layer -> neuron indices (C, H, W order)
    whose raster is kept for ``raster_len`` steps from step ``first + layer``), and with ``record_trains`` a
    sink holding each layer's whole spike train."""
    counters, sinks = [], []
    for i, (port, shape) in enumerate(zip(lnet.layer_outputs, lnet.layer_shapes)):
        idx = np.asarray((watch or {}).get(i, []), dtype=np.int64)
        lava_idx = idx if len(shape) == 1 else xyz_index(*np.unravel_index(idx, shape), shape)
        c = SpikeCounter(shape=port.shape, num_steps=steps, watch=lava_idx, raster_start=first + i,
                         raster_len=raster_len if len(idx) else 0)
        port.connect(c.s_in)
        counters.append(c)
        if record_trains:
            s = SpikeSink(shape=port.shape, buffer=steps)
            port.connect(s.a_in)
            sinks.append(s)
    return counters, sinks


def run_lava(path: str | Path, net: FixedNetwork, q: np.ndarray, backend: str = "sim",
             watch: dict[int, np.ndarray] | None = None, record_trains: bool = False,
             chunk: int = 8, progress: Callable[[int], None] | None = None, steps: int | None = None,
             bias_input: bool | None = None, netx_args: dict | None = None) -> LavaRun:
    """Stream inputs ``q`` (N, *input shape[, T]) in (C, H, W) order through the network at ``path`` on Lava.

    ``q``: graded input spikes for an export; for a plain NetX file, the first layer's input messages or
    (``bias_input``, default ``net.bias_input``) its bias mantissas. ``steps``: per sample (default
    ``net.steps``). ``netx_args``: ``netx.hdf5.Network``'s arguments (``num_layers``, ``skip_layers``, ...).
    ``watch``: layer index -> flat (C, H, W)-order neuron indices whose spikes in sample 0 go into the
    raster. ``record_trains`` keeps every spike (small networks only: parity tests).
    """
    T = net.steps if steps is None else steps
    bias_input = net.bias_input if bias_input is None else bias_input
    if bias_input and q.ndim > len(net.input_shape) + 1:
        raise InputError(None, "inputs that set the input layer's bias must be the same every step (no time axis) "
                               "on Lava")
    args = {"input_message_bits": net.input_bits, **(netx_args or {})}
    if any(ly.neuron != "cuba" for ly in net.layers):
        return _run_fresh(path, net, q, backend, T, bias_input, args, record_trains, progress)
    t_start = time.perf_counter()
    n = len(q)
    L = len(net.layers)
    direct = net.layers[0].op == "input"   # no synapse before the first layer
    first = FIRST_STEP - direct
    total = n * T + first + L - 1
    cfg, profilers = _run_config(backend)
    lnet = HybridNetwork(net_config=str(path), reset_interval=T, reset_offset=first, **args)
    if bias_input:
        loader = StateDataloader(dataset=_Frames(q, None, net.input_shape), interval=T, offset=0)
        loader.connect_var(lnet.layers[0].neuron.bias_mant)
    else:
        loader = SpikeDataloader(dataset=_Frames(q, T, net.input_shape, once=net.input_once), interval=T, offset=0)
        port = lnet.layers[0].neuron.a_in if direct else lnet.inp
        src = loader.s_out if loader.s_out.shape == port.shape else loader.s_out.flatten()
        src.connect(port)
    readout = lnet.layers[-1]
    last = first + L - 1  # 0-based step of frame 0 at the readout
    reads = {}
    for key, first_frame_end in (("warm", net.warmup - 1), ("end", T - 1)):
        step = last + first_frame_end  # 0-based run step whose end holds the value, for sample 0
        r = Read(buffer=n + 2 + step // T, interval=T, offset=step % T)
        r.connect_var(_state_var(readout))
        reads[key] = (r, step // T)
    counters, sinks = _probe(lnet, total, record_trains, watch, first, T)
    build_s = time.perf_counter() - t_start
    done = 0
    try:
        while done < total:
            k = min(chunk * T if done else first + L - 1 + chunk * T, total - done)
            lnet.run(condition=RunSteps(num_steps=k), run_cfg=cfg)
            done += k
            if progress is not None:  # samples whose readout window has ended
                progress(min(n, max(0, (done - first - L + 1) // T)))
        per_step = [c.per_step.get().astype(np.int64) for c in counters]
        rasters = [c.raster.get() for c in counters]
        v = {key: r.data.get() for key, (r, _) in reads.items()}
        trains = [s.data.get() for s in sinks] if record_trains else None
    finally:
        lnet.stop()
    seconds = time.perf_counter() - t_start
    counts = np.zeros((n, L), np.int64)
    for i, ps in enumerate(per_step):
        start = first + i
        counts[:, i] = ps[start:start + n * T].reshape(n, T).sum(1)
    out_shape = net.readout.out_shape
    vals = {}
    for key, (r, j0) in reads.items():
        data = v[key][..., j0:j0 + n]  # (*lava shape, n)
        vals[key] = np.moveaxis(_to_chw(data, out_shape), -1, 0)
    if net.warmup == 0:
        vals["warm"] = np.zeros_like(vals["end"])
    raster = {}
    for i, name in enumerate(lnet.layer_names):
        if watch and len(np.asarray(watch.get(i, []))):
            raster[name] = rasters[i]
    spikes = None
    if trains is not None:
        spikes = []
        for i, (tr, shape) in enumerate(zip(trains, lnet.layer_shapes)):
            start = first + i
            win = tr[..., start:start + n * T]
            win = _to_chw(win, shape)  # (*shape, n*T)
            spikes.append(_spike_values(np.moveaxis(win.reshape(*shape, n, T), -2, 0)))
    uj, prof = _measured_uj(profilers, n)
    return LavaRun(v_warm=vals["warm"], v_end=vals["end"], counts=counts, raster=raster, seconds=seconds,
                   build_seconds=build_s, measured_uj_per_inference=uj, trains=spikes, profile=prof)



def _spike_values(a: np.ndarray) -> np.ndarray:
    """Recorded messages: bool for binary spikes, int32 for graded ones."""
    return a != 0 if np.isin(a, (0, 1)).all() else a.astype(np.int32)


def _run_fresh(path: str | Path, net: FixedNetwork, q: np.ndarray, backend: str, T: int, bias_input: bool,
               args: dict, record_trains: bool, progress: Callable[[int], None] | None) -> LavaRun:
    """Each sample as a fresh Lava run of ``T`` steps (sigma-delta networks, which cannot be reset)."""
    t_start = time.perf_counter()
    cfg, _ = _run_config(backend)
    n, L = len(q), len(net.layers)
    counts = np.zeros((n, L), np.int64)
    v_end = np.zeros((n, *net.readout.out_shape), np.int64)
    trains: list[list[np.ndarray]] = [[] for _ in range(L)]
    build_s = 0.0
    v_warm = np.zeros_like(v_end)
    for k in range(n):
        t0 = time.perf_counter()
        lnet = HybridNetwork(net_config=str(path), **args)
        frame = _xyc(q[k], net.input_shape)
        data = frame if frame.ndim > len(net.input_shape) else np.repeat(frame[..., None], T, axis=-1)
        if net.input_once and frame.ndim == len(net.input_shape) and not bias_input:
            data[..., 1:] = 0  # the image is one event at the first step
        if bias_input:
            lnet.layers[0].neuron.bias_mant.init = data[..., 0]
        else:
            source = SpikeSource(data=data)
            port = lnet.layers[0].neuron.a_in if net.layers[0].op == "input" else lnet.inp
            (source.s_out if source.s_out.shape == port.shape else source.s_out.flatten()).connect(port)
        counters, sinks = _probe(lnet, T, record_trains)
        build_s += time.perf_counter() - t0
        try:
            if 0 < net.warmup < T:  # the readout window's start, as the reset runs read it
                lnet.run(condition=RunSteps(num_steps=net.warmup), run_cfg=cfg)
                v_warm[k] = _readout_state(lnet, net.readout.out_shape)
            lnet.run(condition=RunSteps(num_steps=T - (net.warmup if 0 < net.warmup < T else 0)), run_cfg=cfg)
            counts[k] = [int(c.per_step.get().sum()) for c in counters]
            v_end[k] = _readout_state(lnet, net.readout.out_shape)
            for i, (s, shape) in enumerate(zip(sinks, lnet.layer_shapes)):
                trains[i].append(_to_chw(s.data.get(), shape))
        finally:
            lnet.stop()
        if progress is not None:
            progress(k + 1)
    spikes = [_spike_values(np.stack(tr)) for tr in trains] if record_trains else None
    return LavaRun(v_warm=v_warm, v_end=v_end, counts=counts, raster={},
                   seconds=time.perf_counter() - t_start, build_seconds=build_s, trains=spikes)
