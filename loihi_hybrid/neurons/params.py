"""Parameters of the discrete-time CUBA neuron (dt = 1 step), as Loihi stores them."""
from __future__ import annotations

import math
from dataclasses import dataclass

DECAY_SCALE = 1 << 12  # Loihi decays are 12-bit fractions of 4096
#: neuron kinds: leaky and non-leaky CUBA integrate-and-fire (binary spikes), sigma-delta (graded spikes)
NEURON_KINDS = ("lif", "if", "sd")


def decay_from_tau(tau_steps: float) -> int:
    """12-bit decay for an exponential time constant in steps; ``tau <= 0`` means no memory (4096)."""
    if tau_steps <= 0:
        return DECAY_SCALE
    return int(round(DECAY_SCALE * (1.0 - math.exp(-1.0 / tau_steps))))


@dataclass(frozen=True)
class NeuronParams:
    """One layer's neuron model.

    ``kind``: ``"lif"`` (leaky, soft-LIF rate; LocNet), ``"if"`` (no voltage leak; rectified-linear
    rate; CAE) or ``"sd"`` (Loihi 2's sigma-delta neuron with a ReLU: graded spikes that carry the change of
    ``relu(z + b)`` whenever it reaches ``threshold``, the delta threshold; rate function ``relu``; see
    :mod:`loihi_hybrid.neurons.sigma_delta`). ``tau_syn``: synaptic (current) filter in steps, paper 5 ms at dt = 1 ms.
    ``tau_rc``: membrane time constant in steps (ignored for ``"if"``). ``gamma``: soft-rectifier
    smoothing. ``t_ref``: extra steps added to the inter-spike period in the smooth rate so that it
    tracks the reset-to-zero neuron's ``1/ceil(period)`` on average (the fractional part of the period
    is lost at each reset, 0.5 steps on average). ``tau_grad``/``scale_grad``: SLAYER surrogate for BPTT.
    """

    kind: str = "lif"
    threshold: float = 1.0
    tau_syn: float = 5.0
    tau_rc: float = 20.0
    gamma: float = 0.005
    t_ref: float = 0.5
    tau_grad: float = 0.5
    scale_grad: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in NEURON_KINDS:
            raise ValueError(f"neuron kind must be 'lif', 'if' or 'sd', not {self.kind!r}")
        if not self.threshold > 0:
            raise ValueError("neuron threshold must be > 0")
        if self.t_ref < 0 or self.gamma < 0:
            raise ValueError("t_ref and gamma must be >= 0")

    @property
    def graded(self) -> bool:
        """Sigma-delta: graded messages, no synaptic filter or voltage."""
        return self.kind == "sd"

    @property
    def current_decay(self) -> int:
        return decay_from_tau(self.tau_syn)

    @property
    def voltage_decay(self) -> int:
        return 0 if self.kind == "if" else decay_from_tau(self.tau_rc)
