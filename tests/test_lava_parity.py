"""The promise to users: the exported network on the Lava simulator reproduces the emulation spike for spike
(every layer, every step) and the readout voltages exactly; the emulation follows the training-time SNN."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deploy_fixtures import tiny_export
from loihi_hybrid.fixedpoint.emulator import emulate
from loihi_hybrid.fixedpoint.netx import read_netx, write_netx
from loihi_hybrid.models import Mode

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["locnet", "cae"], scope="module")
def lava_vs_emu(request, tmp_path_factory):
    from loihi_hybrid.backends.lava.runner import run_lava

    model, x, _, path = tiny_export(request.param, tmp_path_factory.mktemp(request.param))
    net, _ = read_netx(path)
    emu = emulate(net, x, record=True)
    watch = {0: np.arange(3)}
    lava = run_lava(path, net, net.encode_input(x), backend="sim", watch=watch, record_trains=True, chunk=1)
    return request.param, model, x, net, emu, lava


def test_every_spike_matches(lava_vs_emu):
    task, _, _, net, emu, lava = lava_vs_emu
    assert len(emu.spikes) == len(lava.trains) == len(net.layers)
    for layer, a, b in zip(net.layers, emu.spikes, lava.trains):
        assert a.shape == b.shape, layer.name
        assert int((a != b).sum()) == 0, f"{task}/{layer.name}: {(a != b).sum()} mismatching spikes"
    assert emu.counts.sum() > 0 and np.array_equal(emu.counts, lava.counts)
    # the deeper layers must be active too, or the comparison proves little
    assert (emu.counts[:, :-1].sum(0) > 0).sum() >= len(net.layers) - 3


def test_readout_voltages_match(lava_vs_emu):
    _, _, _, net, emu, lava = lava_vs_emu
    assert np.array_equal(emu.v_warm, lava.v_warm) and np.array_equal(emu.v_end, lava.v_end)
    assert np.array_equal(net.decode_readout(lava.v_warm, lava.v_end), emu.readout)


def test_raster_from_counter_matches(lava_vs_emu):
    _, _, _, net, emu, lava = lava_vs_emu
    first = net.layers[0].name
    expected = emu.spikes[0][0].reshape(-1, net.steps)[:3].astype(np.int32)
    assert np.array_equal(lava.raster[first], expected)


def test_emulation_tracks_training_snn(lava_vs_emu):
    """Quantisation changes little: the big early layers fire within 10 % of the float SNN's spike totals.
    (Readout and metric agreement is checked on the real exports, where layers are large enough.)"""
    _, model, x, net, emu, _ = lava_vs_emu
    with torch.no_grad():
        for m in model.spiking_layers():
            m.record = True
        model(torch.as_tensor(x), Mode.SNN, net.steps)
        counts = np.array([float(m.last_spikes.sum()) for m in model.spiking_layers()])
    early = slice(0, 3)
    assert np.all(np.abs(emu.counts[:, early].sum(0) - counts[early]) <= 0.1 * counts[early])


def test_loihi2_without_extension_is_a_clear_error(lava_vs_emu, tmp_path):
    task, _, _, net, _, _ = lava_vs_emu
    path = tmp_path / "n.net"
    write_netx(net, path, {"task": task})
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), "--backend", "loihi2",
                           "--model", str(path)], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1
    assert "lava-loihi" in lines[0] and "not installed" in lines[0]
