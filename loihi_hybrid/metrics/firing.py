"""Firing rates in Hz (spikes per neuron per second, dt = 1 ms), per layer and for the network."""
from __future__ import annotations

import torch


class RateMeter:
    """Accumulates per-layer spike counts over batches."""

    def __init__(self, names: list[str], dt_s: float = 1e-3) -> None:
        self.names, self.dt_s = names, dt_s
        self.spikes = [0.0] * len(names)   # total spikes (rate * steps summed over samples and neurons)
        self.neurons = [0] * len(names)    # neurons per sample
        self.samples = 0

    def add(self, rates: list[torch.Tensor]) -> None:
        """``rates``: per-layer spikes per step, shape (N, ...)."""
        for i, r in enumerate(rates):
            self.spikes[i] += float(r.detach().sum())
            self.neurons[i] = int(r[0].numel())
        self.samples += int(rates[0].shape[0])

    def per_layer_hz(self) -> dict[str, float]:
        return {n: s / (self.samples * k) / self.dt_s for n, s, k in zip(self.names, self.spikes, self.neurons)}

    def network_hz(self) -> float:
        """Average over all neurons of the network (layers weighted by their neuron count)."""
        return sum(self.spikes) / (self.samples * sum(self.neurons)) / self.dt_s
