"""Data-driven initialisation (LSUV-style) so that every layer starts in the neurons' operating range.

With He initialisation the soft-LIF rates shrink layer by layer (mean 0.2 -> 0.008 spikes/step over
LocNet's 9 spiking layers): the readout then sees an almost constant input and training stalls, and
deep layers of the SNN stay silent for many steps. Each layer's weights are rescaled and its bias set
so that its synaptic input on a training batch has mean ``mu`` and standard deviation ``sigma`` (sigma-delta
layers, which have no bias: only the standard deviation).
"""
from __future__ import annotations

import torch

from .layers import Activity, Mode, Readout, SpikingLayer
from .network import SpikingNetwork


@torch.no_grad()
def calibrate(model: SpikingNetwork, x: torch.Tensor, mu: float = 0.15, sigma: float = 0.15) -> None:
    """Layer by layer, in ANN mode: set weight scale and bias from the statistics of ``x``."""
    act = Activity(mean=x)
    for layer in model.layers:
        if isinstance(layer, (SpikingLayer, Readout)):
            z = layer.project(act.mean)
            std = float(z.std())
            if std > 0:
                layer.synapse.weight.mul_((sigma if isinstance(layer, SpikingLayer) else 1.0) / std)
                z = layer.project(act.mean)
            mean = float(z.mean())
            if isinstance(layer, SpikingLayer) and layer.neuron.graded:
                layer.bias.zero_()  # sigma-delta layers have no bias (see SpikingLayer)
            else:
                layer.bias.fill_((mu - mean) if isinstance(layer, SpikingLayer) else -mean)
        if isinstance(layer, Readout):
            break
        act = layer(act, Mode.ANN, 1)
