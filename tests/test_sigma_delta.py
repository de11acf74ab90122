"""Sigma-delta neurons (graded spikes, ``neuron.kind = "sd"``): the dynamics on hand cases, the static fixed point
the training uses, the hybrid gradient, the export's one message per neuron, Lava = emulator message for message,
the energy estimate's graded SynOps, and the config's error paths."""
import numpy as np
import pytest
import torch

from loihi_hybrid.backends.energy import energy_estimates, layer_activity
from loihi_hybrid.config import resolve_config
from loihi_hybrid.errors import InputError
from loihi_hybrid.fixedpoint import emulate, quantize
from loihi_hybrid.fixedpoint.format import FixedLayer, FixedNetwork
from loihi_hybrid.fixedpoint.netx import read_netx, write_netx
from loihi_hybrid.models import CAE, CAESpec, LocNet, LocNetSpec, Mode
from loihi_hybrid.models.layers import Activity, dense_layer
from loihi_hybrid.neurons import NeuronParams, rate
from loihi_hybrid.neurons.sigma_delta import sigma_delta, static_response

SD = NeuronParams(kind="sd", threshold=0.05)
SD_FINE = NeuronParams(kind="sd", threshold=0.005)  # the tiny random networks' activations are small


def test_messages_on_a_hand_case():
    # act 0.3, 0.35, 0.5, 0.5, 0.42 with threshold 0.1: send 0.3; 0.05 waits; 0.2 (0.05 + 0.15) goes; nothing;
    # -0.08 waits (below the threshold in magnitude)
    z = torch.tensor([0.3, 0.35, 0.5, 0.5, 0.42])
    out = sigma_delta(z, 0.0, 0.1)
    assert torch.allclose(out, torch.tensor([0.3, 0.0, 0.2, 0.0, 0.0]))
    # a negative synaptic sum is silent (ReLU); a bias shifts it
    assert torch.equal(sigma_delta(torch.tensor([-1.0, -1.0]), 0.0, 0.1), torch.zeros(2))
    assert torch.allclose(sigma_delta(torch.tensor([-1.0, -1.0]), 1.5, 0.1), torch.tensor([0.5, 0.0]))


def test_static_input_sends_one_message_then_nothing():
    torch.manual_seed(0)
    z = torch.randn(40, 1).expand(40, 6)
    out = sigma_delta(z, 0.0, 0.3)
    value, messages = static_response(torch.relu(z[:, 0]), 0.3)
    assert torch.equal((out[:, 1:] != 0).sum(), torch.tensor(0))
    assert torch.allclose(out.sum(-1), value) and torch.equal((out != 0).sum(-1).float(), messages)
    # below the threshold nothing is sent, at or above it the whole activation is
    act = torch.tensor([0.0, 0.2, 0.3, 0.31])
    v, m = static_response(act, 0.3)
    assert torch.equal(v, torch.tensor([0.0, 0.0, 0.3, 0.31])) and torch.equal(m, torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_rate_function_is_relu():
    j = torch.tensor([-1.0, 0.0, 0.5, 7.0], requires_grad=True)
    r = rate(j, SD)
    assert torch.equal(r.detach(), torch.tensor([0.0, 0.0, 0.5, 7.0]))  # no cap at one per step
    r.sum().backward()
    assert torch.equal(j.grad, torch.tensor([0.0, 0.0, 1.0, 1.0]))


def test_layer_modes_values_and_gradients():
    torch.manual_seed(1)
    layer = dense_layer("fc", 6, 5, SD)
    assert not layer.bias.requires_grad  # no bias: nothing moves before the input arrives
    x = Activity(mean=torch.rand(3, 6))
    z = layer.project(x.mean)
    ann = layer(x, Mode.ANN, 4).mean
    assert torch.allclose(ann, torch.relu(z))
    snn = layer(x, Mode.SNN, 4).mean
    assert torch.allclose(snn, static_response(torch.relu(z), 0.05)[0])
    # hybrid: the SNN's value, the ReLU's gradient
    out = layer(x, Mode.HYBRID, 4)
    assert torch.allclose(out.mean.detach(), snn.detach())
    g_h = torch.autograd.grad(out.mean.sum(), layer.synapse.weight)[0]
    g_a = torch.autograd.grad(layer(x, Mode.ANN, 4).mean.sum(), layer.synapse.weight)[0]
    assert torch.allclose(g_h, g_a)
    # rate: messages per step (at most one per sample); gradient: the activation's over (threshold x T)
    layer(x, Mode.HYBRID, 4)
    r = layer.rate
    assert torch.equal(r.detach(), static_response(torch.relu(z.detach()), 0.05)[1] / 4)
    (gz,) = torch.autograd.grad(r.sum(), layer.synapse.weight)
    (ga,) = torch.autograd.grad(torch.relu(layer.project(x.mean)).sum() / (0.05 * 4), layer.synapse.weight)
    assert torch.allclose(gz, ga)


def _tiny(task: str) -> tuple[torch.nn.Module, np.ndarray]:
    torch.manual_seed(0)
    if task == "locnet":
        model = LocNet(LocNetSpec(input_size=(12, 16), channels=(4, 6, 6), hidden=(16, 8), pool_convs=False, neuron=SD_FINE))
        x = torch.rand(3, 3, 12, 16)
    else:
        model = CAE(CAESpec(in_channels=1, input_size=(8, 12), channels=(4, 6, 6), pool_convs=False, neuron=SD_FINE))
        x = torch.rand(3, 1, 8, 12)
    return model.eval(), x.numpy()


@pytest.fixture(params=["locnet", "cae"], scope="module")
def sd_export(request, tmp_path_factory):
    model, x = _tiny(request.param)
    layers = len(model.geometry())
    fixed = quantize(model, x, layers + 2, layers, exp_min=(-8,))
    path = tmp_path_factory.mktemp(request.param) / "sd.net"
    write_netx(fixed, path, {"task": request.param})
    return request.param, model, x, fixed, path


def test_export_is_sigma_delta_with_one_message_per_neuron(sd_export):
    _, model, x, fixed, path = sd_export
    net, _ = read_netx(path)
    assert [ly.neuron for ly in net.layers] == ["sdnn"] * (len(net.layers) - 1) + ["cuba"]
    assert net.input_once and net.pipelined and net.readout.i_decay == 0  # the readout's current sums the messages
    emu = emulate(net, x, record=True)
    assert emu.overflows.sum() == 0  # messages within 16 bits, sigma within 24
    for ly, s, c in zip(net.layers[:-1], emu.spikes, emu.counts.T):
        per_neuron = (s != 0).sum(-1)
        assert per_neuron.max() <= 1 and c.sum() > 0, ly.name
    # the readout follows the training-time SNN (weights are 8-bit, messages 16-bit)
    with torch.no_grad():
        snn = model(torch.as_tensor(x), Mode.SNN, net.steps).numpy()
    assert np.abs(emu.readout - snn).max() <= 0.05 * np.abs(snn).max() + 1e-3


def test_lava_simulator_equals_emulator_message_for_message(sd_export):
    from loihi_hybrid.backends.lava.runner import run_lava

    task, _, x, _, path = sd_export
    net, _ = read_netx(path)
    emu = emulate(net, x, record=True)
    lava = run_lava(path, net, net.encode_input(x), backend="sim", record_trains=True)
    for ly, a, b in zip(net.layers, emu.spikes, lava.trains):
        assert a.shape == b.shape and np.array_equal(a, b), f"{task}/{ly.name}"
    assert np.array_equal(emu.counts, lava.counts)
    assert np.array_equal(emu.v_warm, lava.v_warm) and np.array_equal(emu.v_end, lava.v_end)


def test_energy_counts_graded_synops_as_macs():
    # a sigma-delta dense layer (graded messages) feeding a CUBA dense readout
    sd = FixedLayer(name="fc", op="dense", weight=np.ones((3, 4), np.int32), bias=np.zeros(3, np.int32),
                    in_shape=(4,), out_shape=(3,), neuron="sdnn", message_bits=16)
    out = FixedLayer(name="readout", op="dense", weight=np.ones((2, 3), np.int32), bias=np.zeros(2, np.int32),
                     in_shape=(3,), out_shape=(2,), spiking=False)
    net = FixedNetwork(layers=[sd, out], input_shape=(4,), steps=5, warmup=2, input_once=True)
    e = energy_estimates(net, layer_activity(net, np.array([[2, 0]]), 1e-3))
    # fc: 4 graded input events once x fan-out 3 = 12; readout: 2 messages x fan-out 2 = 4, graded too
    assert e["snn_horowitz_uj_per_inference"] == pytest.approx((12 + 4) * 4.6e-6)
    assert e["ann_estimate_uj_per_inference"] == pytest.approx((12 + 6) * 4.6e-6)
    # the same counts from a binary-spiking layer: its 4 SynOps at 0.9 pJ
    cuba = FixedNetwork(layers=[FixedLayer(**{**sd.__dict__, "neuron": "cuba", "message_bits": 0}), out],
                        input_shape=(4,), steps=5, warmup=2, input_once=True)
    e2 = energy_estimates(cuba, layer_activity(cuba, np.array([[2, 0]]), 1e-3))
    assert e2["snn_horowitz_uj_per_inference"] == pytest.approx((12 * 4.6 + 4 * 0.9) * 1e-6)


def test_config_error_paths(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"neuron": {"kind": "sd"}, "input_once": false}')
    with pytest.raises(InputError, match="input_once must be true for sigma-delta"):
        resolve_config("locnet", {}, f)
    f.write_text('{"neuron": {"kind": "sd"}, "input_once": true, "readout_warmup_auto": true}')
    with pytest.raises(InputError, match="readout_warmup_auto must be false"):
        resolve_config("locnet", {}, f)
    f.write_text('{"neuron": {"kind": "spiky"}}')
    with pytest.raises(InputError, match="'lif', 'if' or 'sd'"):
        resolve_config("locnet", {}, f)


def test_warmup_shorter_than_the_pipeline_is_refused():
    model, _ = _tiny("locnet")
    layers = len(model.geometry())
    assert model.min_readout_warmup == layers
    assert model.warmup_problem(layers) is None
    assert "shorter than the network's" in model.warmup_problem(layers - 1)


def test_data_based_init_leaves_sigma_delta_layers_without_bias():
    from loihi_hybrid.models.init import calibrate

    model, x = _tiny("locnet")
    calibrate(model, torch.as_tensor(x))
    assert all(float(m.bias.abs().max()) == 0 for m in model.spiking_layers())
    assert float(model.layers[-1].bias.abs().max()) > 0  # the readout keeps its bias


def test_nir_refuses_sigma_delta_layers(sd_export):
    from loihi_hybrid.interop.nir import nir_problems

    _, _, _, fixed, _ = sd_export
    problems = nir_problems(fixed)
    assert sum("no sigma-delta neuron" in p for p in problems) == len(fixed.layers) - 1


def test_threshold_rounding_is_reported(sd_export):
    """The scale starts at the threshold register's limit and halves until the messages fit, so ``k theta`` stays
    a power of two (exact) while it is >= 1; below that the threshold rounds up to vThMant 1 and is reported."""
    from loihi_hybrid.fixedpoint.quantize import threshold_rounding

    _, model, x, fixed, _ = sd_export

    def lines(theta: float) -> list[str]:
        for m in model.spiking_layers():
            m.neuron = NeuronParams(kind="sd", threshold=theta)
        try:
            return threshold_rounding(model, quantize(model, x, fixed.steps, fixed.warmup, exp_min=(-8,)))
        finally:
            for m in model.spiking_layers():
                m.neuron = SD_FINE

    assert lines(0.05) == []
    tiny = lines(1e-7)  # far below what 16-bit messages resolve
    assert len(tiny) == len(fixed.layers) - 1 and all("vThMant 1 " in ln for ln in tiny), tiny


def test_oversized_messages_and_sigma_are_counted_and_worded():
    """Lava's Python models keep wider integers than the chip, so the Lava simulator would agree with the emulator
    where the chip does not: a message wider than 16 bits and a sigma beyond 24 bits are counted, and deploy and
    export say so in words that fit a sigma-delta layer."""
    from loihi_hybrid.fixedpoint.emulator import run_network
    from loihi_hybrid.workflows.deploy import overflow_phrase, register_overflows

    fc = FixedLayer(name="fc", op="dense", weight=np.full((2, 64), 254, np.int32), bias=np.zeros(2, np.int32),
                    in_shape=(64,), out_shape=(2,), weight_exp=2, vth=0, neuron="sdnn", message_bits=16)
    out = FixedLayer(name="readout", op="dense", weight=np.ones((1, 2), np.int32), bias=np.zeros(1, np.int32),
                     in_shape=(2,), out_shape=(1,), spiking=False, i_decay=0, weight_exp=-8)
    net = FixedNetwork(layers=[fc, out], input_shape=(64,), steps=3, warmup=2, input_once=True)
    r = run_network(net, np.full((1, 64), 255), 3, pipeline=True, input_once=True)
    # sigma = 254 * 255 * 64 << 2 = 16.6 M > 2**23 from step 1 on (2 neurons x 2 steps); one message each of
    # 16.6 M >> 6 = 259 k > 2**15 - 1
    assert r.overflows.tolist() == [[2, 4], [0, 0]]
    counts = register_overflows(net, r.overflows)
    assert counts == {"fc": {"oversized_messages": 2, "overflowed_sigmas": 4}}
    assert overflow_phrase(counts["fc"]) == ("2 messages wider than the layer's message bits, 4 neuron-steps with "
                                             "sigma beyond 24 bits")
    # within range: nothing counted
    small = FixedNetwork(layers=[FixedLayer(**{**fc.__dict__, "weight_exp": -8}), out], input_shape=(64,), steps=3,
                         warmup=2, input_once=True)
    assert run_network(small, np.full((1, 64), 255), 3, pipeline=True, input_once=True).overflows.sum() == 0
    # the last layer's messages go nowhere (its state is read): a Sigma output of 128 k is not an oversized message
    sigma_out = FixedLayer(name="out", op="dense", weight=np.full((1, 2), 254, np.int32), bias=np.zeros(1, np.int32),
                           in_shape=(2,), out_shape=(1,), spiking=False, neuron="sigma", message_bits=16)
    plain = FixedNetwork(layers=[small.layers[0], sigma_out], input_shape=(64,), steps=3, warmup=0)
    r = run_network(plain, np.full((1, 64), 255), 3, pipeline=True, input_once=True)
    assert int(np.abs(r.v_end).max()) > 2 ** 15 and r.overflows.sum() == 0
