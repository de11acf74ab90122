"""Batched, bit-exact emulation of an exported fixed-point network (the ``emu`` backend).

The arithmetic is that of Lava's bit-accurate process models for Loihi (``PyLifModelBitAcc``,
``PyConvModelFixed``, ``PyDenseModelBitAcc``, ``PySparseModelBitAcc``, ``PyDeltaModelFixed``,
``PySigmaDeltaModelFixed``, ``PySigmaModelFixed``):

- synapses: ``Conv`` sums wrap at 24 bits; ``Dense``/``Sparse`` use the weights as Lava holds them
  (:meth:`FixedLayer.synapse`) and shift the sum by the weight exponent, ``a = (W x) >> -e`` (floor); an
  input of 0 message bits is binary (any non-zero value is a spike);
- CUBA: ``u = (u (4096 - du) >> 12 toward zero) + (a << 6)``, wrapping around at 24 bits;
  ``v = (v (4096 - dv) >> 12) + u + (bias << 6)``, saturating; a spike when ``v > vth << 6``, then ``v = 0``;
- sigma-delta (``s = spike_exp``): ``sigma += a``, ``act = max(sigma + (bias << s + 6), 0)`` (on an input
  layer ``act = a << s + 6``), ``delta = act - act_prev + residue``, sent as ``delta >> 6`` where
  ``|delta| >= vth << s + 6`` (else kept as the residue); ``Sigma`` sends ``sigma`` every step.

Time: with ``pipeline=False`` (default) every layer sees its input in the same step, whereas Lava delays
each synapse by one step; with per-sample resets one step later per layer (NetX's ``reset_interval``, as
``deploy`` runs Lava) the spikes within each sample's window are the same (``tests/test_lava_parity.py``).
``pipeline=True`` delays every synapse by one step as Lava does: a fresh Lava run of the same steps,
spike for spike (``tests/test_netx_zoo.py``).

Synaptic sums are computed with float32 convolutions, which are exact while the sums stay below 2**24;
a layer where they might not uses float64. Many small tensor operations per step: see
:func:`emulator_threads` for the thread policy.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .format import MANT_SHIFT, STATE_LIMIT, FixedLayer, FixedNetwork, pair


@dataclass
class EmuResult:
    readout: np.ndarray | None          # (N, ...) decoded readout, training-time units (None: plain NetX file)
    v_warm: np.ndarray                  # last layer's state (CUBA: voltage) at the end of step warmup-1
    v_end: np.ndarray                   # ... at the end of step T-1
    counts: np.ndarray                  # (N, L) spikes (non-zero messages) per sample and layer
    peak_current: list[float] = field(default_factory=list)  # per layer max |current| before the wrap
    peak_voltage: list[float] = field(default_factory=list)  # per layer max |voltage| before the clip
    #: (L,) neuron-steps whose current wrapped around at 24 bits (a graded layer: whose message was wider than
    #: the layer's message bits)
    wrapped: np.ndarray | None = None
    #: (L,) neuron-steps whose voltage was clipped to 24 bits, where a clip can change a spike (not in a first
    #: layer under a static input that :meth:`FixedLayer.static_clip_is_harmless` clears); a sigma-delta
    #: layer: whose ``sigma + bias`` passed 24 bits
    saturated: np.ndarray | None = None
    spikes: list[np.ndarray] | None = None  # per layer (N, *out_shape, T): bool, or int32 for graded messages
    state: np.ndarray | None = None     # (N, *out_shape, T) last layer's state every step, when recorded

    @property
    def peak_state(self) -> list[float]:
        """Per layer, the larger of the current's and the voltage's peak."""
        return [max(c, v) for c, v in zip(self.peak_current, self.peak_voltage)]

    @property
    def overflows(self) -> np.ndarray:
        """(L, 2): per layer the wrapped currents and the counted voltage clips (neuron-steps)."""
        return np.stack([self.wrapped, self.saturated], 1)


#: the emulator runs on one thread below this many synaptic operations per step (batch x unrolled synapses).
#: Measured on the committed LocNet export (16 M synapses) on 2 busy shared cores: torch's default 2 threads
#: took 10.9x (8 images) and 8.9x (64 images, 5e8 per step) the time of one thread.
THREAD_WORK = 1e10
DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice, read at import


def emulator_threads(net: FixedNetwork, batch: int) -> int:
    """Torch intra-op threads for emulating ``batch`` samples of ``net``: 1, unless one step's synaptic work
    (``batch`` x unrolled synapses) exceeds :data:`THREAD_WORK`, then torch's default (the cores it sees).
    Each step runs dozens of small integer operations per layer; multi-threaded, each waits for its slowest
    thread, which on shared or busy cores makes the whole run several times slower."""
    work = batch * sum(ly.synapses for ly in net.layers)
    return 1 if work < THREAD_WORK else max(1, DEFAULT_THREADS)


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the previous setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _decay(x: torch.Tensor, d: int) -> torch.Tensor:
    """``x * (4096 - d) >> 12`` toward zero, as Loihi's decay."""
    prod = x * (4096 - d)
    return torch.sign(prod) * torch.div(prod.abs(), 4096, rounding_mode="floor")


def _wrap24(x: torch.Tensor) -> torch.Tensor:
    """Signed 24-bit wrap-around (Lava's ``signed_clamp``)."""
    return torch.remainder(x + STATE_LIMIT, 2 * STATE_LIMIT) - STATE_LIMIT


class _Synapse:
    """Integer synaptic sum of one layer as Lava computes it, on float32 (exact here) or float64 tensors."""

    def __init__(self, layer: FixedLayer, max_input: float, graded: bool) -> None:
        self.layer, self.graded = layer, graded
        w, rec, self.exp = layer.synapse()
        self.wrap = layer.op == "conv" and not layer.weight_exp   # Lava's Conv process
        a = np.abs(w.astype(np.float64))
        per_output = a.sum(axis=(0, 2, 3)) if layer.op == "convT" else a.reshape(a.shape[0], -1).sum(1)
        if rec is not None:
            per_output = per_output + np.abs(rec).sum(1)
        exact32 = float(per_output.max(initial=0)) * max_input < 2 ** 24
        self.dtype = torch.float32 if exact32 else torch.float64
        self.w = torch.as_tensor(w, dtype=self.dtype)
        self.rec = None if rec is None else torch.as_tensor(rec, dtype=self.dtype)

    def _shift(self, y: torch.Tensor) -> torch.Tensor:
        y = torch.round(y).to(torch.int64)
        if self.exp:
            y = y << self.exp if self.exp > 0 else y >> -self.exp
        return y

    def __call__(self, s: torch.Tensor) -> torch.Tensor:
        L = self.layer
        x = (s if self.graded else s != 0).to(self.dtype)
        if L.flatten_input or (L.op == "dense" and x.dim() > 2):
            x = x.reshape(x.shape[0], -1)
        if L.op == "dense":
            y = x @ self.w.T
        elif L.op == "conv":
            y = F.conv2d(x, self.w, stride=pair(L.stride), padding=pair(L.padding), dilation=pair(L.dilation),
                         groups=L.groups)
        else:
            y = F.conv_transpose2d(x, self.w, stride=pair(L.stride), padding=pair(L.padding))
        y = self._shift(y)
        return _wrap24(y) if self.wrap else y

    def recurrent(self, own: torch.Tensor) -> torch.Tensor:
        x = (own if self.graded else own != 0).to(self.dtype)
        return self._shift(x.reshape(x.shape[0], -1) @ self.rec.T)


class _State:
    """One layer's neuron registers for a batch of ``b`` samples, all starting at 0."""

    def __init__(self, layer: FixedLayer, b: int, spike_exp: int, sends: bool = True) -> None:
        self.layer = layer
        self.sends = sends  # its messages feed another layer (the last layer's state is read instead)
        shape = (b, *layer.out_shape)
        zeros = lambda: torch.zeros(shape, dtype=torch.int64)  # noqa: E731
        view = (-1, *([1] * (len(layer.out_shape) - 1)))
        bias = torch.as_tensor(layer.bias, dtype=torch.int64).view(view)
        self.out = torch.zeros(shape, dtype=torch.int64 if layer.message_bits else torch.bool)
        self.wrapped = torch.zeros((), dtype=torch.int64)    # neuron-steps whose current wrapped around
        self.saturated = torch.zeros((), dtype=torch.int64)  # neuron-steps whose voltage was clipped
        if layer.neuron == "cuba":
            self.u, self.v = zeros(), zeros()
            self.bias = bias << MANT_SHIFT
            self.vth = layer.vth << MANT_SHIFT
        else:
            shift = spike_exp + MANT_SHIFT     # NetX's state_exp is 6
            self.shift = shift
            self.sigma, self.act, self.residue = zeros(), zeros(), zeros()
            self.bias = bias << shift
            self.vth = layer.vth << shift

    @property
    def value(self) -> torch.Tensor:
        """The state the host reads: the voltage (CUBA) or the running sum (sigma-delta)."""
        return self.v if self.layer.neuron == "cuba" else self.sigma

    def step(self, a: torch.Tensor, bias: torch.Tensor | None = None, peaks: list[list[float]] | None = None,
             i: int = 0) -> torch.Tensor:
        ly, m = self.layer, STATE_LIMIT
        if ly.neuron == "cuba":
            c = _decay(self.u, ly.i_decay) + (a << MANT_SHIFT)
            high, low = c > m, c <= -m
            self.u = torch.where(high, c - 2 * m, torch.where(low, c + 2 * m, c))
            vv = _decay(self.v, ly.v_decay) + self.u + (self.bias if bias is None else bias << MANT_SHIFT)
            if peaks is not None:
                peaks[i][0] = max(peaks[i][0], float(c.abs().max()))
                peaks[i][1] = max(peaks[i][1], float(vv.abs().max()))
            # every wrap and saturation is counted, so that a run can say where the chip leaves the model
            self.wrapped += (high | low).sum()
            self.saturated += (vv.abs() > m - 1).sum()
            vv = vv.clamp(-(m - 1), m - 1)
            s = vv > self.vth
            self.v = torch.where(s, torch.zeros_like(vv), vv)
            self.out = s if not ly.message_bits else s.to(torch.int64)
            return self.out
        if ly.neuron == "sigma":
            self.sigma = self.sigma + a
            self.out = self.sigma
            self._count_graded(self.sigma)
            return self.out
        if ly.op == "input":                    # Delta: encodes its input
            act = a << self.shift
        else:                                   # SigmaDelta with ReLU (NetX's activation)
            self.sigma = self.sigma + a
            state = self.sigma + self.bias
            act = torch.clamp(state, min=0)
            if peaks is not None:               # the quantiser's limits: message, and sigma + bias
                peaks[i][1] = max(peaks[i][1], float(state.abs().max()))
        delta = act - self.act + self.residue
        sent = torch.where(delta.abs() >= self.vth, delta, torch.zeros_like(delta))
        self.residue = delta - sent
        self.act = act
        if ly.op == "input":
            self.sigma = act
        self.out = sent >> MANT_SHIFT
        self._count_graded(None if ly.op == "input" else state)
        if peaks is not None:
            peaks[i][0] = max(peaks[i][0], float(self.out.abs().max()))
        return self.out

    def _count_graded(self, state: torch.Tensor | None) -> None:
        """A graded layer's overflows, counted where the chip would leave the model (Lava's Python models keep
        wider integers, so ``sim`` agrees with the emulator there): messages to the next layer wider than the
        layer's message bits (in ``wrapped``) and ``sigma + bias`` beyond the 24-bit register (in ``saturated``)."""
        if self.layer.message_bits and self.sends:
            self.wrapped += (self.out.abs() > (1 << (self.layer.message_bits - 1)) - 1).sum()
        if state is not None:
            self.saturated += (state.abs() > STATE_LIMIT - 1).sum()


def _input_bits(net: FixedNetwork) -> list[int]:
    """Message bits of each layer's input."""
    bits = [net.input_bits]
    for ly in net.layers[:-1]:
        bits.append(ly.message_bits)
    return bits


def run_network(net: FixedNetwork, drive: np.ndarray, steps: int, *, bias_input: bool | None = None,
                pipeline: bool = False, batch_size: int = 32, record: bool = False, record_peaks: bool = False,
                record_state: bool = False, progress: Callable[[int], None] | None = None,
                threads: int | None = None, input_once: bool = False) -> EmuResult:
    """Run integer inputs ``drive`` through ``net`` for ``steps`` steps per sample, every sample from zero state.

    ``drive``: ``(N, *net.input_shape)`` (the same every step) or ``(N, *net.input_shape, steps)``. It enters
    as the first layer's input messages, or, with ``bias_input`` (default: ``net.bias_input``, a CUBA input
    layer as lava-dl's examples feed it), as that layer's bias mantissa in place of the file's.
    ``readout`` of the result is None; ``v_warm``/``v_end`` hold the last layer's state at the end of steps
    ``net.warmup - 1`` (zeros if 0) and ``steps - 1``. ``threads``: torch threads (default
    :func:`emulator_threads`). ``input_once``: ``drive`` (no time axis) enters at step 0 only, input 0 after."""
    drive = np.asarray(drive)
    n = len(drive)
    timed = drive.ndim == len(net.input_shape) + 2
    bias_input = net.bias_input if bias_input is None else bias_input
    bits = _input_bits(net)
    first_max = float(np.abs(drive).max(initial=0)) if bits[0] else 1.0
    syn = [None if ly.op == "input" else
           _Synapse(ly, first_max if i == 0 else (2.0 ** 23 if bits[i] else 1.0), bits[i] > 0)
           for i, ly in enumerate(net.layers)]
    L = len(net.layers)
    out_shape = net.readout.out_shape
    counts = np.zeros((n, L), np.int64)
    v_warm = np.zeros((n, *out_shape), np.int64)
    v_end = np.zeros((n, *out_shape), np.int64)
    peaks = [[0.0, 0.0] for _ in range(L)]  # per layer: current, voltage
    wrapped, saturated = np.zeros(L, np.int64), np.zeros(L, np.int64)
    # a first layer whose clipped voltage cannot change a spike is not counted (nothing to warn about)
    count_clips = [not (i == 0 and not timed and not bias_input and ly.static_clip_is_harmless(input_once))
                   for i, ly in enumerate(net.layers)]
    trains: list[list[np.ndarray]] = [[] for _ in range(L)]
    states: list[np.ndarray] = []
    threads = emulator_threads(net, min(batch_size, max(n, 1))) if threads is None else threads
    with torch.no_grad(), torch_threads(threads):
        for lo in range(0, n, batch_size):
            q = torch.as_tensor(drive[lo:lo + batch_size], dtype=torch.int64)
            b = len(q)
            st = [_State(ly, b, net.spike_exp, sends=i < L - 1) for i, ly in enumerate(net.layers)]
            prev_in = torch.zeros_like(q[..., 0] if timed else q)
            rec: list[list[np.ndarray]] | None = [[] for _ in range(L)] if record else None
            vals: list[np.ndarray] = []
            for t in range(steps):
                x = q[..., t] if timed else (torch.zeros_like(q) if input_once and t > 0 else q)
                prev = [s.out for s in st]             # every layer's output of step t-1
                for i, (ly, s) in enumerate(zip(net.layers, st)):
                    if i == 0:
                        src = prev_in if pipeline and ly.op != "input" else x
                    else:
                        src = prev[i - 1] if pipeline else st[i - 1].out
                    if ly.op == "input":
                        a = torch.zeros_like(x) if bias_input else x
                    else:
                        a = syn[i](src)
                        if ly.rec_weight is not None:
                            a = a + syn[i].recurrent(prev[i])
                    out = s.step(a, x if (i == 0 and bias_input) else None, peaks if record_peaks else None, i)
                    counts[lo:lo + b, i] += (out != 0).reshape(b, -1).sum(1).numpy()
                    if rec is not None:
                        rec[i].append(out.numpy().copy())
                prev_in = x
                if t == net.warmup - 1:
                    v_warm[lo:lo + b] = st[-1].value.numpy()
                if record_state:
                    vals.append(st[-1].value.numpy().copy())
            v_end[lo:lo + b] = st[-1].value.numpy()
            wrapped += [int(s.wrapped) for s in st]
            saturated += [int(s.saturated) if counted else 0 for s, counted in zip(st, count_clips)]
            if rec is not None:
                for i in range(L):
                    trains[i].append(np.stack(rec[i], axis=-1))
            if record_state:
                states.append(np.stack(vals, axis=-1))
            if progress is not None:
                progress(b)
    spikes = None
    if record:
        spikes = [np.concatenate(tr) if tr else np.zeros((0, *ly.out_shape, steps), bool)
                  for tr, ly in zip(trains, net.layers)]
        spikes = [s.astype(np.int32) if s.dtype != np.bool_ else s for s in spikes]
    return EmuResult(readout=None, v_warm=v_warm, v_end=v_end, counts=counts,
                     peak_current=[float(c) for c, _ in peaks], peak_voltage=[float(v) for _, v in peaks],
                     wrapped=wrapped, saturated=saturated,
                     spikes=spikes, state=np.concatenate(states) if record_state and states else None)


def emulate(net: FixedNetwork, x: np.ndarray, batch_size: int = 32, record: bool = False,
            record_peaks: bool = False, progress: Callable[[int], None] | None = None,
            threads: int | None = None) -> EmuResult:
    """Run ``net`` on images ``x`` (N, C, H, W) in [0, 1] for ``net.steps`` steps each (states reset per sample):
    the images are sent as graded spikes every step (once, at the first step, where ``net.input_once``);
    ``readout`` is decoded from the readout voltages. A network with sigma-delta neurons, which Lava cannot reset
    and runs each sample afresh, runs with Lava's one-step synaptic delays (``pipeline``)."""
    r = run_network(net, net.encode_input(x), net.steps, bias_input=False, batch_size=batch_size, record=record,
                    record_peaks=record_peaks, progress=progress, threads=threads, input_once=net.input_once,
                    pipeline=net.pipelined)
    r.readout = net.decode_readout(r.v_warm, r.v_end)
    return r
