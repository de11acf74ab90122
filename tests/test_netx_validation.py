"""The NetX validator (every reader of a ``.net`` goes through it), the atomic export write and the fuzzer."""
import errno
import importlib.util
import json
import pathlib
import shutil
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from loihi_hybrid.errors import InputError
from loihi_hybrid.fixedpoint import FixedLayer, FixedNetwork, emulate
from loihi_hybrid.fixedpoint.netx import read_netx, write_netx
from loihi_hybrid.fixedpoint.validate import MAX_NEURONS, MAX_STEPS

ROOT = Path(__file__).resolve().parents[1]


def _net() -> FixedNetwork:
    rng = np.random.default_rng(0)
    conv = FixedLayer("enc", "conv", 2 * rng.integers(-20, 60, (2, 1, 3, 3)).astype(np.int32),
                      np.array([10, -5], np.int32), (1, 6, 6), (2, 6, 6), stride=1, padding=1,
                      i_decay=1612, v_decay=0, vth=900, weight_exp=-2, scale=10.0)
    readout = FixedLayer("readout", "conv", 2 * rng.integers(-30, 30, (1, 2, 3, 3)).astype(np.int32),
                         np.array([3], np.int32), (2, 6, 6), (1, 6, 6), stride=1, padding=1, spiking=False,
                         scale=2.0)
    return FixedNetwork([conv, readout], (1, 6, 6), steps=8, warmup=3)


@pytest.fixture(scope="module")
def meta():
    """The committed CAE export's metadata (config, decoding, preprocessing): a tiny file deploy can run."""
    with h5py.File(ROOT / "netx_exports" / "cae_hybrid.net", "r") as h:
        m = json.loads(h["loihi_hybrid"].attrs["metadata"])
    return {k: v for k, v in m.items() if k not in ("steps", "warmup", "input_levels", "layer_scales", "layer_names")}


@pytest.fixture()
def good(tmp_path, meta):
    return write_netx(_net(), tmp_path / "tiny.net", meta)


def _mutant(good: Path, fn, name: str = "bad.net") -> Path:
    bad = good.with_name(name)
    shutil.copyfile(good, bad)
    with h5py.File(bad, "r+") as h:
        fn(h)
    return bad


def _replace(g, key, data, **kw):
    del g[key]
    g.create_dataset(key, data=data, **kw)


def _set_meta(h, **kv):
    m = json.loads(h["loihi_hybrid"].attrs["metadata"])
    for k, v in kv.items():
        if v is _DELETE:
            del m[k]
        else:
            m[k] = v
    h["loihi_hybrid"].attrs["metadata"] = json.dumps(m)


_DELETE = object()


def _refused(path: Path, *words: str, **kw) -> str:
    with pytest.raises(InputError) as err:
        read_netx(path, **kw)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_good_file_round_trip(good):
    net, meta = read_netx(good, require_deploy=True)
    a = _net()
    assert [ly.weight.tolist() for ly in net.layers] == [ly.weight.tolist() for ly in a.layers]
    assert (net.steps, net.warmup, net.layers[0].weight_exp) == (8, 3, -2)
    x = np.random.default_rng(1).random((2, 1, 6, 6))
    assert np.array_equal(emulate(net, x).v_end, emulate(a, x).v_end)


def test_committed_exports_pass():
    for f in ("locnet_hybrid.net", "cae_hybrid.net"):
        read_netx(ROOT / "netx_exports" / f, require_deploy=True)


@pytest.mark.parametrize("value", [np.nan, np.inf, 2.0 ** 40, 255, -258])
def test_bad_weights(good, value):
    def fn(h):
        w = h["layer/1/weight"][()].astype(np.float64)
        w[0, 0, 0, 0] = value
        _replace(h["layer/1"], "weight", w)
    _refused(_mutant(good, fn), "layer 1", "weight")


@pytest.mark.parametrize("key,value,word", [("vThMant", -5, "vThMant"), ("vThMant", 0, "vThMant"),
                                            ("iDecay", 10 ** 6, "iDecay"), ("vDecay", 4097, "vDecay"),
                                            ("iDecay", np.nan, "NaN")])
def test_bad_neuron_registers(good, key, value, word):
    _refused(_mutant(good, lambda h: _replace(h["layer/1/neuron"], key, value)), "layer 1", word)


@pytest.mark.parametrize("value", [100, -9, 8])
def test_bad_weight_exponent(good, value):
    _refused(_mutant(good, lambda h: _replace(h["layer/1"], "weightExponent", value)), "weightExponent")


def test_bad_bias(good):
    _refused(_mutant(good, lambda h: _replace(h["layer/1"], "bias", np.array([5000, 0]))), "bias")
    _refused(_mutant(good, lambda h: _replace(h["layer/1"], "bias", np.array([1, 2, 3]))), "bias has 3")


@pytest.mark.parametrize("how", ["out-shape", "weight-channels", "stride", "padding", "kernel", "type"])
def test_shape_mismatch(good, how):
    def fn(h):
        g = h["layer/1"]
        if how == "out-shape":
            _replace(g, "shape", np.array([2, 7, 6]))
        elif how == "weight-channels":
            _replace(g, "weight", np.zeros((2, 3, 3, 3), np.int16))
        elif how == "stride":
            _replace(g, "stride", np.array([0, 0]))
        elif how == "padding":
            _replace(g, "padding", np.array([1, 0]))
        elif how == "kernel":
            _replace(g, "kernelSize", np.array([5, 5]))
        else:
            _replace(g, "type", np.array([b"dense"]))
    _refused(_mutant(good, fn), "layer 1")


@pytest.mark.parametrize("key", ["steps", "warmup", "input_levels", "layer_scales", "task"])
def test_missing_metadata_key(good, key):
    _refused(_mutant(good, lambda h: _set_meta(h, **{key: _DELETE})), key)


@pytest.mark.parametrize("key", ["config", "decoding", "preprocessing"])
def test_missing_deploy_metadata(good, key):
    bad = _mutant(good, lambda h: _set_meta(h, **{key: _DELETE}))
    read_netx(bad)  # what the network needs is there
    _refused(bad, key, require_deploy=True)


def test_bad_config_is_one_line(good):
    def fn(h):
        m = json.loads(h["loihi_hybrid"].attrs["metadata"])
        m["config"]["steps"] = "many"
        h["loihi_hybrid"].attrs["metadata"] = json.dumps(m)
    _refused(_mutant(good, fn), "config")


@pytest.mark.parametrize("kv,word", [({"steps": 0}, "steps"), ({"steps": -1}, "steps"), ({"steps": 2.5}, "steps"),
                                     ({"warmup": 8}, "warmup"), ({"warmup": 20}, "warmup"),
                                     ({"warmup": -1}, "warmup"), ({"layer_scales": [1.0]}, "layer_scales"),
                                     ({"layer_scales": [1.0, float("nan")]}, "layer_scales"),
                                     ({"layer_scales": [1.0, 0]}, "layer_scales")])
def test_bad_window_and_scales(good, kv, word):
    _refused(_mutant(good, lambda h: _set_meta(h, **kv)), word)


def test_steps_cap(good):
    _refused(_mutant(good, lambda h: _set_meta(h, steps=10 ** 7)), "steps", str(MAX_STEPS))


def test_billion_neuron_layer_refused_without_allocating(good):
    def fn(h):
        g = h["layer/2"]
        _replace(g, "shape", np.array([10 ** 9, 1, 1]))
        _replace(g, "bias", None, shape=(10 ** 9,), dtype=np.int32, chunks=(1024,))
        _replace(g, "weight", None, shape=(10 ** 9, 2, 3, 3), dtype=np.int16, chunks=(1, 2, 3, 3))
    bad = _mutant(good, fn)
    tracemalloc.start()
    try:
        _refused(bad, str(MAX_NEURONS))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6


@pytest.mark.parametrize("how", ["external-link", "soft-link", "external-storage", "virtual", "extra-link"])
def test_links_to_other_files_refused(good, how):
    other = good.with_name("other.bin")

    def fn(h):
        g = h["layer/1"]
        w = g["weight"][()].astype(np.int16)
        if how in ("external-link", "virtual", "extra-link"):
            with h5py.File(other, "w") as o:
                o.create_dataset("w", data=w)
        del g["weight"]
        if how == "external-link":
            g["weight"] = h5py.ExternalLink(str(other), "/w")
        elif how == "soft-link":
            g["weight"] = h5py.SoftLink("/layer/2/weight")
        elif how == "external-storage":
            other.write_bytes(w.tobytes())
            g.create_dataset("weight", shape=w.shape, dtype=np.int16, external=[(str(other), 0, w.nbytes)])
        elif how == "virtual":
            layout = h5py.VirtualLayout(shape=w.shape, dtype=np.int16)
            layout[...] = h5py.VirtualSource(str(other), "w", shape=w.shape)
            g.create_virtual_dataset("weight", layout)
        else:
            g.create_dataset("weight", data=w)
            h["loihi_hybrid"]["x"] = h5py.ExternalLink(str(other), "/w")
    word = {"external-link": "external link", "soft-link": "soft link", "external-storage": "external storage",
            "virtual": "virtual", "extra-link": "external link"}[how]
    _refused(_mutant(good, fn), word)


def test_full_disk_keeps_previous_file(good, monkeypatch, meta):
    before = good.read_bytes()

    def full(self, data):
        with open(self, "wb") as f:
            f.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    net = _net()
    net.steps = 9
    with pytest.raises(InputError) as err:
        write_netx(net, good, meta)
    monkeypatch.undo()
    assert "disk full" in str(err.value) and str(good) in str(err.value)
    assert good.read_bytes() == before
    assert sorted(p.name for p in good.parent.iterdir()) == ["tiny.net"]


def test_write_refuses_what_read_would_refuse(tmp_path, meta):
    net = _net()
    net.layers[0].vth = -1
    with pytest.raises(InputError, match="vThMant"):
        write_netx(net, tmp_path / "x.net", meta)
    assert not list(tmp_path.iterdir())


def test_fuzz_small(good):
    spec = importlib.util.spec_from_file_location("fuzz_netx", ROOT / "scripts" / "fuzz_netx.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    threads = torch.get_num_threads()
    try:
        assert mod.main(["--model", str(good), "--n", "60", "--seed", "1", "--limit-s", "60"]) == 0
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("value", [None, "x", "32", [], True, [1.0, float("nan")], 1e300, [[1.0, 2.0, 3.0]]])
def test_check_decoding(value):
    from loihi_hybrid.fixedpoint.validate import check_decoding

    check_decoding("f.net", {"target_mean": [0.1, 0.2, 0.3, 0.4]}, ("target_mean",), (4,))
    with pytest.raises(InputError, match="decoding.target_mean"):
        check_decoding("f.net", {"target_mean": value} if value is not None else {}, ("target_mean",), (4,))
