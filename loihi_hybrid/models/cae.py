"""CAE (Baltes et al.): a U-Net without skip connections, 10 conv layers. Encoder convs with stride-2
convs as pooling, decoder transposed convs (stride 2), one non-spiking conv readout whose sigmoid is
the hippocampus probability map. With ``pool_convs=False`` each resolution has one layer: stride-2
encoder convs and transposed-conv decoder, 5 spiking layers instead of 9 (less latency at short T)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..neurons import NeuronParams
from .layers import conv_layer, conv_readout, conv_transpose_layer
from .network import SpikingNetwork


@dataclass
class CAESpec:
    in_channels: int = 1
    input_size: tuple[int, int] = (48, 64)
    channels: tuple[int, int, int] = (16, 32, 64)
    pool_convs: bool = True
    neuron: NeuronParams = field(default_factory=lambda: NeuronParams(kind="if", t_ref=0.0))


class CAE(SpikingNetwork):
    def __init__(self, spec: CAESpec) -> None:
        n, (c1, c2, c3) = spec.neuron, spec.channels
        h, w = spec.input_size
        if h % 4 or w % 4:
            raise ValueError(f"CAE input size must be divisible by 4, got {spec.input_size}")
        if spec.pool_convs:
            layers = [
                conv_layer("enc1", spec.in_channels, c1, n),
                conv_layer("pool1", c1, c1, n, stride=2),
                conv_layer("enc2", c1, c2, n),
                conv_layer("pool2", c2, c2, n, stride=2),
                conv_layer("bottleneck", c2, c3, n),
                conv_transpose_layer("up1", c3, c2, n),
                conv_layer("dec1", c2, c2, n),
                conv_transpose_layer("up2", c2, c1, n),
                conv_layer("dec2", c1, c1, n),
            ]
        else:
            layers = [
                conv_layer("enc1", spec.in_channels, c1, n, stride=2),
                conv_layer("enc2", c1, c2, n, stride=2),
                conv_layer("bottleneck", c2, c3, n),
                conv_transpose_layer("up1", c3, c2, n),
                conv_transpose_layer("up2", c2, c1, n),
            ]
        layers.append(conv_readout(c1, 1))
        super().__init__(layers)
        self.spec = spec

