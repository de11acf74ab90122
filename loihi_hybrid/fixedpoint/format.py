"""The fixed-point format: the trained network as Loihi stores it: integer weights, biases, decays and thresholds.

Each layer gets its own scale ``k``: a training-time quantity ``q`` (on SLAYER's 1/4096 state grid) is
``k * q`` on the chip. Loihi's CUBA neuron shifts synaptic input, bias and threshold left by 6 bits, so
for a training-time effective weight ``W_eff`` (per input spike, with the layer's firing-rate scale
``alpha`` and the current filter's gain folded in) the chip weight is ``64 k W_eff``, the bias mantissa
``64 k alpha b`` and the threshold mantissa ``64 k theta``. ``k`` is as large as the 8-bit weights
(even values in [-256, 254], the grid SLAYER and NetX use), the 17-bit threshold and the 13-bit bias
allow, then lowered where a calibration run would overflow the 24-bit current or voltage.

The first layer receives the image as graded spikes: 8-bit pixel values ``round(255 x)`` every step.
The non-spiking readout integrates its input in the voltage (no leak, no threshold); the host decodes
the readout value as the voltage change over the readout window divided by ``4096 k n``.

Plain NetX files (written by lava-dl, without ``/loihi_hybrid`` metadata) add what lava-dl's blocks can hold:
an ``input`` layer with its own neuron, per-axis strides, paddings and dilations, groups, recurrent dense
layers and sigma-delta neurons (:data:`NEURONS`). How Lava turns stored weights into synapses is part of
the arithmetic, so it is modelled here (:func:`synapse_weights`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..neurons.params import DECAY_SCALE

WEIGHT_MAX = 254          # 8-bit signed mantissa on the even grid (SLAYER's quantize_8bit, Lava's Sparse)
VTH_MAX = (1 << 17) - 1   # threshold mantissa, unsigned 17 bits
BIAS_MAX = (1 << 12) - 1  # bias mantissa, signed 13 bits
STATE_LIMIT = 1 << 23     # current and voltage are signed 24-bit registers
MANT_SHIFT = 6            # Loihi left-shifts synaptic input, bias and threshold by 6 bits
INPUT_LEVELS = 255        # graded input spikes carry 8-bit pixel values
INPUT_MESSAGE_BITS = 8
HEADROOM = 0.5            # calibrated peak current (it wraps) and readout voltage may use half the 24-bit range
SPIKE_EXP = 6             # NetX's default decimal place of graded sigma-delta spikes
SDNN_MESSAGE_BITS = 16    # NetX's default message bits of a sigma-delta layer
#: neuron models: Loihi's CUBA LIF; sigma-delta (``Delta`` on an input layer, ``SigmaDelta`` elsewhere);
#: ``Sigma`` (a sigma-delta network's output: the running sum of its input, sent every step)
NEURONS = ("cuba", "sdnn", "sigma")

def pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """``(h, w)`` of a stride, padding or dilation stored as one int (square) or per axis."""
    return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))


def _sign_mode(w: np.ndarray) -> str:
    """Lava's sign mode of a weight matrix (``lava.utils.weightutils.determine_sign_mode``)."""
    return "exc" if w.min() >= 0 else "inh" if w.max() <= 0 else "mixed"


def lava_synapse_weights(w: np.ndarray, num_weight_bits: int = 8) -> np.ndarray:
    """The weights a bit-accurate Lava ``Dense``/``Sparse`` synapse uses: clipped to 8 bits for its sign
    mode (mixed [-256, 255], excitatory [0, 255], inhibitory [-255, 0]), then the low
    ``8 - num_weight_bits + mixed`` bits cleared (on the magnitude for inhibitory weights)."""
    w = np.asarray(w, np.int64)
    if w.size == 0:
        return w
    mode = _sign_mode(w)
    s = -w if mode == "inh" else w
    s = np.clip(s, -256 if mode == "mixed" else 0, 255)
    t = 8 - num_weight_bits + (mode == "mixed")
    s = (s >> t) << t
    return -s if mode == "inh" else s


def netx_dense_weights(w: np.ndarray) -> tuple[np.ndarray, int]:
    """``(weights, weight exponent)`` of a dense layer as NetX builds it (``netx.utils.optimize_weight_bits``
    followed by the synapse's :func:`lava_synapse_weights`): the 8-bit mantissas are shifted left by ``s``
    bits to fill the synapse's range and the exponent is ``-s``, so ``(W' x) >> s`` is ``W x`` for the
    weights SLAYER writes. An all-zero matrix stays zero (NetX itself cannot build one)."""
    w = np.asarray(w, np.int64)
    if w.size == 0 or not w.any():
        return np.zeros_like(w), 0
    hi, lo = int(w.max()), int(w.min())
    if (hi > 254 and lo < 0) or (lo < -256 and hi > 0):
        w = np.clip(w, -256, 254)
        hi, lo = int(w.max()), int(w.min())
    signed = int(hi >= 0 and lo < 0)
    scale = -256 / lo if hi < 0 else 255 / hi if lo >= 0 else min(127 / hi if hi else math.inf, -128 / lo)
    shift = math.floor(math.log2(scale)) + signed
    n = next((k for k in range(8, 0, -1) if not np.any(w % (1 << k))), 0) - signed
    bits = 8 - shift - n
    w = w << shift if shift >= 0 else w >> -shift
    return lava_synapse_weights(w, bits), -shift


@dataclass
class FixedLayer:
    """One layer in chip units. Weights in PyTorch layout: conv ``(Co, Ci, kh, kw)``, convT
    ``(Ci, Co, kh, kw)``, dense ``(Fo, Fi)``; ``bias`` is the per-channel bias mantissa."""

    name: str
    op: str                      # "conv" | "convT" | "dense" | "input" (a neuron layer without synapses)
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple[int, ...]    # (C, H, W) or (F,)
    out_shape: tuple[int, ...]
    stride: int | tuple[int, int] = 1      # int when square, else (h, w)
    padding: int | tuple[int, int] = 0
    i_decay: int = DECAY_SCALE   # current decay, 12-bit fraction (4096: no memory)
    v_decay: int = 0             # voltage decay (0: perfect integrator)
    vth: int = VTH_MAX           # threshold mantissa
    spiking: bool = True
    weight_exp: int = 0          # synaptic sums are shifted by this (negative: right) before the neuron
    scale: float = 1.0           # k: chip units per training-time unit
    flatten_input: bool = False  # input arrives from a (C, H, W) layer and is flattened in C order
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    neuron: str = "cuba"         # one of NEURONS
    message_bits: int = 0        # bits of this layer's output messages (0: binary spikes)
    rec_weight: np.ndarray | None = None   # dense_rec: (F, F) weights from the layer's own output

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def synapses(self) -> int:
        """Synapses once unrolled (one per output neuron and kernel tap; border taps included)."""
        if self.op == "input":
            return 0
        own = 0 if self.rec_weight is None else int(self.rec_weight.size)
        return own + (int(self.weight.size) if self.op == "dense" else self.neurons * self.fan_in)

    @property
    def fan_in(self) -> int:
        if self.op == "input":
            return 0
        if self.op == "dense":
            return int(self.weight.shape[1])
        if self.op == "conv":
            return int(np.prod(self.weight.shape[1:]))
        sh, sw = pair(self.stride)  # convT: each output pixel sees ci * (kh/stride) * (kw/stride) taps
        ci, _, kh, kw = self.weight.shape
        return int(ci * max(1, kh // sh) * max(1, kw // sw))

    def synapse(self) -> tuple[np.ndarray, np.ndarray | None, int]:
        """``(weights, recurrent weights or None, exponent)`` as Lava's synapses hold them: NetX's dense layers
        (:func:`netx_dense_weights`, one exponent for both matrices of a ``dense_rec``), the ``Sparse``
        layers of the extensions (:func:`lava_synapse_weights`), ``Conv`` as stored."""
        if self.op == "dense" and not self.weight_exp:
            if self.rec_weight is None:
                w, exp = netx_dense_weights(self.weight)
                return w, None, exp
            both, exp = netx_dense_weights(np.hstack([self.weight, self.rec_weight]))
            return both[:, :self.weight.shape[1]], both[:, self.weight.shape[1]:], exp
        if self.op in ("conv", "input") and not self.weight_exp:
            return np.asarray(self.weight, np.int64), None, 0
        return lava_synapse_weights(self.weight), None, self.weight_exp

    def static_clip_is_harmless(self, input_once: bool = False) -> bool:
        """True where this layer, as the first one and fed the same input every step (or once, held by
        ``i_decay`` 0), spikes the same whether its voltage saturates at 24 bits or not.

        Why: the current then moves monotonically from 0 toward its steady value, so the voltage's
        increment ``g = u + bias`` is monotonic too. A negative increment that drives ``v`` below
        ``-(2**23 - 1)`` (``g <= -(2**23 - 1) dv / 4096``) only grows more negative when ``u`` falls, and then
        both the clipped and the unclipped voltage stay far below threshold for good. When ``u`` rises, ``g``
        is at least the bias, and the voltage stays above ``bias_min * 4096 / dv`` (rounding toward zero only
        raises it), which this checks is above the clip; a layer without leak (``dv`` 0) needs a bias >= 0.
        """
        if self.neuron != "cuba" or not self.spiking or self.rec_weight is not None:
            return False
        if input_once and self.i_decay != 0:  # an input sent once decays unless the current holds it
            return False
        low = -min(int(np.min(self.bias, initial=0)), 0) << MANT_SHIFT  # the most negative bias, per step
        return low == 0 or (self.v_decay > 0 and low * DECAY_SCALE / self.v_decay < STATE_LIMIT - 1)


@dataclass
class FixedNetwork:
    """A feed-forward chain of :class:`FixedLayer`; the last one is the non-spiking readout."""

    layers: list[FixedLayer]
    input_shape: tuple[int, ...]   # (C, H, W), or (F,) for a dense-only plain NetX file
    steps: int
    warmup: int
    input_levels: int = INPUT_LEVELS
    meta: dict = field(default_factory=dict)
    input_bits: int = INPUT_MESSAGE_BITS   # message bits of the network's input (0: binary spikes)
    spike_exp: int = SPIKE_EXP             # sigma-delta graded spikes carry 2**spike_exp per unit
    input_once: bool = False               # the image is sent once per sample (first step), held by the first
                                           # layer's current (iDecay 0); else every step

    @property
    def readout(self) -> FixedLayer:
        return self.layers[-1]

    @property
    def pipelined(self) -> bool:
        """Sigma-delta neurons cannot be reset on Lava: each sample runs as a fresh run, with Lava's step delays."""
        return any(ly.neuron != "cuba" for ly in self.layers)

    @property
    def bias_input(self) -> bool:
        """Inputs set the first layer's bias (a CUBA ``input`` layer, as lava-dl's own examples feed it)."""
        first = self.layers[0]
        return first.op == "input" and first.neuron == "cuba"

    def encode_input(self, x: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) in [0, 1] -> graded input spike values (int32)."""
        return np.clip(np.rint(np.asarray(x, np.float64) * self.input_levels), 0, self.input_levels).astype(np.int32)

    def decode_readout(self, v_warm: np.ndarray, v_end: np.ndarray) -> np.ndarray:
        """Readout voltages at the start and end of the readout window -> training-time readout values."""
        n = self.steps - self.warmup
        return (v_end.astype(np.float64) - v_warm) / (4096.0 * self.readout.scale * n)
