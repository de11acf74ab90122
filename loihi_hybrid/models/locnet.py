"""LocNet (Baltes et al.): (conv, stride-2 "pooling" conv) x 3, then 4 fully connected layers; the last
is a non-spiking readout of the 4 box corners, standardised by the buffers ``target_mean``/``target_std``
(decoding lives in ``loihi_hybrid.tasks.locnet``). With ``pool_convs=False`` each stage is one stride-2
conv: half the spiking layers (each layer's synaptic filter adds latency) and far fewer neurons (the
full-resolution convs hold most of them)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..neurons import NeuronParams
from .layers import conv_layer, dense_head
from .network import SpikingNetwork


@dataclass
class LocNetSpec:
    in_channels: int = 3
    input_size: tuple[int, int] = (48, 72)
    channels: tuple[int, int, int] = (16, 32, 64)
    hidden: tuple[int, int, int] = (256, 128, 64)
    pool_convs: bool = True
    neuron: NeuronParams = field(default_factory=NeuronParams)


class LocNet(SpikingNetwork):
    def __init__(self, spec: LocNetSpec) -> None:
        n = spec.neuron
        layers, cin = [], spec.in_channels
        h, w = spec.input_size
        for i, c in enumerate(spec.channels):
            if spec.pool_convs:
                layers.append(conv_layer(f"conv{2 * i + 1}", cin, c, n))
                layers.append(conv_layer(f"pool{i + 1}", c, c, n, stride=2))
            else:
                layers.append(conv_layer(f"conv{i + 1}", cin, c, n, stride=2))
            cin, h, w = c, (h + 1) // 2, (w + 1) // 2
        layers += dense_head(cin * h * w, tuple(spec.hidden), 4, n)
        super().__init__(layers)
        self.spec = spec
        self.register_buffer("target_mean", torch.zeros(4))
        self.register_buffer("target_std", torch.ones(4))

