"""Tiny trained-shape networks for export/deploy tests (random weights, data-calibrated)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from loihi_hybrid.fixedpoint import FixedNetwork, quantize
from loihi_hybrid.fixedpoint.netx import write_netx
from loihi_hybrid.models import CAE, CAESpec, LocNet, LocNetSpec
from loihi_hybrid.models.init import calibrate
from loihi_hybrid.neurons import NeuronParams

STEPS, WARMUP = 10, 4


def tiny(task: str, n: int = 3, seed: int = 0) -> tuple[torch.nn.Module, np.ndarray, FixedNetwork]:
    torch.manual_seed(seed)
    if task == "locnet":
        model = LocNet(LocNetSpec(in_channels=3, input_size=(12, 16), channels=(4, 4, 4), hidden=(16, 8, 8),
                                  neuron=NeuronParams(kind="lif", gamma=0.1)))
        x = torch.rand(n, 3, 12, 16)
    else:
        model = CAE(CAESpec(in_channels=1, input_size=(8, 12), channels=(4, 4, 4),
                            neuron=NeuronParams(kind="if", t_ref=0.0)))
        x = torch.rand(n, 1, 8, 12)
    calibrate(model, x)
    model.readout_warmup = WARMUP
    fixed = quantize(model, x.numpy(), STEPS, WARMUP, exp_min=(-8, 0))
    return model, x.numpy(), fixed


def tiny_export(task: str, folder: Path) -> tuple[torch.nn.Module, np.ndarray, FixedNetwork, Path]:
    """``tiny(task)`` written to ``folder/tiny.net``."""
    model, x, fixed = tiny(task)
    path = folder / "tiny.net"
    write_netx(fixed, path, {"task": task})
    return model, x, fixed, path
