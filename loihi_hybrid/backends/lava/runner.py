"""Run an exported network as Lava processes: the CPU simulator (``sim``) or Loihi 2 (``loihi2``).

One network is built and compiled once; all samples stream through it. A ``SpikeDataloader`` sends each
image as graded spikes for ``T`` steps; every layer's ``LIFReset`` neurons reset at the first step of
their window (one step later per layer, since each synapse delays by one step). Two ``Read`` processes
sample the readout voltage at the start and at the end of the readout window; a ``SpikeCounter`` per
layer counts spikes per step.

Timing (1-based Lava steps): sample ``k`` frame ``f`` leaves the dataloader at step ``kT + f + 2`` and
layer ``i`` (0-based) integrates it at step ``kT + f + 3 + i``.
"""
from __future__ import annotations

import importlib.util
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ...compat import lava_py311
from ...errors import InputError
from ...fixedpoint.format import INPUT_MESSAGE_BITS, FixedNetwork

lava_py311.apply()
# Lava's compiler tries to import every module it finds on the call stack while looking for process models
warnings.filterwarnings("ignore", message="Cannot import module", category=UserWarning)

from lava.magma.core.run_conditions import RunSteps  # noqa: E402
from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.dataloader import PySpikeModelFixed, SpikeDataloader  # noqa: E402
from lava.proc.io.sink import PyReadFixed, Read  # noqa: E402
from lava.proc.io.sink import RingBuffer as SpikeSink  # noqa: E402

from .network import HybridNetwork  # noqa: E402
from .probes import PySpikeCounterModel, SpikeCounter  # noqa: E402
from .unroll import xyz_index  # noqa: E402

FIRST_STEP = 2  # 0-based run step at which layer 0 integrates frame 0 of sample 0


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


class _Frames:
    """Dataset for ``SpikeDataloader``: sample k -> its graded input repeated over T steps, in (x, y, c)."""

    def __init__(self, q: np.ndarray, steps: int) -> None:
        self.q, self.steps = q, steps

    def __len__(self) -> int:
        return len(self.q)

    def __getitem__(self, k: int) -> tuple[np.ndarray, int]:
        frame = np.transpose(self.q[k], (2, 1, 0)).astype(np.int32)
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


def run_lava(path: str | Path, net: FixedNetwork, q: np.ndarray, backend: str = "sim",
             watch: dict[int, np.ndarray] | None = None, record_trains: bool = False,
             chunk: int = 8, progress: Callable[[int], None] | None = None) -> LavaRun:
    """Stream graded inputs ``q`` (N, C, H, W) through the exported network at ``path`` on Lava.

    ``watch``: layer index -> flat (C, H, W)-order neuron indices whose spikes in sample 0 go into the
    raster. ``record_trains`` keeps every spike (small networks only: parity tests).
    """
    t_start = time.perf_counter()
    T, n = net.steps, len(q)
    L = len(net.layers)
    total = n * T + FIRST_STEP + L - 1
    cfg, profilers = _run_config(backend)
    lnet = HybridNetwork(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS,
                         reset_interval=T, reset_offset=FIRST_STEP)
    loader = SpikeDataloader(dataset=_Frames(q, T), interval=T, offset=0)
    src = loader.s_out if loader.s_out.shape == lnet.inp.shape else loader.s_out.flatten()
    src.connect(lnet.inp)
    readout = lnet.layers[-1].neuron
    last = FIRST_STEP + L - 1  # 0-based step of frame 0 at the readout
    reads = {}
    for key, first_frame_end in (("warm", net.warmup - 1), ("end", T - 1)):
        step = last + first_frame_end  # 0-based run step whose end holds the value, for sample 0
        r = Read(buffer=n + 2 + step // T, interval=T, offset=step % T)
        r.connect_var(readout.v)
        reads[key] = (r, step // T)
    counters, sinks = [], []
    for i, (port, shape) in enumerate(zip(lnet.layer_outputs, lnet.layer_shapes)):
        idx = np.asarray((watch or {}).get(i, []), dtype=np.int64)
        lava_idx = idx if len(shape) == 1 else xyz_index(*np.unravel_index(idx, shape), shape)
        c = SpikeCounter(shape=port.shape, num_steps=total, watch=lava_idx, raster_start=FIRST_STEP + i,
                         raster_len=T if len(idx) else 0)
        port.connect(c.s_in)
        counters.append(c)
        if record_trains:
            s = SpikeSink(shape=port.shape, buffer=total)
            port.connect(s.a_in)
            sinks.append(s)
    build_s = time.perf_counter() - t_start
    done = 0
    try:
        while done < total:
            k = min(chunk * T if done else FIRST_STEP + L - 1 + chunk * T, total - done)
            lnet.run(condition=RunSteps(num_steps=k), run_cfg=cfg)
            done += k
            if progress is not None:  # samples whose readout window has ended
                progress(min(n, max(0, (done - FIRST_STEP - L + 1) // T)))
        per_step = [c.per_step.get().astype(np.int64) for c in counters]
        rasters = [c.raster.get() for c in counters]
        v = {key: r.data.get() for key, (r, _) in reads.items()}
        trains = [s.data.get() for s in sinks] if record_trains else None
    finally:
        lnet.stop()
    seconds = time.perf_counter() - t_start
    counts = np.zeros((n, L), np.int64)
    for i, ps in enumerate(per_step):
        start = FIRST_STEP + i
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
            start = FIRST_STEP + i
            win = tr[..., start:start + n * T]
            win = _to_chw(win, shape)  # (*shape, n*T)
            spikes.append(np.moveaxis(win.reshape(*shape, n, T), -2, 0) != 0)
    uj, prof = _measured_uj(profilers, n)
    return LavaRun(v_warm=vals["warm"], v_end=vals["end"], counts=counts, raster=raster, seconds=seconds,
                   build_seconds=build_s, measured_uj_per_inference=uj, trains=spikes, profile=prof)

