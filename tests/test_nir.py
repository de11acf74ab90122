"""NIR export: the graph holds the chip's integers converted as its metadata states, reads back with the same
values, an outside library (snnTorch) runs it close to the emulator, and the CAE's transposed convolution is
one clear error naming the missing NIR node."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deploy_fixtures import tiny
from loihi_hybrid.errors import InputError
from loihi_hybrid.fixedpoint import emulate

nir = pytest.importorskip("nir", reason="the optional 'nir' extra is not installed")
from loihi_hybrid.interop.nir import read_nir, write_nir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SNNTORCH_DT = 1e-4


@pytest.fixture(scope="module")
def locnet_nir(tmp_path_factory):
    _, x, fixed = tiny("locnet")
    path = write_nir(fixed, tmp_path_factory.mktemp("nir") / "tiny.nir", {"task": "locnet"}, SNNTORCH_DT)
    return x, fixed, path


def test_graph_reads_back_with_the_stated_conversions(locnet_nir):
    _, fixed, path = locnet_nir
    graph, meta = read_nir(path)
    assert meta["dt_s"] == SNNTORCH_DT and meta["steps"] == fixed.steps and meta["warmup"] == fixed.warmup
    assert meta["netx_metadata"] == {"task": "locnet"} and "tau_syn" in meta["conventions"]
    chain = ["input"]
    while chain[-1] != "output":
        chain.append(next(b for a, b in graph.edges if a == chain[-1]))
    kinds = [type(graph.nodes[n]).__name__ for n in chain]
    spiking = [ly for ly in fixed.layers if ly.spiking]
    assert kinds.count("CubaLIF") == len(spiking) and kinds.count("Flatten") == 1
    assert kinds[-2] == "Affine" and chain[-2] == fixed.readout.name  # the readout: an Affine, no neuron
    for i, ly in enumerate(fixed.layers):
        unit = 64.0 * ly.scale
        node = graph.nodes[ly.name]
        levels = fixed.input_levels if i == 0 else 1
        # weights: mantissa * 2^e / (64 k), first layer x input levels; exact in float64
        assert np.allclose(node.weight, ly.weight * 2.0 ** ly.weight_exp * levels / unit, rtol=1e-12, atol=0)
        du = ly.i_decay / 4096
        assert np.allclose(node.bias, ly.bias / unit * (du if ly.spiking else 1.0), rtol=1e-12, atol=0)
        if ly.spiking:
            lif = graph.nodes[f"{ly.name}_lif"]
            assert np.allclose(lif.v_threshold, ly.vth / unit, rtol=1e-12)
            assert np.allclose(1 - SNNTORCH_DT / lif.tau_syn, 1 - du) and np.allclose(lif.w_in * du, 1)
            assert np.allclose(1 - SNNTORCH_DT / lif.tau_mem, 1 - ly.v_decay / 4096)
            assert np.allclose(lif.r, lif.tau_mem / SNNTORCH_DT) and not lif.v_leak.any()


def test_cae_names_the_missing_transposed_convolution(tmp_path):
    _, _, fixed = tiny("cae")
    with pytest.raises(InputError) as err:
        write_nir(fixed, tmp_path / "cae.nir", {"task": "cae"}, SNNTORCH_DT)
    msg = str(err.value)
    assert "\n" not in msg and "up1" in msg and "transposed-convolution" in msg and "ConvTranspose2d" in msg
    assert not (tmp_path / "cae.nir").exists()


def test_snntorch_reads_the_dt_convention_as_stated(locnet_nir):
    """snnTorch's importer turns each CubaLIF into a ``Synaptic`` neuron with the chip's per-step decays and
    threshold, and runs the graph to a readout of the right shape."""
    snntorch = pytest.importorskip("snntorch", reason="the optional 'nir' extra (snntorch) is not installed")
    from snntorch.import_nir import import_from_nir

    from loihi_hybrid.interop.nir_snntorch import run_snntorch

    x, fixed, path = locnet_nir
    graph, _ = read_nir(path)
    module = import_from_nir(graph)
    neurons = dict((n, m) for n, m in module.named_modules() if isinstance(m, snntorch.Synaptic))
    spiking = [ly for ly in fixed.layers if ly.spiking]
    assert len(neurons) == len(spiking)
    for ly in spiking:
        m = neurons[f"{ly.name}_lif"]
        assert np.isclose(float(m.alpha), 1 - ly.i_decay / 4096, atol=1e-6)
        assert np.isclose(float(m.beta), 1 - ly.v_decay / 4096, atol=1e-6)
        assert np.isclose(float(m.threshold), ly.vth / (64.0 * ly.scale), rtol=1e-6)
    got = run_snntorch(path, x)
    assert got.shape == (len(x), *fixed.readout.out_shape) and np.isfinite(got).all()


@pytest.mark.slow
def test_snntorch_metric_matches_the_emulator_on_real_data(shared_data, tmp_path):
    """The committed LocNet through NIR in snnTorch: mean IoU of the first test images within 0.01 of the
    bit-exact emulator's (the whole split: README, export.py --check-snntorch)."""
    pytest.importorskip("snntorch", reason="the optional 'nir' extra (snntorch) is not installed")
    from loihi_hybrid.interop.nir_snntorch import run_snntorch
    from loihi_hybrid.workflows.deploy import open_export

    src = ROOT / "netx_exports" / "locnet_hybrid.net"
    if not (src.is_file() and (shared_data / "caltech_airplanes").is_dir()):
        pytest.skip("committed LocNet export or Caltech data not present")
    net, meta, task = open_export(src)
    part = task.load_data(str(shared_data / "caltech_airplanes")).test.subset(np.arange(8))
    path = write_nir(net, tmp_path / "locnet.nir", meta, SNNTORCH_DT)
    decode = lambda r: task.decode_readout(r, meta["decoding"])  # noqa: E731
    consumer = task.score(decode(run_snntorch(path, part.x)), part)[0]
    emu = task.score(decode(emulate(net, part.x).readout), part)[0]
    assert abs(consumer - emu) <= 0.01, (consumer, emu)


def test_snntorch_refuses_another_dt(tmp_path):
    pytest.importorskip("snntorch", reason="the optional 'nir' extra (snntorch) is not installed")
    from loihi_hybrid.interop.nir_snntorch import run_snntorch

    _, x, fixed = tiny("locnet")
    path = write_nir(fixed, tmp_path / "ms.nir", {"task": "locnet"}, 1e-3)
    with pytest.raises(InputError, match="--nir-dt 0.0001"):
        run_snntorch(path, x)


@pytest.mark.slow
def test_export_cli_from_a_net_file(tmp_path):
    """``export.py FILE.net --format nir``: the committed CAE is one line and exit 2; LocNet converts."""
    cae = ROOT / "netx_exports" / "cae_hybrid.net"
    loc = ROOT / "netx_exports" / "locnet_hybrid.net"
    if not (cae.is_file() and loc.is_file()):
        pytest.skip("committed exports not present")
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / "scripts" / "export.py"), *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, timeout=600)
    p = run(cae, "--format", "nir", "--out", tmp_path / "cae.nir")
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and "transposed-convolution" in lines[0], p.stderr
    p = run(loc, "--format", "nir", "--nir-dt", SNNTORCH_DT, "--out", tmp_path / "loc.nir")
    assert p.returncode == 0, p.stderr
    graph, meta = read_nir(tmp_path / "loc.nir")
    with __import__("h5py").File(loc) as h:
        netx_meta = json.loads(h["loihi_hybrid"].attrs["metadata"])
    assert meta["netx_metadata"]["decoding"] == netx_meta["decoding"]
    assert sum(type(n).__name__ == "CubaLIF" for n in graph.nodes.values()) == len(netx_meta["layer_names"]) - 1
