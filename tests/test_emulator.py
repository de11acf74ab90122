"""The emulator's fixed-point arithmetic: Loihi's decay, wrap and threshold rules, and SLAYER's dynamics."""
import numpy as np
import pytest
import torch

from loihi_hybrid.fixedpoint.emulator import _decay, emulate
from loihi_hybrid.fixedpoint.format import FixedLayer, FixedNetwork
from loihi_hybrid.neurons import NeuronParams, spiking


def test_decay_rounds_toward_zero():
    x = torch.tensor([4097, -4097, 100, -100, 0])
    # 4097 * 2048 / 4096 = 2048.5 -> 2048 and -2048 (toward zero, as Loihi's sign * (|x| >> 12))
    assert _decay(x, 2048).tolist() == [2048, -2048, 50, -50, 0]
    assert _decay(x, 4096).tolist() == [0, 0, 0, 0, 0]
    assert _decay(x, 0).tolist() == x.tolist()


def _one_neuron_net(weight: int, vth: int, bias: int = 0, i_decay: int = 4096, v_decay: int = 0,
                    steps: int = 6) -> FixedNetwork:
    hidden = FixedLayer(name="h", op="dense", weight=np.array([[weight]], np.int32), bias=np.array([bias], np.int32),
                        in_shape=(1,), out_shape=(1,), i_decay=i_decay, v_decay=v_decay, vth=vth,
                        flatten_input=True)
    out = FixedLayer(name="readout", op="dense", weight=np.array([[2]], np.int32), bias=np.zeros(1, np.int32),
                     in_shape=(1,), out_shape=(1,), spiking=False)
    return FixedNetwork(layers=[hidden, out], input_shape=(1, 1, 1), steps=steps, warmup=2, input_levels=255)


def test_hand_computed_spike_train():
    # input q = 255 each step, weight 2: a = 510 << 6 = 32640 per step into the current (no filter);
    # v grows by 32640 per step; threshold 1000 << 6 = 64000 -> v: 32640, 65280 (> 64000: spike, reset)
    net = _one_neuron_net(weight=2, vth=1000)
    r = emulate(net, np.ones((1, 1, 1, 1)), record=True)
    assert r.spikes[0][0, 0].astype(int).tolist() == [0, 1, 0, 1, 0, 1]
    # readout integrates 2 << 6 per input spike; window = steps 2..5 holds spikes at 3 and 5
    assert r.v_end[0, 0] - r.v_warm[0, 0] == 2 * 2 * 64


def test_threshold_is_strict():
    # v reaches exactly vth << 6 at step 2 and must not spike (Loihi: v > vth)
    net = _one_neuron_net(weight=2, vth=1020)
    r = emulate(net, np.ones((1, 1, 1, 1)), record=True)
    assert r.spikes[0][0, 0].astype(int).tolist()[:3] == [0, 0, 1]


def test_current_wraps_at_24_bits():
    """The current register wraps around at 24 bits (as Lava's bit-accurate LIF), it does not saturate."""
    a = 255 * 254 << 6  # 4145280 per step; i_decay 0 keeps the current, so u[t] = (t + 1) * a, wrapped
    assert (3 * a > 2 ** 23) and (2 * a < 2 ** 23)
    wrapped = [a, 2 * a, 3 * a - 2 ** 24, 4 * a - 2 ** 24, 5 * a - 2 ** 24, 6 * a - 2 ** 24]
    assert wrapped == [4145280, 8290560, -4341376, -196096, 3949184, 8094464]
    # v_decay 4096: no voltage memory, v[t] = u[t]; vth 1: a spike whenever u[t] > 64. A saturating
    # current would stay at 2**23 - 1 from the third step on and spike every step.
    net = _one_neuron_net(weight=254, vth=1, i_decay=0, v_decay=4096, steps=6)
    r = emulate(net, np.ones((1, 1, 1, 1)), record=True, record_peaks=True)
    assert r.spikes[0][0, 0].astype(int).tolist() == [1, 1, 0, 0, 1, 1]
    # the peak is the unwrapped 3 a > 2**23, seen before the wrap, so the exporter can refuse such scales
    assert r.peak_state[0] == 3 * a
    assert r.wrapped.tolist() == [1, 0] and r.saturated.tolist() == [0, 0]  # the wrap at step 3, counted

    # the exact wrapped value, read from the readout's voltage: a network that is only the readout
    # (graded input 255, weight 254), no voltage memory, so v_end = u[T-1] and v_warm = u[warmup-1]
    readout = FixedLayer(name="readout", op="dense", weight=np.array([[254]], np.int32),
                         bias=np.zeros(1, np.int32), in_shape=(1,), out_shape=(1,), i_decay=0, v_decay=4096,
                         spiking=False, flatten_input=True)
    net = FixedNetwork(layers=[readout], input_shape=(1, 1, 1), steps=4, warmup=2, input_levels=255)
    r = emulate(net, np.ones((1, 1, 1, 1)))
    assert int(r.v_warm[0, 0]) == wrapped[1] and int(r.v_end[0, 0]) == wrapped[3]  # -196096


@pytest.mark.parametrize("kind", ["lif", "if"])
def test_emulated_layer_equals_slayer_dynamics(kind):
    """One dense layer with exactly representable weights: the emulator's spikes equal the training-time
    spiking forward pass (``neurons.spiking.spikes``, itself bit-exact with SLAYER's CUBA neuron)."""
    rng = np.random.default_rng(0)
    p = NeuronParams(kind=kind, tau_syn=0.0, tau_rc=8.0, threshold=1.0, t_ref=0.0)  # current decay 4096: gain 1
    n_in, n_out, steps = 12, 20, 24
    w = 2 * rng.integers(-8, 9, size=(n_out, n_in)).astype(np.int32)
    b = rng.integers(-20, 21, size=n_out).astype(np.int32)
    layer = FixedLayer(name="h", op="dense", weight=w, bias=b, in_shape=(n_in,), out_shape=(n_out,),
                       i_decay=p.current_decay, v_decay=p.voltage_decay, vth=64, flatten_input=True)
    out = FixedLayer(name="readout", op="dense", weight=np.zeros((1, n_out), np.int32), bias=np.zeros(1, np.int32),
                     in_shape=(n_out,), out_shape=(1,), spiking=False)
    net = FixedNetwork(layers=[layer, out], input_shape=(n_in, 1, 1), steps=steps, warmup=1, input_levels=255)
    x = rng.integers(0, 256, size=(5, n_in, 1, 1)) / 255.0
    emu = emulate(net, x, record=True).spikes[0]
    # training units with scale k = 1: W = w / 64, bias = b / 64, threshold = vth / 64 = 1
    q = torch.as_tensor(net.encode_input(x).reshape(5, n_in), dtype=torch.float32)
    z = (q @ torch.as_tensor(w.T / 64.0, dtype=torch.float32)).unsqueeze(-1).expand(5, n_out, steps)
    ref = spiking.spikes(z, torch.as_tensor(b / 64.0, dtype=torch.float32).view(1, -1, 1), p)
    assert emu.sum() > 0
    assert np.array_equal(emu, ref.numpy().astype(bool))


def _saturating_net() -> FixedNetwork:
    """One neuron whose current is -255 * 254 << 6 = -4145280 every step (no current memory) and whose
    voltage keeps it (no leak), with a bias of -1 (-64 per step): v = -4145344 t, below -(2**23 - 1) from the
    third step on. A negative bias without leak is a case where a clip could change later spikes."""
    return _one_neuron_net(weight=-254, vth=1000, bias=-1, i_decay=4096, v_decay=0)


def test_clipped_voltages_and_wrapped_currents_are_counted():
    r = emulate(_saturating_net(), np.ones((2, 1, 1, 1)))
    assert r.saturated.tolist() == [2 * 4, 0]  # steps 3..6 of both samples clip; the readout never does
    assert r.wrapped.tolist() == [0, 0]


def _unclipped(monkeypatch, net: FixedNetwork, x: np.ndarray, **kw):
    """The same run with 41-bit registers: nothing clips (nor wraps) in these hand cases."""
    import loihi_hybrid.fixedpoint.emulator as emu_mod
    with monkeypatch.context() as m:
        m.setattr(emu_mod, "STATE_LIMIT", 1 << 40)
        return emulate(net, x, **kw)


def test_first_layer_clip_under_a_static_input_changes_no_spike(monkeypatch):
    """A leaky first layer fed the same image every step: neurons with strong negative input clip at
    -(2**23 - 1), and every spike, and the readout, equal the run with wider registers, as
    :meth:`FixedLayer.static_clip_is_harmless` argues; such clips are not counted. Biases of both signs, the
    most negative one inside the bound (4000 << 6 * 4096 / 200 = 5.2 M < 2**23); currents stay below 2**22
    (|a| <= 84 * 255 << 6, times 4096 / 1500 at most), so nothing wraps."""
    from loihi_hybrid.fixedpoint.emulator import run_network

    rng = np.random.default_rng(3)
    n_in, n_out, steps = 6, 40, 24
    w = 2 * rng.integers(-7, 4, size=(n_out, n_in)).astype(np.int32)
    first = FixedLayer(name="h", op="dense", weight=w, bias=rng.integers(-4000, 4000, size=n_out).astype(np.int32),
                       in_shape=(n_in,), out_shape=(n_out,), i_decay=1500, v_decay=200, vth=3000, flatten_input=True)
    out = FixedLayer(name="readout", op="dense", weight=rng.integers(-20, 20, size=(2, n_out)).astype(np.int32) * 2,
                     bias=np.zeros(2, np.int32), in_shape=(n_out,), out_shape=(2,), spiking=False)
    net = FixedNetwork(layers=[first, out], input_shape=(n_in, 1, 1), steps=steps, warmup=4, input_levels=255)
    assert first.static_clip_is_harmless()
    x = rng.uniform(0, 1, size=(8, n_in, 1, 1))
    clipped = emulate(net, x, record=True, record_peaks=True)
    wide = _unclipped(monkeypatch, net, x, record=True, record_peaks=True)
    assert wide.peak_voltage[0] > 2 * (2 ** 23) and wide.peak_current[0] < 2 ** 22  # far past the clip
    assert clipped.spikes[0].any() and np.array_equal(clipped.spikes[0], wide.spikes[0])
    assert np.array_equal(clipped.v_end, wide.v_end) and np.array_equal(clipped.v_warm, wide.v_warm)
    assert clipped.saturated.tolist() == [0, 0] and clipped.wrapped.tolist() == [0, 0]  # nothing to warn about
    # the same input as a sequence of steps is not known to be static: its clips are counted
    q = net.encode_input(x)
    assert run_network(net, np.repeat(q[..., None], steps, -1), steps).saturated[0] > 0


def test_first_layer_clip_that_can_change_spikes_is_counted(monkeypatch):
    """Without leak and with a negative bias the clip matters: the current (i_decay 0) grows by
    62 << 6 = 3968 per step against a bias of -4095 << 6 = -262080, so the voltage falls for 66 steps to
    about -8.65 M, past the clip, then rises; the clipped neuron starts its rise higher and spikes sooner."""
    net = _one_neuron_net(weight=2, vth=4000, bias=-4095, i_decay=0, v_decay=0, steps=200)
    assert not net.layers[0].static_clip_is_harmless()
    x = np.full((1, 1, 1, 1), 31 / 255)
    clipped = emulate(net, x, record=True)
    wide = _unclipped(monkeypatch, net, x, record=True)
    first_spike = lambda r: int(np.argmax(r.spikes[0][0, 0]))  # noqa: E731
    assert wide.spikes[0].any() and first_spike(clipped) < first_spike(wide)
    assert clipped.saturated[0] > 0
    # held input sent once needs i_decay 0, a filtered one is not cleared
    leaky = FixedLayer(name="h", op="dense", weight=np.array([[-2]], np.int32), bias=np.array([5], np.int32),
                       in_shape=(1,), out_shape=(1,), i_decay=1000, v_decay=200, vth=10, flatten_input=True)
    assert leaky.static_clip_is_harmless() and not leaky.static_clip_is_harmless(input_once=True)


def test_deploy_summary_and_printout_name_the_layer_that_overflowed():
    """The ``emu`` back end passes the counts on; the summary holds them per layer and the printout warns,
    so a run where the chip leaves the trained network does not pass for a normal one."""
    from pathlib import Path

    from loihi_hybrid.backends.registry import get_backend
    from loihi_hybrid.cli.deploy import _table
    from loihi_hybrid.workflows.deploy import register_overflows, summarise

    net = _saturating_net()
    q = net.encode_input(np.ones((2, 1, 1, 1)))
    out = get_backend("emu").run_raw(Path("x.net"), net, q, net.steps, False, False, {}, None)
    assert out.overflows.tolist() == [[0, 8], [0, 0]]
    s = summarise(None, net, {}, out, "emu", Path("x.net"), 2, 0.1, None, {})
    assert s["extra"]["register_overflows"] == {"h": {"wrapped_currents": 0, "saturated_voltages": 8}}
    assert "warning: h: 0 neuron-steps with the current wrapped around at 24 bits, 8 with the voltage clipped" \
        in _table(s)
    assert register_overflows(net, np.zeros((2, 2), np.int64)) == {}  # none: nothing to report
    assert register_overflows(net, None) is None                        # sim, loihi2: not observed


def test_export_measurement_reports_overflows_on_the_test_split():
    """The export's own test-split emulation names a layer whose registers left the calibrated range."""
    from types import SimpleNamespace

    from loihi_hybrid.workflows.export import emulated_metric

    task = SimpleNamespace(score=lambda pred, split: (0.5, {}))
    data = SimpleNamespace(test=SimpleNamespace(x=np.ones((2, 1, 1, 1))))
    lines: list[str] = []
    assert emulated_metric(_saturating_net(), task, data, lambda r: r, log=lines.append) == 0.5
    assert lines == ["[export] warning: h: on the test split 0 neuron-steps with the current wrapped around at "
                     "24 bits, 8 with the voltage clipped (the calibration images did not reach this)"]
