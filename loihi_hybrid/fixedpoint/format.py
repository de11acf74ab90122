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
"""
from __future__ import annotations

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
HEADROOM = 0.5            # calibrated peak state may use at most half of the 24-bit range


@dataclass
class FixedLayer:
    """One layer in chip units. Weights in PyTorch layout: conv ``(Co, Ci, kh, kw)``, convT
    ``(Ci, Co, kh, kw)``, dense ``(Fo, Fi)``; ``bias`` is the per-channel bias mantissa."""

    name: str
    op: str                      # "conv" | "convT" | "dense"
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple[int, ...]    # (C, H, W) or (F,)
    out_shape: tuple[int, ...]
    stride: int = 1
    padding: int = 0
    i_decay: int = DECAY_SCALE   # current decay, 12-bit fraction (4096: no memory)
    v_decay: int = 0             # voltage decay (0: perfect integrator)
    vth: int = VTH_MAX           # threshold mantissa
    spiking: bool = True
    weight_exp: int = 0          # synaptic sums are shifted by this (negative: right) before the neuron
    scale: float = 1.0           # k: chip units per training-time unit
    flatten_input: bool = False  # input arrives from a (C, H, W) layer and is flattened in C order

    @property
    def neurons(self) -> int:
        return int(np.prod(self.out_shape))

    @property
    def synapses(self) -> int:
        """Synapses once unrolled (one per output neuron and kernel tap; border taps included)."""
        return int(self.weight.size) if self.op == "dense" else self.neurons * self.fan_in

    @property
    def fan_in(self) -> int:
        if self.op == "dense":
            return int(self.weight.shape[1])
        if self.op == "conv":
            return int(np.prod(self.weight.shape[1:]))
        ci, _, kh, kw = self.weight.shape  # convT: each output pixel sees ci * (kh/stride) * (kw/stride) taps
        return int(ci * max(1, kh // self.stride) * max(1, kw // self.stride))


@dataclass
class FixedNetwork:
    """A feed-forward chain of :class:`FixedLayer`; the last one is the non-spiking readout."""

    layers: list[FixedLayer]
    input_shape: tuple[int, int, int]
    steps: int
    warmup: int
    input_levels: int = INPUT_LEVELS
    meta: dict = field(default_factory=dict)

    @property
    def readout(self) -> FixedLayer:
        return self.layers[-1]

    def encode_input(self, x: np.ndarray) -> np.ndarray:
        """Images (N, C, H, W) in [0, 1] -> graded input spike values (int32)."""
        return np.clip(np.rint(np.asarray(x, np.float64) * self.input_levels), 0, self.input_levels).astype(np.int32)

    def decode_readout(self, v_warm: np.ndarray, v_end: np.ndarray) -> np.ndarray:
        """Readout voltages at the start and end of the readout window -> training-time readout values."""
        n = self.steps - self.warmup
        return (v_end.astype(np.float64) - v_warm) / (4096.0 * self.readout.scale * n)
