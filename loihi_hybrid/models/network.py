"""A feed-forward stack of spiking layers ending in a non-spiking readout, run in any :class:`Mode`."""
from __future__ import annotations

import torch
from torch import nn

from .layers import Activity, Mode, Readout, SpikingLayer


class SpikingNetwork(nn.Module):
    """Sequential network; ``forward(x, mode, steps)`` returns the readout (N, ...)."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        if not isinstance(layers[-1], Readout):
            raise ValueError("the last layer must be a Readout")
        self.layers = nn.ModuleList(layers)
        #: steps at the start of each sample that the readout ignores (see :class:`Readout`)
        self.readout_warmup = 0

    def forward(self, x: torch.Tensor, mode: Mode | str = Mode.ANN, steps: int = 16) -> torch.Tensor:
        mode = Mode(mode)
        if mode != Mode.ANN and steps < 1:
            raise ValueError("steps must be >= 1")
        act = Activity(mean=x)
        for layer in self.layers[:-1]:
            act = layer(act, mode, steps)
        return self.layers[-1](act, mode, steps, warmup=self.readout_warmup)

    def spiking_layers(self) -> list[SpikingLayer]:
        return [m for m in self.layers if isinstance(m, SpikingLayer)]

    def layer_rates(self) -> list[torch.Tensor]:
        """Per-layer rates (spikes per step, shape (N, ...)) of the last forward pass."""
        return [m.rate for m in self.spiking_layers()]

    def set_alphas(self, alphas: list[float]) -> None:
        for layer, a in zip(self.spiking_layers(), alphas, strict=True):
            layer.alpha.fill_(float(a))

    def alphas(self) -> list[float]:
        return [float(m.alpha) for m in self.spiking_layers()]
