"""The four neuron modes on the same weights: exact spiking forward, rate backward, no graph over T."""
import pytest
import torch
import torch.nn.functional as F

from loihi_hybrid.models import CAE, CAESpec, LocNet, LocNetSpec, Mode
from loihi_hybrid.models.init import calibrate
from loihi_hybrid.models.layers import Activity, Flatten, Readout, dense_layer
from loihi_hybrid.neurons import NeuronParams, rate


@pytest.fixture(params=["locnet", "cae", "locnet-compact", "cae-compact"])
def tiny_net(request):
    torch.manual_seed(0)
    pool_convs = not request.param.endswith("-compact")
    if request.param.startswith("locnet"):
        net = LocNet(LocNetSpec(input_size=(12, 16), channels=(4, 4, 4), hidden=(8, 8, 8), pool_convs=pool_convs))
        x = torch.rand(3, 3, 12, 16)
    else:
        net = CAE(CAESpec(input_size=(8, 12), channels=(4, 4, 4), pool_convs=pool_convs))
        x = torch.rand(3, 1, 8, 12)
    calibrate(net, x)
    net.readout_warmup = 4
    return net, x


def test_hybrid_forward_equals_snn_forward_exactly(tiny_net):
    net, x = tiny_net
    for layer in net.spiking_layers():
        layer.record = True
    y_snn = net(x, Mode.SNN, 12)
    s_snn = [layer.last_spikes.clone() for layer in net.spiking_layers()]
    y_hyb = net(x, Mode.HYBRID, 12)
    s_hyb = [layer.last_spikes for layer in net.spiking_layers()]
    assert torch.equal(y_snn, y_hyb.detach())
    for a, b in zip(s_snn, s_hyb):
        assert torch.equal(a, b)
    assert sum(float(s.sum()) for s in s_snn) > 0  # not a vacuous comparison


def test_bptt_forward_equals_snn_forward(tiny_net):
    net, x = tiny_net
    assert torch.equal(net(x, Mode.SNN, 10), net(x, Mode.BPTT, 10).detach())


@pytest.mark.parametrize("neuron", [NeuronParams(kind="lif", gamma=0.1), NeuronParams(kind="if", t_ref=0.0)])
def test_hybrid_gradient_is_rate_derivative_at_mean_input(neuron):
    torch.manual_seed(1)
    layer = dense_layer("fc", 5, 3, neuron)
    layer.alpha.fill_(2.0)
    x_seq = (torch.rand(4, 5, 20) < 0.3).float()
    act = Activity(mean=x_seq.mean(-1), seq=x_seq)
    out = layer(act, Mode.HYBRID, 20)
    g = torch.randn_like(out.mean)
    (out.mean * g).sum().backward()
    # d(out)/d(bias) = d/db [rate(alpha * z) / alpha] = rate'(alpha * z_mean), z_mean = W x_mean + b
    z_mean = (layer.project(x_seq.mean(-1)) + layer.bias).detach().requires_grad_(True)
    rate(2.0 * z_mean, neuron).sum().backward()
    expected = (g * z_mean.grad / 2.0).sum(0)  # z_mean.grad = alpha * rate'(alpha z)
    torch.testing.assert_close(layer.bias.grad, expected)
    # and the forward value is the measured spike rate, not the rate function
    assert torch.equal(out.mean.detach(), out.seq.mean(-1))


def _saved_bytes(net, x, mode, steps):
    total = [0]

    def pack(t):
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x, mode, steps).sum().backward()
    return total[0]


def test_hybrid_keeps_no_graph_over_time(tiny_net):
    net, x = tiny_net
    hybrid = [_saved_bytes(net, x, Mode.HYBRID, t) for t in (8, 32)]
    bptt = [_saved_bytes(net, x, Mode.BPTT, t) for t in (8, 32)]
    assert hybrid[0] == hybrid[1]
    assert bptt[1] > 3 * bptt[0]


def _synaptic_input(syn, x):
    """``W x`` from the SLAYER synapse's weight tensor (trailing time-kernel axis dropped), with torch's
    own ops: the reference for ``test_ann_mode_is_the_rate_network``."""
    w = syn.weight.detach()[..., 0]
    kind = type(syn).__name__
    if kind == "Dense":
        return x @ w[:, :, 0, 0].T
    stride, padding = int(syn.stride[0]), int(syn.padding[0])
    if kind == "ConvTranspose":
        return F.conv_transpose2d(x, w, stride=stride, padding=padding)
    assert kind == "Conv", kind
    return F.conv2d(x, w, stride=stride, padding=padding)


def test_ann_mode_is_the_rate_network(tiny_net):
    """ANN mode = layer by layer ``r = rate(alpha (W x + b)) / alpha`` (NengoDL's scale_firing_rates), then
    the linear readout ``W x + b``, computed here independently of the layers' own code."""
    net, x = tiny_net
    layers = net.spiking_layers()
    net.set_alphas([0.6 + 0.25 * i for i in range(len(layers))])  # distinct per layer: the scaling matters
    y = net(x, Mode.ANN)
    rates = net.layer_rates()
    assert y.shape[0] == 3 and torch.isfinite(y).all()
    assert all(float(r.detach().min()) >= 0 and float(r.detach().max()) <= 1 for r in rates)

    act, expected_rates = x, []
    with torch.no_grad():
        for layer in net.layers:
            if isinstance(layer, Flatten):
                act = act.reshape(len(act), -1)
                continue
            z = _synaptic_input(layer.synapse, act)
            b = layer.bias.detach().view(1, -1, *([1] * (z.dim() - 2)))
            if isinstance(layer, Readout):
                expected_y = z + b
                break
            alpha = float(layer.alpha)
            r = rate(alpha * (z + b), layer.neuron)
            expected_rates.append(r)
            act = r / alpha
    assert len(expected_rates) == len(rates) == len(layers)
    for layer, got, want in zip(layers, rates, expected_rates):
        torch.testing.assert_close(got.detach(), want, rtol=1e-5, atol=1e-6, msg=lambda m: f"{layer.name}: {m}")
        # not vacuous: every layer has neurons between silent and saturated
        assert 0 < float(want.mean()) < 1, layer.name
    torch.testing.assert_close(y.detach(), expected_y, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", [Mode.SNN, Mode.HYBRID])
def test_time_chunks_do_not_change_spikes_or_output(tiny_net, mode):
    """The streamed pass (neuron states carried across chunks) equals one pass over all T steps."""
    net, x = tiny_net
    for layer in net.spiking_layers():
        layer.record = True
    results = []
    for chunk in (13, 5, 1):  # whole sequence, a chunk that does not divide T, single steps
        net.time_chunk = chunk
        y = net(x, mode, 13)
        results.append((y.detach(), [layer.last_spikes.clone() for layer in net.spiking_layers()]))
    for y, spikes in results[1:]:
        torch.testing.assert_close(y, results[0][0], rtol=0, atol=1e-6)
        assert all(torch.equal(a, b) for a, b in zip(spikes, results[0][1]))


@pytest.mark.parametrize("pool_convs, names", [
    (True, ["conv1", "pool1", "conv3", "pool2", "conv5", "pool3", "fc1", "fc2"]),
    (False, ["conv1", "conv2", "conv3", "fc1", "fc2"])])
def test_locnet_stages_with_and_without_pooling_convs(pool_convs, names):
    net = LocNet(LocNetSpec(input_size=(12, 16), channels=(4, 5, 6), hidden=(8, 7), pool_convs=pool_convs))
    assert [m.name for m in net.spiking_layers()] == names
    strided = [m.name for m in net.spiking_layers() if getattr(m.synapse, "stride", (1,))[0] == 2]
    assert strided == [n for n in names if n.startswith("pool" if pool_convs else "conv")]
    # three halvings either way: 12x16 -> 2x2, 6 channels into the first dense layer
    assert net.spiking_layers()[-2].synapse.weight.shape[1] == 6 * 2 * 2
    assert net(torch.rand(2, 3, 12, 16), Mode.ANN, 1).shape == (2, 4)


@pytest.mark.parametrize("pool_convs, names", [
    (True, ["enc1", "pool1", "enc2", "pool2", "bottleneck", "up1", "dec1", "up2", "dec2"]),
    (False, ["enc1", "enc2", "bottleneck", "up1", "up2"])])
def test_cae_stages_with_and_without_pooling_convs(pool_convs, names):
    net = CAE(CAESpec(input_size=(8, 12), channels=(4, 5, 6), pool_convs=pool_convs))
    assert [m.name for m in net.spiking_layers()] == names
    assert net(torch.rand(2, 1, 8, 12), Mode.ANN, 1).shape == (2, 1, 8, 12)
