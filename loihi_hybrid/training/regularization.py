"""Firing-rate regularisation toward a target rate (NengoDL style: mean squared deviation per neuron)."""
from __future__ import annotations

import torch


def rate_penalty(rates: list[torch.Tensor], target_per_step: float) -> torch.Tensor:
    """Mean over layers of the mean squared deviation of each neuron's rate (spikes/step) from the target."""
    return torch.stack([((r - target_per_step) ** 2).mean() for r in rates]).mean()
