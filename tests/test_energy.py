"""Activity, energy estimates and the Loihi 2 fit report on a hand-built network, against hand-computed numbers."""
import numpy as np
import pytest

from loihi_hybrid.backends.energy import energy_estimates, fit_report, layer_activity, mean_rate_hz
from loihi_hybrid.fixedpoint.format import FixedLayer, FixedNetwork

DT = 1e-3


def _net() -> FixedNetwork:
    """conv 3x3 (1 -> 2 channels, 4x4, padding 1) -> dense 32 -> 3 -> dense readout 3 -> 1; T = 10."""
    conv = FixedLayer(name="conv", op="conv", weight=np.ones((2, 1, 3, 3), np.int32), bias=np.zeros(2, np.int32),
                      in_shape=(1, 4, 4), out_shape=(2, 4, 4), padding=1)
    fc = FixedLayer(name="fc", op="dense", weight=np.ones((3, 32), np.int32), bias=np.zeros(3, np.int32),
                    in_shape=(32,), out_shape=(3,), flatten_input=True)
    out = FixedLayer(name="readout", op="dense", weight=np.ones((1, 3), np.int32), bias=np.zeros(1, np.int32),
                     in_shape=(3,), out_shape=(1,), spiking=False)
    return FixedNetwork(layers=[conv, fc, out], input_shape=(1, 4, 4), steps=10, warmup=2)


# spikes per sample (rows) and layer (columns); means per layer: 30, 4, 0
COUNTS = np.array([[40, 6, 0], [20, 2, 0]])


def test_layer_activity_hand_counts():
    rows = layer_activity(_net(), COUNTS, DT)
    assert [r["name"] for r in rows] == ["conv", "fc", "readout"]
    assert [r["neurons"] for r in rows] == [32, 3, 1]
    assert [r["spikes"] for r in rows] == [30.0, 4.0, 0.0]
    # rate = mean spikes / (neurons * steps * dt)
    assert rows[0]["firing_rate_hz"] == pytest.approx(30 / (32 * 10 * 1e-3))   # 93.75 Hz
    assert rows[1]["firing_rate_hz"] == pytest.approx(4 / (3 * 10 * 1e-3))     # 133.3 Hz
    assert rows[2]["firing_rate_hz"] == 0.0
    # SynOps = input events x fan-out. conv: 32 neurons x 9 taps = 288 synapses over 16 inputs -> fan-out 18;
    # its input is the image, 16 graded events every one of the 10 steps -> 160 x 18
    assert rows[0]["synops"] == pytest.approx(160 * 18)   # 2880
    # fc: 96 synapses over 32 inputs -> fan-out 3, fed by the conv's 30 spikes
    assert rows[1]["synops"] == pytest.approx(30 * 3)     # 90
    # readout: 3 synapses over 3 inputs -> fan-out 1, fed by the fc's 4 spikes
    assert rows[2]["synops"] == pytest.approx(4 * 1)


def test_layer_activity_input_events_do_not_depend_on_the_pixels():
    # graded input spikes are sent for every pixel, every step, whatever the spike counts say
    rows = layer_activity(_net(), np.zeros((3, 3), np.int64), DT)
    assert rows[0]["synops"] == pytest.approx(2880) and rows[1]["synops"] == 0 and rows[2]["synops"] == 0
    # no samples at all: no spikes, still the input events of one inference
    rows = layer_activity(_net(), np.zeros((0, 3), np.int64), DT)
    assert [r["spikes"] for r in rows] == [0.0, 0.0, 0.0] and rows[0]["synops"] == pytest.approx(2880)


def test_energy_estimates_hand_computed():
    net = _net()
    e = energy_estimates(net, layer_activity(net, COUNTS, DT))
    synops = 2880 + 90 + 4
    spikes = 30 + 4 + 0
    updates = (32 + 3 + 1) * 10
    # Loihi (Davies et al. 2018): 23.6 pJ per SynOp, 81 pJ per spiking and 52 pJ per silent neuron update
    loihi_pj = synops * 23.6 + spikes * 81.0 + (updates - spikes) * 52.0   # 70186.4 + 2754 + 16952
    assert loihi_pj == pytest.approx(89892.4)
    assert e["loihi_estimate_uj_per_inference"] == pytest.approx(loihi_pj * 1e-6)
    # the ANN: one MAC per synapse, 288 + 96 + 3, x 4.6 pJ
    assert e["ann_estimate_uj_per_inference"] == pytest.approx(387 * 4.6e-6)
    # Horowitz SNN figure: first layer's MACs x 4.6 pJ, the other SynOps x 0.9 pJ
    assert e["snn_horowitz_uj_per_inference"] == pytest.approx((2880 * 4.6 + 94 * 0.9) * 1e-6)


def test_mean_rate_counts_only_spiking_neurons():
    # spiking layers: conv (32) and fc (3); spikes per sample 46 and 22, mean 34
    assert mean_rate_hz(_net(), COUNTS, DT) == pytest.approx(34 / (35 * 10 * 1e-3))
    # the readout's count (non-spiking) must not enter
    counts = COUNTS.copy()
    counts[:, 2] = 1000
    assert mean_rate_hz(_net(), counts, DT) == pytest.approx(34 / (35 * 10 * 1e-3))


def test_fit_report_small_network_fits():
    r = fit_report(_net())
    assert [(ly["name"], ly["op"], ly["neurons"], ly["synapses"], ly["fan_in"], ly["fan_out"], ly["cores"])
            for ly in r["layers"]] == [("conv", "conv", 32, 288, 9, 18.0, 1),
                                       ("fc", "dense", 3, 96, 32, 3.0, 1),
                                       ("readout", "dense", 1, 3, 3, 1.0, 1)]
    assert r["total"] == {"neurons": 36, "synapses": 387, "cores": 3}
    assert r["fits_one_chip"] is True and r["warnings"] == []


def test_fit_report_convT_fan_in_and_fan_out():
    # transposed conv 2x2, stride 2, 4 -> 3 channels, 5x5 -> 10x10: each output sees 4 * 1 * 1 taps
    up = FixedLayer(name="up", op="convT", weight=np.ones((4, 3, 2, 2), np.int32), bias=np.zeros(3, np.int32),
                    in_shape=(4, 5, 5), out_shape=(3, 10, 10), stride=2)
    net = FixedNetwork(layers=[up], input_shape=(4, 5, 5), steps=4, warmup=0)
    (row,) = fit_report(net)["layers"]
    assert row["neurons"] == 300 and row["fan_in"] == 4 and row["synapses"] == 1200
    assert row["fan_out"] == 12.0  # 1200 synapses over 100 inputs: each input pixel reaches 3 channels x 2 x 2


def test_fit_report_too_big_for_one_chip():
    # 11x11 conv on a 1000x1000 map: 1 M neurons (not more than the chip's 1 M), 121 M synapses (> 120 M);
    # cores: max(ceil(1e6 / 8192) = 123, ceil(121e6 / 937500) = 130) = 130 > 128
    big = FixedLayer(name="big", op="conv", weight=np.ones((1, 1, 11, 11), np.int32), bias=np.zeros(1, np.int32),
                     in_shape=(1, 1000, 1000), out_shape=(1, 1000, 1000), padding=5)
    net = FixedNetwork(layers=[big], input_shape=(1, 1000, 1000), steps=4, warmup=0)
    r = fit_report(net)
    assert r["layers"][0]["cores"] == 130
    assert r["total"] == {"neurons": 1_000_000, "synapses": 121_000_000, "cores": 130}
    assert r["fits_one_chip"] is False
    assert len(r["warnings"]) == 2
    assert "130 cores" in r["warnings"][0] and "128" in r["warnings"][0]
    assert "121000000 synapses" in r["warnings"][1]
