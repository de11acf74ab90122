"""ANN -> SNN conversion on the same weights: per-layer firing-rate scales ``alpha``.

- ``global``: the paper's post-training scaling (NengoDL ``scale_firing_rates``): every layer's neurons get
  ``alpha = firing_rate_scale * dt`` (the paper's x1000 at dt = 1 ms is alpha = 1: an ANN activation of 1
  is one spike per step).
- ``normalised``: data-based per-layer normalisation (Rueckauer et al. 2017): ``alpha_l`` maps the given
  percentile of layer l's ANN activations on training data to ``norm_rate`` spikes per step. For rectified
  linear neurons this leaves the ANN's function unchanged (rate(alpha z) / alpha = rate(z) below saturation).
"""
from __future__ import annotations

import numpy as np
import torch

from ..config import ConversionConfig
from ..data import ArraySplit
from ..models import Mode, SpikingNetwork
from . import distributed
from .loop import batches, to_tensor


def global_alphas(model: SpikingNetwork, conv: ConversionConfig, dt_s: float) -> list[float]:
    return [conv.firing_rate_scale * dt_s] * len(model.spiking_layers())


@torch.no_grad()
def normalised_alphas(model: SpikingNetwork, train: ArraySplit, conv: ConversionConfig, dt_s: float,
                      batch_size: int = 64, max_samples: int = 512) -> list[float]:
    """Per-layer scales from a high percentile of the ANN activations (at the global scale)."""
    base = conv.firing_rate_scale * dt_s
    previous = model.alphas()
    model.set_alphas([base] * len(model.spiking_layers()))
    model.eval()
    device = next(model.parameters()).device
    sub = train.subset(distributed.block(min(len(train), max_samples)))  # this rank's share
    acts: list[list[np.ndarray]] = [[] for _ in model.spiking_layers()]
    for x, _ in batches(sub, batch_size):
        model(to_tensor(x, device), Mode.ANN, 1)
        for k, r in enumerate(model.layer_rates()):
            acts[k].append((r / base).flatten().cpu().numpy())  # activation in ANN units
    model.set_alphas(previous)
    alphas = []
    for a in acts:
        p = distributed.percentile(np.concatenate(a or [np.empty(0, np.float32)]), conv.percentile)  # all ranks
        alphas.append(conv.norm_rate / p if p > 1e-6 else base)  # a silent layer keeps the global scale
    return alphas


def conversion_alphas(method: str, model: SpikingNetwork, train: ArraySplit, conv: ConversionConfig,
                      dt_s: float) -> list[float]:
    if method == "global":
        return global_alphas(model, conv, dt_s)
    return normalised_alphas(model, train, conv, dt_s)
