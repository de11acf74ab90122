"""Activity regularisation: the firing-rate terms added to the task loss.

Rates ``r`` are spikes per step per neuron (the layers' ``rate`` tensors, shape (N, ...)); ``L`` layers.

- ``toward`` (NengoDL style, the paper's; default): ``(1/L) sum_l mean_i (r_li - target)^2``, a two-sided
  pull of every neuron toward the target rate (it raises silent neurons as much as it lowers busy ones).
- ``above`` (one-sided): ``(1/L) sum_l mean_i max(r_li - target, 0)^2``; its gradient is
  ``2 (r_li - target) / (L n_l)`` above the target and exactly 0 at or below it.
- SynOps-weighted activity: ``sum_l f_l sum_i r_li / (N sum_l f_l n_l)``, with ``f_l`` the fan-out of
  layer ``l``'s output (unrolled synapses of the next layer / ``n_l`` neurons, as the energy model counts it)
  and ``N`` the batch. It is the network's synaptic operations per step as a share of all synapses, in
  [0, 1]: the Loihi estimate's SynOps term up to a constant. Gradient ``f_l / (N sum_l f_l n_l)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..compat import slayer_ops
from ..config import RATE_PENALTIES, RunConfig
from ..fixedpoint.format import FixedLayer
from ..models import Mode, SpikingNetwork
from ..models.layers import Activity, Flatten, Readout

def rate_penalty(rates: list[torch.Tensor], target_per_step: float) -> torch.Tensor:
    """Mean over layers of the mean squared deviation of each neuron's rate (spikes/step) from the target."""
    return torch.stack([((r - target_per_step) ** 2).mean() for r in rates]).mean()


def rate_penalty_above(rates: list[torch.Tensor], target_per_step: float) -> torch.Tensor:
    """Mean over layers of the mean squared excess of each neuron's rate over the target (0 at or below it)."""
    return torch.stack([(torch.relu(r - target_per_step) ** 2).mean() for r in rates]).mean()


def synops_penalty(rates: list[torch.Tensor], fan_outs: list[float]) -> torch.Tensor:
    """``sum_l f_l sum_i r_li / (N sum_l f_l n_l)``: synaptic operations per step and sample over all synapses."""
    total = sum(f * r[0].numel() for f, r in zip(fan_outs, rates, strict=True))
    ops = torch.stack([f * r.sum() for f, r in zip(fan_outs, rates, strict=True)]).sum()
    return ops / (rates[0].shape[0] * max(total, 1e-12))


def _unrolled_synapses(syn: torch.nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """Unrolled synapses of one SLAYER synapse, counted as :attr:`FixedLayer.synapses` counts them."""
    op, w, stride, padding = slayer_ops.synapse_geometry(syn)
    layer = FixedLayer(name="", op=op, weight=w.cpu().numpy(), bias=np.zeros(0), in_shape=in_shape,
                       out_shape=out_shape, stride=stride, padding=padding)
    return layer.synapses


@torch.no_grad()
def fan_outs(model: SpikingNetwork, input_shape: tuple[int, ...]) -> list[float]:
    """Fan-out of each spiking layer's output: the next layer's unrolled synapses / this layer's neurons
    (shapes from one ANN pass of a zero sample)."""
    act = Activity(mean=torch.zeros((1, *input_shape), device=next(model.parameters()).device))
    synapses, neurons = [], []
    for m in model.layers:
        if isinstance(m, Flatten):
            act = m(act, Mode.ANN, 1)
            continue
        out = m.value(act.mean) if isinstance(m, Readout) else m(act, Mode.ANN, 1).mean
        synapses.append(_unrolled_synapses(m.synapse, tuple(act.mean.shape[1:]), tuple(out.shape[1:])))
        neurons.append(out[0].numel())
        act = Activity(mean=out)
    return [synapses[i + 1] / neurons[i] for i in range(len(neurons) - 1)]


@dataclass
class ActivityRegularizer:
    """The activity terms of one training stage: ``rate_weight * rate term + synops_weight * SynOps term``."""

    rate_weight: float
    target_per_step: float
    penalty: str = "toward"
    synops_weight: float = 0.0
    fan_outs: list[float] | None = None

    def __post_init__(self) -> None:
        if self.penalty not in RATE_PENALTIES:
            raise ValueError(f"rate penalty must be one of {RATE_PENALTIES}, not {self.penalty!r}")
        if self.synops_weight > 0 and self.fan_outs is None:
            raise ValueError("the SynOps term needs the layers' fan-outs")

    @property
    def active(self) -> bool:
        return self.rate_weight > 0 or self.synops_weight > 0

    def __call__(self, rates: list[torch.Tensor]) -> torch.Tensor:
        fn = rate_penalty if self.penalty == "toward" else rate_penalty_above
        terms = []
        if self.rate_weight > 0:
            terms.append(self.rate_weight * fn(rates, self.target_per_step))
        if self.synops_weight > 0:
            terms.append(self.synops_weight * synops_penalty(rates, self.fan_outs))
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def activity_regularizer(cfg: RunConfig, model: SpikingNetwork, input_shape: tuple[int, ...],
                         spiking: bool = True) -> ActivityRegularizer:
    """The activity terms that ``cfg.train`` asks for (fan-outs measured on ``model`` only when needed).

    The SynOps term is a spike budget: it applies to the spiking fine-tuning (``spiking``), not to the ANN
    stage, where it would drive the rates toward zero before conversion (measured: compact LocNet, weight 20,
    converted SNN at 4.7 Hz and 0.40 IoU against 84 Hz and 0.64 without it)."""
    t = cfg.train
    synops = t.synops_reg_weight if spiking else 0.0
    return ActivityRegularizer(t.rate_reg_weight, t.rate_target_hz * cfg.dt_s, t.rate_penalty, synops,
                               fan_outs(model, tuple(input_shape)) if synops > 0 else None)
