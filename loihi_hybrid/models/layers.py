"""Layers whose neurons run in one of four modes on the same weights.

- ``ann``: the neuron's rate function of the synaptic input (no time axis).
- ``snn``: SLAYER's spiking CUBA dynamics over T steps; binary spikes.
- ``hybrid``: the ``snn`` forward pass exactly; the backward pass goes through the rate function's
  derivative at each neuron's time-averaged input (straight-through rate estimator). Only time-averaged
  tensors enter the autograd graph, so memory does not grow with T.
- ``bptt``: the ``snn`` forward pass with SLAYER's surrogate gradient back-propagated through time.

Sigma-delta neurons (``neuron.kind == "sd"``, graded messages) have no time axis to stream under a static
input: each neuron sends its activation once, where it reaches the delta threshold
(:func:`loihi_hybrid.neurons.sigma_delta.static_response`). Their ``snn`` output is that value; ``hybrid``
(and ``bptt``, which would propagate the same straight-through gradient) back-propagates through the ReLU.

Between layers flows an :class:`Activity`: ``seq`` (N, ..., T) holds the decoded spike trains
(spikes / scale) and ``mean`` (N, ...) their time average (in ``ann`` mode the rate itself).
A layer's firing-rate scale ``alpha`` is NengoDL's ``scale_firing_rates``: the neuron receives ``alpha * z``
and its output is divided by ``alpha``. Per-layer values implement data-based normalisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from torch import nn

from ..compat import slayer_ops
from ..neurons import NeuronParams, rate
from ..neurons import sigma_delta, spiking


class Mode(str, Enum):
    ANN = "ann"
    SNN = "snn"
    HYBRID = "hybrid"
    BPTT = "bptt"


@dataclass
class Activity:
    """Signal between layers: time-averaged value (with gradient) and, when spiking, the trains."""

    mean: torch.Tensor
    seq: torch.Tensor | None = None


class _Synaptic(nn.Module):
    """A SLAYER synapse plus a bias (a Loihi neuron's bias, added to the voltage each step)."""

    def __init__(self, synapse: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.synapse = synapse
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Synaptic input without bias; ``x`` is (N, C[, H, W]) or the same with a trailing time axis."""
        timed = x.dim() in (3, 5)
        y = self.synapse(x if timed else x.unsqueeze(-1))
        return y if timed else y.squeeze(-1)

    def bias_like(self, z: torch.Tensor, timed: bool) -> torch.Tensor:
        shape = [1, -1] + [1] * (z.dim() - 2 - int(timed))
        b = self.bias.view(*shape)
        return b.unsqueeze(-1) if timed else b


class SpikingLayer(_Synaptic):
    """Synapse + bias + CUBA neurons with the four modes; records its last firing rate."""

    def __init__(self, synapse: nn.Module, out_channels: int, neuron: NeuronParams, name: str) -> None:
        super().__init__(synapse, out_channels)
        self.neuron = neuron
        self.name = name
        if neuron.graded:
            # no bias: a biased neuron would send its bias before the image arrives (Lava delays each layer by
            # a step) and again after, and every layer downstream would pass that transient on
            self.bias.requires_grad_(False)
        self.register_buffer("alpha", torch.ones(()))
        #: spikes per step per neuron (ann: the rate), shape (N, ...); keeps its graph for regularisation
        self.rate: torch.Tensor | None = None
        self.record = False  # keep the spike trains of the last forward pass (for plots / parity checks)
        self.last_spikes: torch.Tensor | None = None

    def forward(self, x: Activity, mode: Mode, steps: int) -> Activity:
        a = self.alpha
        if self.neuron.graded and mode != Mode.ANN:
            return self._sigma_delta(x, mode, steps)
        # the projection of the time-averaged input: the rate path (ann, hybrid), and for the analog
        # input layer also the constant per-step current; not needed otherwise (snn, bptt)
        z_mean = self.project(x.mean) if mode in (Mode.ANN, Mode.HYBRID) or x.seq is None else None
        if mode == Mode.ANN:
            r = rate(a * (z_mean + self.bias_like(z_mean, timed=False)), self.neuron)
            self.rate = r
            return Activity(mean=r / a)
        if mode == Mode.BPTT:
            z_seq = self._input_sequence(x, z_mean, steps)
            s = spiking.spikes_surrogate(a * z_seq, a * self.bias_like(z_seq, True), self.neuron)
            self.rate = s.mean(-1)
            self.last_spikes = s.detach() if self.record else None
            return Activity(mean=self.rate / a, seq=s / a)
        with torch.no_grad():
            s, _ = self.spike_chunk(x.seq, None if z_mean is None else z_mean.detach(), steps)
        self.last_spikes = s if self.record else None
        return Activity(mean=self.rate_out(x.mean, s.mean(-1), mode, z_mean), seq=s / a)

    @torch.no_grad()
    def spike_chunk(self, seq: torch.Tensor | None, z_const: torch.Tensor | None, steps: int,
                    state: spiking.NeuronState | None = None) -> tuple[torch.Tensor, spiking.NeuronState | None]:
        """Spikes for ``steps`` steps of input, continuing from ``state``: ``seq`` are the decoded input
        spikes (N, ..., steps), or ``z_const`` (N, ...) is the analog input's constant synaptic current."""
        a = self.alpha
        z_seq = self.project(seq) if seq is not None else z_const.unsqueeze(-1).expand(*z_const.shape, steps)
        bias = a * self.bias_like(z_seq, True)
        if z_seq.is_cuda:  # SLAYER's CUDA kernel; it has no state to carry, so no chunks there
            return spiking.spikes(a * z_seq, bias, self.neuron), None
        return spiking.spikes_stateful(a * z_seq, bias, self.neuron, state)

    def rate_out(self, x_mean: torch.Tensor, spike_rate: torch.Tensor, mode: Mode,
                 z_mean: torch.Tensor | None = None) -> torch.Tensor:
        """The decoded output (N, ...) for measured ``spike_rate`` (spikes/step): its value is the measured
        rate; in ``hybrid`` mode its gradient is the rate function's at the averaged input (``z_mean`` is
        that input's projection, if already computed)."""
        a = self.alpha
        if mode == Mode.HYBRID:
            z = self.project(x_mean) if z_mean is None else z_mean
            r = rate(a * (z + self.bias_like(z, timed=False)), self.neuron)
            spike_rate = spike_rate + (r - r.detach())
        self.rate = spike_rate
        return spike_rate / a

    def _sigma_delta(self, x: Activity, mode: Mode, steps: int) -> Activity:
        """Sigma-delta neurons under a static input: the value each neuron's one message carries, with the ReLU's
        gradient in ``hybrid``/``bptt`` mode. ``rate`` is messages per step (each neuron sends at most one per
        sample); its gradient is the activation's divided by the delta threshold, so that the activity terms push
        a neuron's activation toward silence in proportion to what its message costs."""
        a, theta = self.alpha, self.neuron.threshold
        z = self.project(x.mean)
        act = rate(a * (z + self.bias_like(z, timed=False)), self.neuron)
        value, messages = sigma_delta.static_response(act.detach(), theta)
        grad = act - act.detach() if mode != Mode.SNN else torch.zeros_like(act)
        self.rate = (messages + grad / theta) / steps
        self.last_spikes = messages.unsqueeze(-1) if self.record else None
        return Activity(mean=(value + grad) / a)

    def _input_sequence(self, x: Activity, z_mean: torch.Tensor | None, steps: int) -> torch.Tensor:
        if x.seq is None:  # analog input (the image) presented as a constant current for T steps
            return z_mean.unsqueeze(-1).expand(*z_mean.shape, steps)
        return self.project(x.seq)


class Readout(_Synaptic):
    """Non-spiking output layer: its voltage integrates the synaptic input (no leak, no threshold).

    The decoded value is the input averaged over steps ``warmup .. T-1`` (on the chip: the voltage
    difference between those steps divided by their number), so the silent start of deep layers, which
    fill up one synaptic filter after another, does not bias the estimate.
    """

    def forward(self, x: Activity, mode: Mode, steps: int, warmup: int = 0) -> torch.Tensor:
        mean = x.mean
        if x.seq is not None and warmup > 0:
            late = x.seq[..., min(warmup, x.seq.shape[-1] - 1):].mean(-1)
            # hybrid: the late-window value with the rate path's gradient (straight-through)
            mean = late if mode == Mode.BPTT else late.detach() + (x.mean - x.mean.detach())
        return self.value(mean)

    def value(self, mean: torch.Tensor) -> torch.Tensor:
        """The readout for the time-averaged input ``mean`` (linear: equals the average per-step input)."""
        z = self.project(mean)
        return z + self.bias_like(z, timed=False)


class Flatten(nn.Module):
    """(N, C, H, W[, T]) -> (N, C*H*W[, T]); C-order as SLAYER's Flatten block."""

    def forward(self, x: Activity, mode: Mode, steps: int) -> Activity:
        seq = None if x.seq is None else x.seq.reshape(x.seq.shape[0], -1, x.seq.shape[-1])
        return Activity(mean=x.mean.reshape(x.mean.shape[0], -1), seq=seq)


def conv_layer(name: str, cin: int, cout: int, neuron: NeuronParams, kernel: int = 3, stride: int = 1) -> SpikingLayer:
    syn = slayer_ops.conv_synapse(cin, cout, kernel, stride=stride, padding=kernel // 2)
    he_init_(syn.weight, fan_in=cin * kernel * kernel)
    return SpikingLayer(syn, cout, neuron, name)


def conv_transpose_layer(name: str, cin: int, cout: int, neuron: NeuronParams, kernel: int = 2,
                         stride: int = 2) -> SpikingLayer:
    syn = slayer_ops.conv_transpose_synapse(cin, cout, kernel, stride=stride)
    he_init_(syn.weight, fan_in=cin * kernel * kernel // (stride * stride))
    return SpikingLayer(syn, cout, neuron, name)


def dense_layer(name: str, fin: int, fout: int, neuron: NeuronParams) -> SpikingLayer:
    syn = slayer_ops.dense_synapse(fin, fout)
    he_init_(syn.weight, fan_in=fin)
    return SpikingLayer(syn, fout, neuron, name)


def conv_readout(cin: int, cout: int, kernel: int = 3) -> Readout:
    syn = slayer_ops.conv_synapse(cin, cout, kernel, padding=kernel // 2)
    he_init_(syn.weight, fan_in=cin * kernel * kernel)
    return Readout(syn, cout)


def dense_readout(fin: int, fout: int) -> Readout:
    syn = slayer_ops.dense_synapse(fin, fout)
    he_init_(syn.weight, fan_in=fin)
    return Readout(syn, fout)


def dense_head(fin: int, hidden: tuple[int, ...], n_out: int, neuron: NeuronParams) -> list[nn.Module]:
    """Flatten, spiking dense layers ``fc1..`` of the ``hidden`` sizes, and a dense readout of ``n_out``."""
    layers: list[nn.Module] = [Flatten()]
    for i, f in enumerate(hidden):
        layers.append(dense_layer(f"fc{i + 1}", fin, f, neuron))
        fin = f
    return layers + [dense_readout(fin, n_out)]


def he_init_(w: torch.Tensor, fan_in: float) -> None:
    # He initialisation: keeps rectified activations at a similar scale through depth
    with torch.no_grad():
        w.normal_(0.0, (2.0 / fan_in) ** 0.5)
