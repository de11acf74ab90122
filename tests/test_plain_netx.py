"""Never silently wrong in plain lava-dl: every export either runs in plain ``netx.hdf5.Network`` on Lava's
simulator spike for spike as the project's ``sim`` back end, or plain NetX refuses to load it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from deploy_fixtures import tiny
from loihi_hybrid.fixedpoint import emulate
from loihi_hybrid.fixedpoint.format import INPUT_MESSAGE_BITS, WEIGHT_MAX
from loihi_hybrid.fixedpoint.netx import plain_netx_guarded, read_netx, write_netx
from loihi_hybrid.fixedpoint.plain import for_plain_netx, plain_netx_issues

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "netx_exports").glob("*.net"))
FIRST_STEP = 2  # 0-based Lava step at which layer 0 integrates frame 0 (as the sim back end feeds it)


def plain_netx_outcome(path: Path, q: np.ndarray, steps: int) -> tuple[str, object]:
    """``("refused", exception)`` if plain NetX cannot build the file, else ``("ran", trains)``: every layer's
    spikes ``(N, *shape, T)`` in (C, H, W) order, fed and reset as the ``sim`` back end does."""
    from loihi_hybrid.compat import lava_py311

    lava_py311.apply()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.dataloader import SpikeDataloader
    from lava.proc.io.sink import RingBuffer

    try:
        net = netx.hdf5.Network(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS,
                                reset_interval=steps, reset_offset=FIRST_STEP)
    except Exception as err:  # noqa: BLE001 (any error at load is the refusal we want)
        return "refused", err

    class Frames:
        def __len__(self) -> int:
            return len(q)

        def __getitem__(self, k: int) -> tuple[np.ndarray, int]:
            frame = np.transpose(q[k], (2, 1, 0)).astype(np.int32)
            return np.repeat(frame[..., None], steps, axis=-1), 0

    n, layers = len(q), len(net.layers)
    total = n * steps + FIRST_STEP + layers - 1
    loader = SpikeDataloader(dataset=Frames(), interval=steps, offset=0)
    loader.s_out.connect(net.inp)
    sinks = []
    for block in net.layers:
        sink = RingBuffer(shape=block.out.shape, buffer=total)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        data = [s.data.get() for s in sinks]
    finally:
        net.stop()
    trains = []
    for i, d in enumerate(data):
        win = d[..., FIRST_STEP + i:FIRST_STEP + i + n * steps]
        if win.ndim == 4:  # (x, y, c, t) -> (c, y, x, t)
            win = win.transpose(2, 1, 0, 3)
        trains.append(np.moveaxis(win.reshape(*win.shape[:-1], n, steps), -2, 0) != 0)
    return "ran", trains


def check_one_outcome(path: Path, x: np.ndarray, reference: str = "sim") -> str:
    """Assert that plain NetX refuses ``path`` or runs ``x`` spike for spike as ``sim`` (or ``emu``, which
    ``test_lava_parity.py`` holds to ``sim`` spike for spike: half the time on a full-size network)."""
    net, _ = read_netx(path)
    q = net.encode_input(x)
    outcome, result = plain_netx_outcome(path, q, net.steps)
    if outcome == "refused":
        assert plain_netx_issues(net), f"{path.name}: plain NetX refused a file it should run: {result!r}"
        return outcome
    assert not plain_netx_issues(net), f"{path.name}: plain NetX loaded a file it runs differently " \
                                       f"({'; '.join(plain_netx_issues(net))}): re-export it with export.py"
    if reference == "sim":
        from loihi_hybrid.backends.lava.runner import run_lava

        trains = run_lava(path, net, q, backend="sim", record_trains=True, chunk=1).trains
    else:
        trains = emulate(net, x, record=True).spikes
    assert len(result) == len(trains) == len(net.layers)
    for layer, a, b in zip(net.layers, result, trains):
        assert a.shape == b.shape, layer.name
        assert int((a != b).sum()) == 0, f"{path.name}/{layer.name}: {(a != b).sum()} spikes differ from {reference}"
    assert sum(int(t.sum()) for t in result[:-1]) > 0  # the comparison covers real activity
    return outcome


# --- the plain form and the guards (fast) ---------------------------------------------------------------

def test_fold_moves_the_first_exponent_into_the_input_levels():
    _, x, fixed = tiny("locnet")
    assert fixed.layers[0].weight_exp < 0 and plain_netx_issues(fixed)
    plain = for_plain_netx(fixed, x)
    first = plain.layers[0]
    assert first.weight_exp == 0 and not plain_netx_issues(plain)
    assert 1 <= plain.input_levels < fixed.input_levels
    assert np.abs(first.weight).max() <= WEIGHT_MAX and np.all(first.weight % 2 == 0)
    # the rest of the network, the scales, biases and thresholds are untouched
    assert all(a is b for a, b in zip(plain.layers[1:], fixed.layers[1:], strict=True))
    assert (first.vth, first.scale) == (fixed.layers[0].vth, fixed.layers[0].scale)
    assert np.array_equal(first.bias, fixed.layers[0].bias)
    # the first layer's synaptic sums keep their scale: same real-valued weights per unit of the image
    ratio = first.weight * plain.input_levels / (fixed.layers[0].weight * 2.0 ** fixed.layers[0].weight_exp
                                                 * fixed.input_levels + 1e-300)
    big = np.abs(fixed.layers[0].weight) >= 64
    assert np.allclose(ratio[big], 1.0, atol=0.35)


def test_cae_keeps_its_exponent_and_convT_refuses():
    _, x, fixed = tiny("cae")
    assert for_plain_netx(fixed, x) is fixed  # convT: plain NetX refuses anyway, keep the finer first layer
    assert plain_netx_guarded(fixed) == set()


def test_keep_exponent_file_has_the_guard(tmp_path):
    _, _, fixed = tiny("locnet")
    path = write_netx(fixed, tmp_path / "k.net", {"task": "locnet"})
    with h5py.File(path) as h:
        g = h["layer/1"]
        assert "weightExponent" in g and "dilation" not in g and "groups" not in g
        assert "KeyError 'dilation'" in g.attrs["extension"]
        assert "dilation" in h["layer/2"]
    back, _ = read_netx(path)
    assert back.layers[0].weight_exp == fixed.layers[0].weight_exp
    assert np.array_equal(back.layers[0].weight, fixed.layers[0].weight)


def test_dense_exponent_without_guard_is_not_written(tmp_path):
    _, _, fixed = tiny("locnet")
    fc = next(i for i, ly in enumerate(fixed.layers) if ly.op == "dense")
    bad = dataclasses.replace(fixed, layers=[*fixed.layers[:fc], dataclasses.replace(fixed.layers[fc], weight_exp=-2),
                                             *fixed.layers[fc + 1:]])
    with pytest.raises(ValueError, match="dense layer with a weight exponent"):
        write_netx(bad, tmp_path / "d.net", {"task": "locnet"})
    assert not (tmp_path / "d.net").exists()


# --- plain lava-dl on Lava's simulator (slow) -----------------------------------------------------------

@pytest.mark.slow
def test_plain_form_runs_spike_for_spike_in_plain_netx(tmp_path):
    _, x, fixed = tiny("locnet")
    path = write_netx(for_plain_netx(fixed, x), tmp_path / "plain.net", {"task": "locnet"})
    assert check_one_outcome(path, x[:1]) == "ran"


@pytest.mark.slow
@pytest.mark.parametrize("task", ["locnet", "cae"])
def test_files_plain_netx_would_run_wrong_are_refused(task, tmp_path):
    _, x, fixed = tiny(task)
    path = write_netx(fixed, tmp_path / "ext.net", {"task": task})  # exponent kept (CAE: and convT)
    outcome, err = plain_netx_outcome(path, fixed.encode_input(x[:1]), fixed.steps)
    assert outcome == "refused"
    assert ("dilation" in str(err)) if task == "locnet" else ("convT" in str(err))


@pytest.mark.slow
@pytest.mark.parametrize("path", COMMITTED, ids=[p.name for p in COMMITTED])
def test_committed_export_runs_or_is_refused_in_plain_netx(path):
    net, _ = read_netx(path)
    x = np.random.default_rng(0).random((1, *net.input_shape))
    check_one_outcome(path, x, reference="emu")
