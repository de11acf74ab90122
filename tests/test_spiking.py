"""The fast spiking forward pass is bit-exact with SLAYER's CUBA kernels."""
import pytest
import torch

from loihi_hybrid.compat import slayer_ops
from loihi_hybrid.neurons import NeuronParams
from loihi_hybrid.neurons import spiking


def slayer_spikes(z, bias, p):
    return (spiking.voltage(z, bias, p) >= p.threshold + slayer_ops.THRESHOLD_EPS).float()


@pytest.mark.parametrize("p", [
    NeuronParams(kind="lif"),
    NeuronParams(kind="lif", tau_syn=1.0, tau_rc=5.0, threshold=0.75),
    NeuronParams(kind="if", t_ref=0.0, tau_syn=2.0),
    NeuronParams(kind="if", t_ref=0.0, tau_syn=0.0),
])
@pytest.mark.parametrize("shape", [(3, 5, 40), (2, 4, 6, 7, 25)])
def test_fast_spikes_equal_slayer_spikes(p, shape):
    torch.manual_seed(0)
    z = torch.randn(shape) * 0.4 + 0.15
    bias = torch.randn(1, shape[1], *([1] * (len(shape) - 2))) * 0.1
    ref = slayer_spikes(z, bias, p)
    fast = spiking.spikes(z, bias, p)
    assert ref.sum() > 10  # the comparison covers real spiking
    assert torch.equal(fast, ref)


def test_fast_spikes_scalar_bias_and_constant_input():
    p = NeuronParams(kind="if", t_ref=0.0)
    z = torch.full((2, 3, 50), 0.3).contiguous()
    assert torch.equal(spiking.spikes(z, 0.05, p), slayer_spikes(z, 0.05, p))
