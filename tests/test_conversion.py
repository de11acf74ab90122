"""Conversion: per-layer normalisation keeps a rectified-linear ANN's function; global scale is alpha = scale*dt."""
import numpy as np
import torch

from loihi_hybrid.config import ConversionConfig
from loihi_hybrid.data import ArraySplit
from loihi_hybrid.models import CAE, CAESpec, Mode
from loihi_hybrid.models.init import calibrate
from loihi_hybrid.training.conversion import global_alphas, normalised_alphas


def _tiny_cae():
    torch.manual_seed(0)
    net = CAE(CAESpec(input_size=(8, 8), channels=(4, 4, 4)))
    x = torch.rand(6, 1, 8, 8)
    calibrate(net, x, mu=0.05, sigma=0.05)
    split = ArraySplit(x=x.numpy(), y=np.zeros((6, 1, 8, 8), np.float32), names=[""] * 6,
                       groups=np.arange(6))
    return net, x, split


def test_global_scale_is_paper_x1000_at_1ms():
    net, _, _ = _tiny_cae()
    assert global_alphas(net, ConversionConfig(firing_rate_scale=1000.0), 1e-3) == [1.0] * 9


def test_normalisation_maps_percentile_to_norm_rate_and_keeps_relu_function():
    net, x, split = _tiny_cae()
    conv = ConversionConfig(percentile=99.0, norm_rate=0.5)
    before = net(x, Mode.ANN).detach()
    alphas = normalised_alphas(net, split, conv, 1e-3)
    assert len(alphas) == 9 and all(a > 0 for a in alphas) and len(set(alphas)) > 1
    net.set_alphas(alphas)
    after = net(x, Mode.ANN).detach()
    # rate(alpha z) / alpha == rate(z) for ReLU below saturation (1 spike/step): only the 1 % above the
    # percentile can saturate, so the outputs stay close
    assert torch.allclose(before, after, atol=0.05 * float(before.detach().abs().max()))
    for layer, rates in zip(net.spiking_layers(), net.layer_rates()):
        assert abs(float(torch.quantile(rates.detach().flatten(), 0.99)) - 0.5) < 0.05, layer.name
