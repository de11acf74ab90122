"""The image sent once per sample: the same spikes as a filter-less first layer fed every step (emulator), the
Lava simulator spike for spike, the flag through the NetX file, and the first layer's SynOps counted once."""

import numpy as np
import pytest
import torch

from deploy_fixtures import STEPS, WARMUP
from loihi_hybrid.backends.energy import fan_out, layer_activity
from loihi_hybrid.fixedpoint import quantize
from loihi_hybrid.fixedpoint.emulator import emulate, run_network
from loihi_hybrid.fixedpoint.netx import read_netx, write_netx
from loihi_hybrid.fixedpoint.once import send_once
from loihi_hybrid.models import LocNet, LocNetSpec, Mode
from loihi_hybrid.models.init import calibrate
from loihi_hybrid.neurons import NeuronParams


def _tiny(once: bool):
    torch.manual_seed(0)
    model = LocNet(LocNetSpec(in_channels=3, input_size=(12, 16), channels=(4, 4, 4), hidden=(16, 8, 8),
                              neuron=NeuronParams(kind="lif", gamma=0.1)))
    x = torch.rand(3, 3, 12, 16)
    calibrate(model, x)
    model.readout_warmup = WARMUP
    model.set_input_once(once)
    return model, x


def test_model_mode_changes_only_the_first_layers_filter():
    model, x = _tiny(False)
    ann = model(x, Mode.ANN)
    snn = model(x, Mode.SNN, STEPS)
    first = model.spiking_layers()[0]
    model.set_input_once(True)
    assert first.neuron.tau_syn == 0 and first.neuron.current_decay == 4096
    assert all(m.neuron.tau_syn == 5 for m in model.spiking_layers()[1:])
    assert torch.equal(model(x, Mode.ANN), ann)           # the rate function does not depend on the filter
    model.set_input_once(False)                            # back to the every-step network, bit for bit
    assert first.neuron.tau_syn == 5 and torch.equal(model(x, Mode.SNN, STEPS), snn)


@pytest.fixture(scope="module")
def once_export(tmp_path_factory):
    model, x = _tiny(True)
    every = quantize(model, x.numpy(), STEPS, WARMUP, exp_min=(-8, 0))   # filter-less first layer, every step
    path = tmp_path_factory.mktemp("once") / "once.net"
    write_netx(send_once(every), path, {"task": "locnet"})
    net, meta = read_netx(path)
    return model, x.numpy(), every, net, meta, path


def test_sent_once_equals_every_step_spike_for_spike(once_export):
    _, x, every, net, _, _ = once_export
    assert every.layers[0].i_decay == 4096 and not every.input_once
    a, b = emulate(every, x, record=True), emulate(net, x, record=True)
    for layer, sa, sb in zip(net.layers, a.spikes, b.spikes):
        assert np.array_equal(sa, sb), layer.name
    assert a.counts.sum() > 0 and np.array_equal(a.v_end, b.v_end) and np.array_equal(a.v_warm, b.v_warm)
    # the once network really gets no input after step 0: fed every step it would integrate the image T times
    wrong = run_network(net, net.encode_input(x), net.steps, bias_input=False, record=True)
    assert not np.array_equal(wrong.spikes[0], b.spikes[0])


def test_file_carries_the_flag(once_export):
    _, _, _, net, meta, _ = once_export
    assert net.input_once and meta["input_once"] is True and net.layers[0].i_decay == 0
    assert all(ly.i_decay != 0 for ly in net.layers[1:-1])


def test_file_without_the_flag_is_unchanged(tmp_path):
    model, x = _tiny(False)
    fixed = quantize(model, x.numpy(), STEPS, WARMUP, exp_min=(-8, 0))
    write_netx(fixed, tmp_path / "a.net", {"task": "locnet"})
    net, meta = read_netx(tmp_path / "a.net")
    assert "input_once" not in meta and not net.input_once


def test_send_once_needs_a_filterless_first_layer():
    model, x = _tiny(False)
    fixed = quantize(model, x.numpy(), STEPS, WARMUP, exp_min=(-8, 0))
    with pytest.raises(ValueError, match="without a current filter"):
        send_once(fixed)


def test_first_layer_synops_counted_once(once_export):
    _, x, every, net, _, _ = once_export
    counts = emulate(net, x).counts
    pixels = float(np.prod(net.input_shape))
    once_rows, every_rows = layer_activity(net, counts, 1e-3), layer_activity(every, counts, 1e-3)
    assert once_rows[0]["synops"] == pytest.approx(pixels * fan_out(net.layers[0]))
    assert every_rows[0]["synops"] == pytest.approx(STEPS * once_rows[0]["synops"])
    assert [r["synops"] for r in once_rows[1:]] == [r["synops"] for r in every_rows[1:]]


@pytest.mark.slow
def test_lava_sim_spike_for_spike(once_export):
    from loihi_hybrid.backends.lava.runner import run_lava

    _, x, _, net, _, path = once_export
    emu = emulate(net, x, record=True)
    lava = run_lava(path, net, net.encode_input(x), backend="sim", record_trains=True, chunk=1)
    for layer, a, b in zip(net.layers, emu.spikes, lava.trains):
        assert a.shape == b.shape and int((a != b).sum()) == 0, f"{layer.name}: {(a != b).sum()} mismatches"
    assert np.array_equal(emu.counts, lava.counts) and emu.counts[:, :-1].sum() > 0
    assert np.array_equal(emu.v_warm, lava.v_warm) and np.array_equal(emu.v_end, lava.v_end)


def test_file_is_guarded_against_plain_netx(once_export):
    """Plain NetX users send the image every step: the first layer is written so that plain NetX refuses it."""
    import h5py

    from loihi_hybrid.fixedpoint.plain import plain_netx_issues

    _, _, _, net, _, path = once_export
    with h5py.File(path) as h:
        first = h["layer/1"]
        assert "dilation" not in first and "groups" not in first and "KeyError 'dilation'" in first.attrs["extension"]
    assert any("input_once" in issue for issue in plain_netx_issues(net))


@pytest.mark.slow
def test_plain_netx_refuses_the_file(once_export):
    from test_plain_netx import plain_netx_outcome

    _, x, _, net, _, path = once_export
    outcome, err = plain_netx_outcome(path, net.encode_input(x[:1]), net.steps)
    assert outcome == "refused" and "dilation" in str(err)


def test_no_nir_form(once_export):
    from loihi_hybrid.interop.nir import nir_problems

    net = once_export[3]
    assert any("input_once" in p for p in nir_problems(net))
