"""The ANN rate function against the spiking CUBA neuron it stands for, and its derivative."""
import math

import numpy as np
import pytest
import torch

from loihi_hybrid.neurons import NeuronParams, rate, rate_staircase
from loihi_hybrid.neurons import spiking

STEPS, SETTLE = 3000, 300


def measured_rate(j: torch.Tensor, p: NeuronParams) -> torch.Tensor:
    """Spikes per step of SLAYER's CUBA neuron under a constant synaptic input ``j`` (after settling)."""
    z = j.reshape(1, -1, 1).expand(1, j.numel(), STEPS).contiguous()
    s = spiking.spikes(z, 0.0, p)
    return s[0, :, SETTLE:].mean(-1)


@pytest.mark.parametrize("p, lo, hi", [
    (NeuronParams(kind="lif", gamma=0.005), 0.055, 0.30),
    (NeuronParams(kind="lif", gamma=0.1), 0.07, 0.30),
    (NeuronParams(kind="if", t_ref=0.5, gamma=0.0), 0.01, 0.35),
])
def test_smooth_rate_tracks_spiking_neuron(p, lo, hi):
    # operating range: up to ~0.3 spikes/step (300 Hz at dt = 1 ms)
    j = torch.linspace(lo, hi, 60)
    measured, predicted = measured_rate(j, p), rate(j, p)
    err = (predicted - measured).abs()
    assert float(err.mean()) < 0.01
    assert float(err.max()) < 0.05  # the staircase's steps are the only large deviation
    # and it is much closer than the plain rectified-linear rate would be
    if p.kind == "if":
        assert float(err.mean()) < float((j - measured).abs().mean())


@pytest.mark.parametrize("p", [NeuronParams(kind="lif"), NeuronParams(kind="if", t_ref=0.0)])
def test_staircase_is_the_discrete_steady_state(p):
    j = torch.linspace(0.06, 0.8, 80)
    measured, exact = measured_rate(j, p), rate_staircase(j, p)
    # equal except near a step boundary, where fixed-point truncation (input and decay on a 1/4096
    # grid, shifts rounding toward zero) lengthens the period by one step
    agree = (measured - exact).abs() < 1e-3
    assert float(agree.float().mean()) >= 0.85


def test_rectified_linear_rate_is_relu():
    p = NeuronParams(kind="if", t_ref=0.0, gamma=0.0, threshold=2.0)
    j = torch.tensor([-1.0, 0.0, 0.5, 1.0, 3.0])
    assert torch.allclose(rate(j, p), torch.tensor([0.0, 0.0, 0.25, 0.5, 1.0]))


def test_lif_rate_derivative_matches_closed_form():
    p = NeuronParams(kind="lif", gamma=0.0, t_ref=0.5)
    d = p.voltage_decay / 4096
    tau = -1 / math.log(1 - d)
    j = torch.tensor([0.06, 0.1, 0.2, 0.3], dtype=torch.float64, requires_grad=True)
    rate(j, p).sum().backward()
    x = j.detach().numpy() / d - p.threshold                    # excess of the steady-state voltage
    period = tau * np.log1p(p.threshold / x)
    dperiod_dj = -tau * p.threshold / (x * (x + p.threshold)) / d
    expected = -dperiod_dj / (period + p.t_ref) ** 2
    np.testing.assert_allclose(j.grad.numpy(), expected, rtol=1e-6)


def test_if_soft_rate_derivative_matches_closed_form():
    p = NeuronParams(kind="if", gamma=0.05, t_ref=0.5)
    j = torch.tensor([-0.2, 0.0, 0.1, 0.5], dtype=torch.float64, requires_grad=True)
    rate(j, p).sum().backward()
    jn = j.detach().numpy()
    rho = p.gamma * np.log1p(np.exp(jn / p.gamma))
    drho = 1 / (1 + np.exp(-jn / p.gamma))
    expected = p.threshold * drho / (p.threshold + p.t_ref * rho) ** 2
    np.testing.assert_allclose(j.grad.numpy(), expected, rtol=1e-6)


def test_no_nan_gradients_far_below_threshold():
    for p in (NeuronParams(kind="lif"), NeuronParams(kind="if", t_ref=0.5, gamma=0.005)):
        j = torch.tensor([-1e4, -10.0, -1e-3, 0.0], requires_grad=True)
        r = rate(j, p)
        r.sum().backward()
        assert torch.isfinite(j.grad).all()
        assert float(r.detach().max()) < 1e-2
