"""Other teams' NetX files (``../shared/netx_zoo``: lava-dl's own networks and reference spike trains) run
through the reader, the emulator, ``HybridNetwork`` on Lava's simulator and ``deploy``, spike for spike
identical to plain lava-dl NetX on Lava's ``fixed_pt`` simulator and to lava-dl's reference arrays.

Timing (see the zoo README): deploy runs every sample from zero state, each layer reset one step after
the one before it (NetX's ``reset_interval``), which is the emulator's default (time-aligned) mode; the
PilotNet-LIF references are such a run (layer ``j``'s window starts at step ``j``). Sigma-delta neurons
cannot be reset: they run as one fresh Lava run per sample (the emulator's ``pipeline`` mode).
Reference arrays are in Lava's (x, y, c, t) order, except tinynet's (SLAYER's (N, C, H, W, T)).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from loihi_hybrid.errors import InputError
from loihi_hybrid.fixedpoint.emulator import THREAD_WORK, emulator_threads, run_network
from loihi_hybrid.fixedpoint.format import netx_dense_weights
from loihi_hybrid.fixedpoint.netx import read_netx

ZOO = Path(__file__).resolve().parents[1].parent / "shared" / "netx_zoo"
LAVA_STEPS = {"pilotnet_lif": 6}  # PilotNet's ~20 Lava processes run a few steps per second: keep it short
PILOT_NAMES = ["input", "conv-0", "conv-1", "conv-2", "conv-3", "conv-4", "fc-0", "fc-1", "fc-2"]

pytestmark = pytest.mark.skipif(not ZOO.is_dir(), reason=f"NetX zoo not found: {ZOO}")


def _chw(a: np.ndarray) -> np.ndarray:
    """(x, y, c[, t]) -> (c, y, x[, t])."""
    return np.moveaxis(a, (0, 1, 2), (2, 1, 0)) if a.ndim >= 3 else a


def _zoo() -> dict[str, tuple[Path, np.ndarray, int]]:
    """name -> (file, one sample's raw input in (C, H, W)[, T] order, steps)."""
    rng = np.random.default_rng(0)
    # Oxford's weights are mostly inhibitory: random spikes leave it silent; step t drives the inputs with
    # strong excitatory weights onto hidden neuron t instead
    oxford_w, _ = read_netx(ZOO / "oxford" / "network.net")
    return {
        "tinynet": (ZOO / "tinynet" / "tiny.net", _chw(np.load(ZOO / "tinynet" / "input_bias.npy")).astype(int), 17),
        "pilotnet_lif": (ZOO / "pilotnet_lif" / "network.net", _chw(np.load(ZOO / "pilotnet_lif" / "image.npy")), 16),
        "pilotnet_sdnn": (ZOO / "pilotnet_sdnn" / "network.net",
                          _chw(np.load(ZOO / "pilotnet_sdnn" / "input.npy")[..., 0]), 9),
        "mnist": (ZOO / "mnist" / "network.net", (rng.random(784) < 0.3).astype(int), 12),
        "oxford": (ZOO / "oxford" / "network.net", (oxford_w.layers[0].weight[:12] > 40).T.astype(int), 12),
    }


# --- reader and emulator against lava-dl's references (no Lava) ------------------------------------------

def test_every_zoo_file_reads():
    kinds = {}
    for name, (path, _, _) in _zoo().items():
        net, meta = read_netx(path)
        assert meta == {}
        kinds[name] = [(ly.op, ly.neuron) for ly in net.layers]
    assert kinds["tinynet"][0] == ("input", "cuba") and kinds["mnist"] == [("dense", "cuba")] * 3
    assert kinds["pilotnet_sdnn"][0] == ("input", "sdnn") and kinds["pilotnet_sdnn"][-1] == ("dense", "sigma")
    pilot, _ = read_netx(ZOO / "pilotnet_lif" / "network.net")
    conv4 = pilot.layers[4]
    assert (conv4.stride, conv4.padding, conv4.out_shape) == ((2, 1), (1, 0), (64, 4, 22))
    assert pilot.layers[-1].weight.shape == (1, 10) and pilot.steps == 16  # 1-D weight; simulation/tSample


def test_netx_args_select_layers():
    path = ZOO / "pilotnet_lif" / "network.net"
    net, _ = read_netx(path, num_layers=3)
    assert [ly.op for ly in net.layers] == ["input", "conv", "conv"]
    net, _ = read_netx(path, skip_layers=1)
    assert net.layers[0].op == "conv" and net.input_shape == (3, 66, 200) and net.input_bits == 0
    net, _ = read_netx(ZOO / "pilotnet_sdnn" / "network.net", skip_layers=1)
    assert net.input_bits == 16  # the skipped Delta layer's message bits, as NetX passes them on


def test_pilotnet_lif_every_layer_matches_references():
    path, bias, steps = _zoo()["pilotnet_lif"]
    net, _ = read_netx(path)
    r = run_network(net, bias[None], steps, record=True)
    for j, name in enumerate(PILOT_NAMES):
        ref = _chw(np.load(ZOO / "pilotnet_lif" / f"{name}.npy"))[..., j:j + steps]  # layer j's window
        got = r.spikes[j][0][..., :ref.shape[-1]]
        assert ref.sum() > 0 and int((got != ref).sum()) == 0, name


def test_tinynet_matches_reference():
    path, bias, steps = _zoo()["tinynet"]
    net, _ = read_netx(path)
    out = run_network(net, bias[None], steps, record=True).spikes[-1][0]
    ref = np.load(ZOO / "tinynet" / "output.npy")[0]   # SLAYER (C, H, W, T), one step behind (lava-dl's test)
    assert ref.sum() > 0 and int((out[..., :15] != ref[..., 1:16]).sum()) == 0


def test_pilotnet_sdnn_matches_reference():
    path, x, steps = _zoo()["pilotnet_sdnn"]
    net, _ = read_netx(path)
    out = run_network(net, x[None], steps, pipeline=True, record=True).spikes[-1][0]
    assert np.array_equal(out.reshape(1, -1), np.load(ZOO / "pilotnet_sdnn" / "output.npy").astype(np.int64))


def test_dense_weights_as_netx_builds_them():
    """NetX shifts dense weights to fill the synapse and Lava's Dense clips/truncates them: the same here."""
    from loihi_hybrid.compat import lava_py311

    lava_py311.apply()
    from lava.lib.dl.netx.utils import optimize_weight_bits
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    rng = np.random.default_rng(0)
    for k in range(300):  # the validator's weight range, [-256, 254]
        lo, hi = [(-256, 255), (0, 255), (-256, 0), (-20, 21)][k % 4]
        w = rng.integers(lo, hi, (4, 5)) // (1 << int(rng.integers(0, 4)))  # odd, even, multiples of 4, 8
        if not w.any():
            continue
        ref, bits, exp, _ = optimize_weight_bits(w.copy())
        mode = determine_sign_mode(ref)
        ref = truncate_weights(clip_weights(ref, mode, 8), mode, bits)
        got, got_exp = netx_dense_weights(w)
        assert np.array_equal(got, ref) and got_exp == exp, w


def test_thread_policy():
    net, _ = read_netx(ZOO / "tinynet" / "tiny.net")
    assert emulator_threads(net, 32) == 1
    assert emulator_threads(net, int(THREAD_WORK)) >= 1
    before = torch.get_num_threads()
    run_network(net, _zoo()["tinynet"][1][None], 3)
    assert torch.get_num_threads() == before  # restored


@pytest.mark.parametrize("how", ["pool", "rf", "bias", "stride"])
def test_bad_plain_file_is_one_line(tmp_path, how):
    import h5py

    bad = tmp_path / "bad.net"
    bad.write_bytes((ZOO / "tinynet" / "tiny.net").read_bytes())
    with h5py.File(bad, "r+") as h:
        g = h["layer/1"]
        if how == "pool":
            del g["type"]
            g.create_dataset("type", (1,), "S10", [b"pool"])
        elif how == "rf":
            del g["neuron/type"]
            g["neuron"].create_dataset("type", data=b"RF")
        elif how == "bias":
            del g["bias"]
            g.create_dataset("bias", data=np.full(24, 10 ** 5, np.float32))
        else:
            del g["stride"]
            g.create_dataset("stride", data=np.array([3, 1]))
    with pytest.raises(InputError) as err:
        read_netx(bad)
    assert "\n" not in str(err.value) and "layer 1" in str(err.value)


def test_deploy_cli_runs_a_plain_file(tmp_path, capsys):
    from loihi_hybrid.cli.deploy import main

    path, bias, steps = _zoo()["tinynet"]
    np.save(tmp_path / "in.npy", np.stack([bias, bias[:, ::-1]]).transpose(0, 3, 2, 1))  # (N, x, y, c)
    rc = main(["--backend", "emu", "--model", str(path), "--inputs", str(tmp_path / "in.npy"), "--layout", "xyc",
               "--steps", str(steps), "--save", str(tmp_path / "out.npz"), "--json", str(tmp_path / "s.json")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "no task metric" in text and "SynOps" in text and "Loihi 2 fit" in text
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["task"] is None and s["n_samples"] == 2 and s["energy"]["loihi_estimate_uj_per_inference"] > 0
    saved = np.load(tmp_path / "out.npz")
    net, _ = read_netx(path)
    ref = run_network(net, np.stack([bias, bias[:, ::-1]]), steps, record=True)
    assert np.array_equal(saved["spikes_2"], ref.spikes[2]) and np.array_equal(saved["counts"], ref.counts)
    assert [r["spikes"] for r in s["layers"]] == ref.counts.mean(0).tolist()
    # no inputs, or inputs of the wrong kind: one line, exit 2
    assert main(["--backend", "emu", "--model", str(path)]) == 2
    np.save(tmp_path / "f.npy", np.full((1, 3, 16, 16), 0.5))
    assert main(["--backend", "emu", "--model", str(path), "--inputs", str(tmp_path / "f.npy")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]  # (tqdm writes there too)
    assert len(err) == 2 and "--inputs" in err[0] and "whole numbers" in err[1]


# --- Lava's simulator: plain NetX, HybridNetwork through deploy, the emulator ---------------------------

def _plain_netx_trains(path: Path, net, x: np.ndarray, steps: int) -> list[np.ndarray]:
    """Every layer's messages from plain ``netx.hdf5.Network`` on Lava's fixed_pt simulator, in (C, H, W, T),
    windowed as deploy runs them (CUBA: per-layer resets; sigma-delta: a fresh run of ``steps``)."""
    from loihi_hybrid.compat import lava_py311

    lava_py311.apply()
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    sdnn = any(ly.neuron != "cuba" for ly in net.layers)
    direct = net.layers[0].op == "input"
    first = 1 if direct else 2
    total = steps if sdnn else steps + first + len(net.layers)
    lnet = netx.hdf5.Network(net_config=str(path), **({} if sdnn else {"reset_interval": steps,
                                                                        "reset_offset": first}))
    xyc = np.moveaxis(x, (0, 1, 2), (2, 1, 0)) if len(net.input_shape) == 3 else x
    if net.bias_input:
        lnet.in_layer.neuron.bias_mant.init = xyc
    else:
        frames = xyc if xyc.ndim > len(net.input_shape) else np.repeat(xyc[..., None], steps, -1)
        lead = 0 if sdnn else 1  # deploy's dataloader sends frame 0 at step 2
        data = np.zeros((*frames.shape[:-1], total), np.int32)
        data[..., lead:lead + steps] = frames
        src = io.source.RingBuffer(data=data)
        src.s_out.connect(lnet.in_layer.neuron.a_in if direct else lnet.inp)
    sinks = []
    for block in lnet.layers:
        sink = io.sink.RingBuffer(shape=block.out.shape, buffer=total)
        block.out.connect(sink.a_in)
        sinks.append(sink)
    try:
        lnet.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        data = [s.data.get() for s in sinks]
    finally:
        lnet.stop()
    out = []
    for j, (d, ly) in enumerate(zip(data, net.layers)):
        d = d if sdnn else d[..., first + j:first + j + steps]
        d = np.moveaxis(d.reshape(*ly.out_shape[::-1], -1), (0, 1, 2), (2, 1, 0)) if len(ly.out_shape) == 3 \
            else d.reshape(*ly.out_shape, -1)
        out.append(d)
    return out


@pytest.fixture(params=list(_zoo()) if ZOO.is_dir() else [], scope="module")
def zoo_on_lava(request, tmp_path_factory):
    from loihi_hybrid.workflows.deploy import deploy_raw

    path, x, steps = _zoo()[request.param]
    steps = LAVA_STEPS.get(request.param, steps)
    net, _ = read_netx(path)
    folder = tmp_path_factory.mktemp(request.param)
    runs = {}
    for backend in ("emu", "sim"):
        s = deploy_raw(path, x[None], backend=backend, steps=steps, save=folder / f"{backend}.npz")
        runs[backend] = (s, np.load(folder / f"{backend}.npz"))
    return request.param, net, runs, _plain_netx_trains(path, net, x, steps)


@pytest.mark.slow
def test_deploy_emu_and_sim_match_plain_netx(zoo_on_lava):
    name, net, runs, plain = zoo_on_lava
    (s_emu, emu), (s_sim, sim) = runs["emu"], runs["sim"]
    assert np.array_equal(emu["counts"], sim["counts"]) and emu["counts"].sum() > 0
    assert [r["spikes"] for r in s_emu["layers"]] == [r["spikes"] for r in s_sim["layers"]]
    for j in range(len(net.layers)):
        e, s, p = emu[f"spikes_{j}"][0], sim[f"spikes_{j}"][0], plain[j]
        assert e.shape == s.shape == p.shape, (name, j)
        assert int((e != s).sum()) == 0 and int((e != p).sum()) == 0, f"{name} layer {j}"
    assert np.array_equal(emu["v_end"], sim["v_end"])
