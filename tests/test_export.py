"""Fixed-point export: register ranges, HDF5 round trip, clear errors for bad files."""
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from deploy_fixtures import WARMUP, tiny, tiny_export
from loihi_hybrid.errors import InputError
from loihi_hybrid.fixedpoint import quantize
from loihi_hybrid.fixedpoint.format import BIAS_MAX, HEADROOM, STATE_LIMIT, VTH_MAX, WEIGHT_MAX
from loihi_hybrid.fixedpoint.quantize import state_limits
from loihi_hybrid.fixedpoint.netx import read_netx
from loihi_hybrid.fixedpoint.emulator import emulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["locnet", "cae"], scope="module")
def exported(request, tmp_path_factory):
    _, x, fixed, path = tiny_export(request.param, tmp_path_factory.mktemp(request.param))
    return request.param, x, fixed, path


def test_registers_fit_loihi(exported):
    _, x, fixed, _ = exported
    for layer in fixed.layers:
        assert layer.weight.dtype == np.int32
        assert layer.weight.max() <= WEIGHT_MAX and layer.weight.min() >= -WEIGHT_MAX - 2
        assert np.all(layer.weight % 2 == 0), "8-bit mantissa on the even grid"
        assert 0 < layer.vth <= VTH_MAX and np.abs(layer.bias).max() <= BIAS_MAX + 1
        assert -8 <= layer.weight_exp <= 0
    assert fixed.layers[0].weight_exp < 0  # graded 8-bit input needs finer first-layer weights
    assert not fixed.readout.spiking and fixed.readout.i_decay == 4096 and fixed.readout.v_decay == 0
    r = emulate(fixed, x, record_peaks=True)
    for ly, cur, volt in zip(fixed.layers, r.peak_current, r.peak_voltage):
        assert cur <= HEADROOM * STATE_LIMIT  # the current wraps: it keeps the margin
        assert volt <= (STATE_LIMIT - 1 if ly.spiking else HEADROOM * STATE_LIMIT)


def test_spiking_voltage_may_use_the_full_range():
    """A spiking layer's voltage saturates (it does not wrap), so the scale is lowered only when it would
    clip on the calibration images: a first layer with bias -2 thresholds keeps the scale its bias register
    allows, with a voltage peak above the currents' margin; the old rule (half the range for every state)
    would have halved it."""
    model, x, _ = tiny("locnet")
    first = model.spiking_layers()[0]
    with torch.no_grad():
        first.bias.fill_(-2.0 / float(first.alpha))
    fixed = quantize(model, x, 40, WARMUP, exp_min=(-8, 0))
    conv1 = fixed.layers[0]
    assert np.abs(conv1.bias).max() == BIAS_MAX  # the bias register sets the scale, nothing lowered it
    r = emulate(fixed, x, record_peaks=True)
    assert HEADROOM * STATE_LIMIT < r.peak_voltage[0] <= STATE_LIMIT - 1
    assert max(r.peak_current) <= HEADROOM * STATE_LIMIT
    assert state_limits(conv1) == (HEADROOM * STATE_LIMIT, STATE_LIMIT - 1)
    assert state_limits(fixed.readout) == (HEADROOM * STATE_LIMIT, HEADROOM * STATE_LIMIT)


def test_first_layer_voltage_may_clip_where_it_changes_no_spike():
    """The first layer sees the same image every step, so its negative voltage may clip
    (:meth:`FixedLayer.static_clip_is_harmless`): without a bias its scale is the one the threshold register
    allows, although its voltage passes the clip on the calibration images; that clip is not counted, and
    only the first layer gets this (the others keep the full-range limit)."""
    model, x, _ = tiny("locnet")
    with torch.no_grad():
        model.spiking_layers()[0].bias.zero_()
    fixed = quantize(model, x, 40, WARMUP, exp_min=(-8, 0))
    conv1 = fixed.layers[0]
    assert conv1.vth == VTH_MAX and conv1.static_clip_is_harmless()  # nothing lowered the scale
    r = emulate(fixed, x, record_peaks=True)
    assert r.peak_voltage[0] > STATE_LIMIT - 1 and r.saturated[0] == 0
    assert state_limits(conv1, first=True) == (HEADROOM * STATE_LIMIT, float("inf"))
    assert state_limits(fixed.layers[1], first=False)[1] == STATE_LIMIT - 1
    for ly, volt in zip(fixed.layers[1:], r.peak_voltage[1:]):
        assert volt <= (STATE_LIMIT - 1 if ly.spiking else HEADROOM * STATE_LIMIT)


def test_roundtrip_is_identical(exported):
    task, x, fixed, path = exported
    back, meta = read_netx(path)
    assert meta["task"] == task and back.steps == fixed.steps and back.warmup == fixed.warmup
    assert [ly.op for ly in back.layers] == [ly.op for ly in fixed.layers]
    for a, b in zip(fixed.layers, back.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
        assert (a.vth, a.i_decay, a.v_decay, a.weight_exp, a.scale, a.in_shape, a.out_shape) == \
               (b.vth, b.i_decay, b.v_decay, b.weight_exp, b.scale, b.in_shape, b.out_shape)
    assert np.array_equal(emulate(fixed, x).v_end, emulate(back, x).v_end)


def test_netx_schema(exported):
    task, _, _, path = exported
    with h5py.File(path, "r") as h:
        types = [h["layer"][k]["type"][0].decode() for k in sorted(h["layer"], key=int)]
        assert types[0] == "input"
        assert ("convT" in types) == (task == "cae") and ("flatten" in types) == (task == "locnet")
        conv = h["layer"]["1"]
        assert {"weight", "bias", "stride", "padding", "kernelSize", "neuron"} <= set(conv)
        assert {"iDecay", "vDecay", "vThMant"} <= set(conv["neuron"])
        assert "extension" in conv.attrs  # the first layer's weight exponent is documented


def test_decode_readout_hand_case(exported):
    _, _, fixed, _ = exported
    k, n = fixed.readout.scale, fixed.steps - fixed.warmup
    v_warm, v_end = np.array([100.0]), np.array([100.0 + 4096 * k * n * 0.75])
    assert fixed.decode_readout(v_warm, v_end)[0] == pytest.approx(0.75)


def _broken_files(tmp: Path, good: Path) -> dict[str, Path]:
    truncated = tmp / "truncated.net"
    truncated.write_bytes(good.read_bytes()[:3000])
    text = tmp / "text.net"
    text.write_text("not a network")
    foreign = tmp / "foreign.net"
    with h5py.File(foreign, "w") as h:
        h.create_group("layer")
    no_layers = tmp / "nolayers.net"
    with h5py.File(good, "r") as src, h5py.File(no_layers, "w") as dst:
        src.copy("loihi_hybrid", dst)
    return {"truncated": truncated, "text": text, "foreign": foreign, "nolayers": no_layers,
            "missing": tmp / "missing.net"}


def test_bad_files_raise_input_error(exported, tmp_path):
    _, _, _, path = exported
    for kind, bad in _broken_files(tmp_path, path).items():
        with pytest.raises(InputError) as err:
            read_netx(bad)
        assert str(bad) in str(err.value), kind


def test_deploy_cli_bad_file_one_line_exit_2(exported, tmp_path):
    _, _, _, path = exported
    bad = _broken_files(tmp_path, path)["truncated"]
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), "--backend", "emu",
                           "--model", str(bad)], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in proc.stderr
