"""Loihi 2's static share and the first-layer-once SynOps count, against hand-computed figures."""
import dataclasses

import numpy as np
import pytest

from loihi_hybrid.backends.energy import (ENERGY_LABELS, L2_STATIC_UJ_PER_STEP, chips, energy_estimates,
                                          layer_activity, static_uj_per_inference)
from loihi_hybrid.fixedpoint.format import FixedLayer, FixedNetwork

from test_energy import COUNTS, DT, _net


def test_static_energy_per_step_from_the_pilotnet_measurement():
    # 0.232 W static; 409 inferences/s x 16 steps = 6544 steps/s -> 152.8 us per step -> 35.45 uJ per step
    assert L2_STATIC_UJ_PER_STEP == pytest.approx(0.232 / 6544 * 1e6)
    assert L2_STATIC_UJ_PER_STEP == pytest.approx(35.452, abs=1e-3)


def test_static_share_added_to_the_estimate():
    net = _net()                                    # T = 10, one chip
    e = energy_estimates(net, layer_activity(net, COUNTS, DT))
    loihi = 89892.4e-6                              # tests/test_energy.py's hand-computed Loihi 1 figure
    static = 10 * 0.232 / 6544 * 1e6               # 354.52 uJ
    assert e["loihi_estimate_uj_per_inference"] == pytest.approx(loihi)
    assert e["loihi2_static_uj_per_inference"] == pytest.approx(static)
    assert e["loihi_estimate_with_static_uj_per_inference"] == pytest.approx(loihi + static)
    # proportional to T: half the steps, half the static energy
    assert static_uj_per_inference(dataclasses.replace(net, steps=5)) == pytest.approx(static / 2)


def test_static_share_counts_every_chip():
    # 64 x 1000 x 1000 neurons: 7813 cores of 8192 neurons (more than the 615 that its 5.76e8 synapses need)
    big = FixedLayer(name="big", op="conv", weight=np.ones((64, 1, 3, 3), np.int32), bias=np.zeros(64, np.int32),
                     in_shape=(1, 1000, 1000), out_shape=(64, 1000, 1000), padding=1)
    net = FixedNetwork(layers=[big], input_shape=(1, 1000, 1000), steps=4, warmup=0)
    assert chips(net) == 62                         # ceil(7813 / 128)
    assert static_uj_per_inference(net) == pytest.approx(4 * 62 * 0.232 / 6544 * 1e6)


def test_every_figure_is_labelled_with_its_chip():
    assert "Loihi 1" in ENERGY_LABELS["loihi_estimate_uj_per_inference"]
    assert "Loihi 2" in ENERGY_LABELS["loihi2_static_uj_per_inference"]
    assert "Loihi 1" in ENERGY_LABELS["loihi_estimate_with_static_uj_per_inference"] \
        and "Loihi 2" in ENERGY_LABELS["loihi_estimate_with_static_uj_per_inference"]
    assert all(v.startswith(("estimate", "measured")) for v in ENERGY_LABELS.values())


def test_input_once_pays_the_first_layer_once():
    net = dataclasses.replace(_net(), input_once=True)
    rows = layer_activity(net, COUNTS, DT)
    # 16 graded events once (not 16 x 10), x fan-out 18; the other layers as before
    assert [r["synops"] for r in rows] == pytest.approx([16 * 18, 30 * 3, 4 * 1])
    e = energy_estimates(net, rows)
    synops, spikes, updates = 288 + 90 + 4, 34, 36 * 10
    assert e["loihi_estimate_uj_per_inference"] == pytest.approx(
        (synops * 23.6 + spikes * 81.0 + (updates - spikes) * 52.0) * 1e-6)
    # the paper-style estimate: one pass of first-layer MACs (288 = its synapses) x 4.6 pJ + 94 SynOps x 0.9 pJ
    assert e["snn_horowitz_uj_per_inference"] == pytest.approx((288 * 4.6 + 94 * 0.9) * 1e-6)
