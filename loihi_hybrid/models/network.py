"""A feed-forward stack of spiking layers ending in a non-spiking readout, run in any :class:`Mode`."""
from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from ..compat import slayer_ops
from .layers import Activity, Flatten, Mode, Readout, SpikingLayer

#: steps per chunk of the streamed spiking forward pass (``snn``/``hybrid`` on the CPU)
TIME_CHUNK = 8


def warmup_for(latency: int, steps: int) -> int:
    """Readout warm-up for a run of ``steps`` steps: the last spiking layer's measured ``latency``, at most
    ``steps // 2`` so that at least half of the steps are read out."""
    return min(int(latency), steps // 2)


class SpikingNetwork(nn.Module):
    """Sequential network; ``forward(x, mode, steps)`` returns the readout (N, ...).

    In ``snn`` and ``hybrid`` mode on the CPU the spiking pass streams chunks of ``time_chunk`` steps
    through all layers, carrying each neuron's state, so its memory does not grow with T; the rate
    path (hybrid gradients) then runs once on the time-averaged activities.
    """

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        if not isinstance(layers[-1], Readout):
            raise ValueError("the last layer must be a Readout")
        self.layers = nn.ModuleList(layers)
        #: steps at the start of each sample that the readout ignores (see :class:`Readout`)
        self.readout_warmup = 0
        self.time_chunk = TIME_CHUNK
        #: the image is sent once per sample (see :meth:`set_input_once`)
        self.input_once = False
        self._first_neuron = self.spiking_layers()[0].neuron

    @property
    def graded(self) -> bool:
        """Sigma-delta neurons (graded messages) instead of CUBA spiking neurons."""
        return self._first_neuron.graded

    @property
    def min_readout_warmup(self) -> int:
        """The shortest readout warm-up that reads a settled readout on Lava: a sigma-delta network's readout gets
        its input one step per layer after the image (the layers with a synapse), so that many; else 0."""
        return len(self.geometry()) if self.graded else 0

    def warmup_problem(self, warmup: int) -> str | None:
        """Why ``warmup`` cannot be this network's readout warm-up (None: it can)."""
        if warmup < self.min_readout_warmup:
            return (f"readout_warmup {warmup} is shorter than the network's {self.min_readout_warmup} layers: on "
                    "Lava a sigma-delta network's readout gets its input that many steps after the image")
        return None

    def set_input_once(self, once: bool) -> None:
        """Send the image once per sample instead of every step.

        On the chip the image arrives as one graded event at the first step and the first layer's current
        holds it (current decay 0): ``u[t] = W x`` from step 0 on. Here that is the same current as a first
        layer without a synaptic filter (``tau_syn = 0``: current decay 4096, input gain 1) fed every step, so
        the first layer's neuron becomes that; bit for bit the same integers (the export sets decay 0 and
        sends once). The rate function, hence the ANN, does not depend on ``tau_syn``."""
        first = self.spiking_layers()[0]
        first.neuron = dataclasses.replace(self._first_neuron, tau_syn=0.0) if once else self._first_neuron
        self.input_once = bool(once)

    def forward(self, x: torch.Tensor, mode: Mode | str = Mode.ANN, steps: int = 16) -> torch.Tensor:
        mode = Mode(mode)
        if mode != Mode.ANN and steps < 1:
            raise ValueError("steps must be >= 1")
        if mode in (Mode.SNN, Mode.HYBRID) and not x.is_cuda and not self.graded:
            return self._streamed(x, mode, steps)
        act = Activity(mean=x)
        for layer in self.layers[:-1]:
            act = layer(act, mode, steps)
        return self.layers[-1](act, mode, steps, warmup=self.readout_warmup)

    def _streamed(self, x: torch.Tensor, mode: Mode, steps: int) -> torch.Tensor:
        body, readout = self.layers[:-1], self.layers[-1]
        first = next(m for m in body if isinstance(m, SpikingLayer))
        z_first = first.project(x) if mode == Mode.HYBRID else None  # reused by the rate path
        warm = min(self.readout_warmup, steps - 1) if self.readout_warmup > 0 else 0
        counts: dict[int, torch.Tensor] = {}
        trains: dict[int, list[torch.Tensor]] = {}
        states: dict[int, object] = {}
        late = None
        with torch.no_grad():
            z_const = z_first.detach() if z_first is not None else first.project(x)
            for t0 in range(0, steps, self.time_chunk):
                c = min(self.time_chunk, steps - t0)
                seq = None
                for i, m in enumerate(body):
                    if isinstance(m, Flatten):
                        seq = seq.reshape(seq.shape[0], -1, c)
                        continue
                    s, states[i] = m.spike_chunk(seq, z_const if seq is None else None, c, states.get(i))
                    counts[i] = counts[i] + s.sum(-1) if i in counts else s.sum(-1)
                    if m.record:
                        trains.setdefault(i, []).append(s)
                    seq, last = s / m.alpha, s
                lo = max(warm - t0, 0)
                if lo < c:  # spike counts of the last layer in the readout window
                    k = last.reshape(seq.shape).narrow(-1, lo, c - lo).sum(-1)
                    late = k if late is None else late + k
        act = x
        for i, m in enumerate(body):
            if isinstance(m, Flatten):
                act = act.reshape(act.shape[0], -1)
                continue
            act = m.rate_out(act, counts[i] / steps, mode, z_first if m is first else None)
            m.last_spikes = torch.cat(trains[i], -1) if m.record else None
        late_mean = late / (steps - warm) / self.spiking_layers()[-1].alpha
        mean = late_mean + (act - act.detach()) if mode == Mode.HYBRID else late_mean
        return readout.value(mean)

    @torch.no_grad()
    def layer_latencies(self, x: torch.Tensor, probe_steps: int = 64, batch_size: int = 8) -> list[int]:
        """Measured latency of each spiking layer on inputs ``x``: the step at which its filter has filled.

        With ``c_l[t]`` the layer's spikes per neuron at step ``t`` (mean over ``x``) in an ``snn`` run of
        ``probe_steps`` steps from rest, and ``r_l`` its mean over the second half of the run (steady state),
        the latency is the first ``t`` with ``mean(c_l[t : t + k]) >= (1 - 1/e) r_l``, ``k = ceil(tau_syn)``
        (one synaptic time constant): a first-order filter's rise time. A layer is never earlier than the one
        before it; a silent layer (``r_l = 0``) gets the one before it's latency.

        Sigma-delta layers send their one message per neuron as soon as their input has arrived: on Lava, whose
        synapses each delay by one step, layer ``l`` (0-based) sends at step ``l + 1``."""
        if self.graded:
            return [i + 1 for i in range(len(self.spiking_layers()))]
        layers = self.spiking_layers()
        per_step = [torch.zeros(probe_steps) for _ in layers]
        was = [m.record for m in layers]
        try:
            for m in layers:
                m.record = True
            for lo in range(0, len(x), batch_size):
                self(x[lo:lo + batch_size], Mode.SNN, probe_steps)
                for c, m in zip(per_step, layers):
                    s = m.last_spikes
                    c += s.reshape(s.shape[0], -1, s.shape[-1]).float().mean(1).sum(0).cpu()
        finally:
            for m, r in zip(layers, was):
                m.record, m.last_spikes = r, None
        out, prev = [], 0
        for c, m in zip(per_step, layers):
            c = c / len(x)
            steady = float(c[probe_steps // 2:].mean())
            k = max(1, math.ceil(m.neuron.tau_syn))
            lat = prev
            if steady > 0:
                ahead = torch.stack([c[t:t + k].mean() for t in range(probe_steps)])
                lat = max(prev, int(torch.nonzero(ahead >= (1 - math.exp(-1)) * steady)[0]))
            out.append(lat)
            prev = lat
        return out

    def spiking_layers(self) -> list[SpikingLayer]:
        return [m for m in self.layers if isinstance(m, SpikingLayer)]

    def geometry(self) -> list[tuple]:
        """Per layer with a synapse: ``(kind, weight shape, stride, padding)``, where kind is conv|convT|dense.
        Two networks with the same geometry compute the same function from the same weights."""
        out = []
        for m in self.layers:
            if isinstance(m, (SpikingLayer, Readout)):
                kind, w, stride, padding = slayer_ops.synapse_geometry(m.synapse)
                out.append((kind, tuple(w.shape), stride, padding))
        return out

    def layer_rates(self) -> list[torch.Tensor]:
        """Per-layer rates (spikes per step, shape (N, ...)) of the last forward pass."""
        return [m.rate for m in self.spiking_layers()]

    def set_alphas(self, alphas: list[float]) -> None:
        for layer, a in zip(self.spiking_layers(), alphas, strict=True):
            layer.alpha.fill_(float(a))

    def alphas(self) -> list[float]:
        return [float(m.alpha) for m in self.spiking_layers()]

