"""Spike-count probe: a Lava process that counts a layer's spikes per step and keeps a short raster."""
from __future__ import annotations

import numpy as np

from ...compat import lava_py311

lava_py311.apply()

from lava.magma.core.decorator import implements, requires, tag  # noqa: E402
from lava.magma.core.model.py.model import PyLoihiProcessModel  # noqa: E402
from lava.magma.core.model.py.ports import PyInPort  # noqa: E402
from lava.magma.core.model.py.type import LavaPyType  # noqa: E402
from lava.magma.core.process.ports.ports import InPort  # noqa: E402
from lava.magma.core.process.process import AbstractProcess  # noqa: E402
from lava.magma.core.process.variable import Var  # noqa: E402
from lava.magma.core.resources import CPU  # noqa: E402
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol  # noqa: E402


class SpikeCounter(AbstractProcess):
    """Counts the spikes arriving at ``s_in`` in every step (``per_step``) and records the spike trains of
    the neurons ``watch`` (flat indices) during steps ``raster_start .. raster_start + raster_len - 1``
    (0-based run steps) in ``raster``."""

    def __init__(self, *, shape: tuple[int, ...], num_steps: int, watch: np.ndarray,
                 raster_start: int = 0, raster_len: int = 0) -> None:
        watch = np.asarray(watch, dtype=np.int64).reshape(-1)
        super().__init__(shape=shape, num_steps=num_steps, watch=watch, raster_start=raster_start,
                         raster_len=raster_len)
        self.s_in = InPort(shape=shape)
        self.per_step = Var(shape=(num_steps,), init=np.zeros(num_steps, np.int32))
        self.raster = Var(shape=(max(1, len(watch)), max(1, raster_len)),
                          init=np.zeros((max(1, len(watch)), max(1, raster_len)), np.int32))


@implements(proc=SpikeCounter, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PySpikeCounterModel(PyLoihiProcessModel):
    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    per_step: np.ndarray = LavaPyType(np.ndarray, np.int32)
    raster: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def run_spk(self) -> None:
        s = self.s_in.recv()
        t = self.time_step - 1
        if t < self.per_step.shape[0]:
            self.per_step[t] = int(np.count_nonzero(s))
        p = self.proc_params
        k = t - p["raster_start"]
        if 0 <= k < p["raster_len"] and len(p["watch"]):
            self.raster[:, k] = (s.reshape(-1)[p["watch"]] != 0).astype(np.int32)
