"""torch.distributed on this machine (gloo, 2 processes, tiny synthetic runs): DDP training equals one
process with the same global batch, a run resumes under torchrun, and sharded deployment (``emu``, ``sim``)
equals the single-process summary spike for spike."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import dist_workers
from loihi_hybrid.cli import deploy as deploy_cli
from loihi_hybrid.cli import finetune
from loihi_hybrid.training import distributed, loop

ROOT = Path(__file__).resolve().parents[1]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
MINI = {"steps": 4, "readout_warmup": 2, "channels": [2, 2, 2], "hidden": [4, 4, 4],
        "data": {"input_size": [8, 8], "synthetic_samples": 60},
        "train": {"epochs_ann": 2, "epochs_hybrid": 2, "batch_size": 8, "max_train_batches": 2}}
TIMING = ("seconds", "seconds_per_sample")


def torchrun(*args: object, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([*TORCHRUN, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


def stage_weights(folder: Path, stage: str) -> dict:
    return torch.load(folder / f"{stage}.pt", weights_only=True)["state_dict"]


# fast: the exact percentile from the ranks' top shares ---------------------------------------------------
@pytest.mark.parametrize("q", [0.0, 12.5, 50.0, 99.0, 99.9, 100.0])
def test_percentile_from_top_shares_is_exact(q):
    rng = np.random.default_rng(1)
    parts = [rng.exponential(size=n).astype(np.float32) for n in (1000, 1, 0, 2347)]
    parts[0][:100] = 0.0  # ties, as silent neurons give
    n = sum(p.size for p in parts)
    got = distributed.merged_percentile([distributed.top_share(p, n, q) for p in parts], n, q)
    assert got == float(np.percentile(np.concatenate(parts), q))


def test_single_process_helpers_are_the_identity():
    x, y = np.arange(10.0), np.arange(10.0)
    assert distributed.share(x, y)[2] == 1.0 and distributed.share(x, y)[0] is x
    assert list(distributed.block(5)) == [0, 1, 2, 3, 4] and distributed.on_main(lambda: 3) == 3
    assert distributed.global_loss(torch.tensor(0.25), 1.0) == 0.25


@pytest.mark.parametrize("torchrun_worker", [False, True])
def test_exit_process_keeps_the_code_and_the_output(torchrun_worker):
    """A torchrun worker leaves with os._exit (no interpreter finalization, see exit_process): the exit code
    and the unterminated, buffered output still come out."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHELASTIC_RUN_ID"}
    if torchrun_worker:
        env["TORCHELASTIC_RUN_ID"] = "test"
    code = ("import sys; from loihi_hybrid.cli.common import exit_process; "
            "print('out', end=''); print('err', end='', file=sys.stderr); exit_process(3)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out", "err")


# DDP training equals one process ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("network, modes", [("locnet", ["ann", "hybrid", "bptt"]), ("digits", ["hybrid"])])
def test_ddp_steps_equal_one_process_with_the_same_global_batch(tmp_path, network, modes):
    """Two optimiser steps of global batch 7 (4 + 3 samples on two ranks): the weights within 1e-5 of one
    process, having moved far more than that; sharded evaluation, rates and conversion scales equal."""
    (tmp_path / "one").mkdir()
    (tmp_path / "ddp").mkdir()
    dist_workers.train_steps(str(tmp_path / "one" / "r.pt"), network, modes)
    assert distributed.spawn(2, dist_workers.train_steps, str(tmp_path / "ddp" / "r.pt"), network, modes) == 0
    one, ddp = (torch.load(tmp_path / d / "r.pt", weights_only=False) for d in ("one", "ddp"))
    for mode in modes:
        assert max_diff(one[mode]["end"], one[mode]["start"]) > 1e-4, mode  # the steps did move the weights
        assert max_diff(ddp[mode]["end"], one[mode]["end"]) < 1e-5, mode
        for h1, h2 in zip(one[mode]["history"], ddp[mode]["history"], strict=True):
            assert h2["train_loss"] == pytest.approx(h1["train_loss"], rel=1e-5)
            assert h2["val_metric"] == pytest.approx(h1["val_metric"], rel=1e-5, abs=1e-6)
    assert ddp["alphas"] == pytest.approx(one["alphas"], rel=1e-5)
    for name in ("test", "one"):
        assert ddp[name]["metric"] == pytest.approx(one[name]["metric"], rel=1e-5, abs=1e-6)
        assert ddp[name]["rates"] == pytest.approx(one[name]["rates"], rel=1e-5)
        np.testing.assert_allclose(ddp[name]["pred"], one[name]["pred"], rtol=1e-5, atol=1e-6)


# finetune.py under torchrun: rank 0 writes, same result, resume, errors --------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One process, torchrun with 2, and an interrupted one-process run (killed after its first hybrid
    epoch) resumed under torchrun."""
    root = tmp_path_factory.mktemp("ddp_runs")
    cfg = root / "mini.json"
    cfg.write_text(json.dumps(MINI))
    one, two, cut = root / "one", root / "two", root / "cut"
    assert finetune.main(["locnet", "--config", str(cfg), "--out", str(one), "--device", "cpu"]) == 0
    r = torchrun("scripts/finetune.py", "locnet", "--config", cfg, "--out", two, "--device", "cpu")
    assert r.returncode == 0, r.stderr[-3000:]

    saves = []

    def save_then_stop(path, *args):
        real_save(path, *args)
        saves.append(path.name)
        if path.name == "hybrid_last.pt":
            raise KeyboardInterrupt

    real_save = loop.save_checkpoint
    mp = pytest.MonkeyPatch()
    mp.setattr(loop, "save_checkpoint", save_then_stop)
    try:
        assert finetune.main(["locnet", "--config", str(cfg), "--out", str(cut), "--device", "cpu"]) == 130
    finally:
        mp.undo()
    assert saves == ["ann_last.pt", "ann_last.pt", "hybrid_last.pt"]
    resumed = torchrun("scripts/finetune.py", "locnet", "--resume", "--out", cut, "--device", "cpu")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return {"one": one, "two": two, "cut": cut, "resumed": resumed}


@pytest.mark.slow
def test_torchrun_finetune_equals_one_process_and_only_rank_0_writes(runs):
    one, two = runs["one"], runs["two"]
    for stage in ("ann", "converted", "hybrid"):
        assert max_diff(stage_weights(two, stage), stage_weights(one, stage)) < 1e-5, stage
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    for stage in ("ann", "converted", "hybrid"):
        assert s2[stage]["metric"] == pytest.approx(s1[stage]["metric"], rel=1e-5)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # no stray files


@pytest.mark.slow
def test_resume_under_torchrun_continues_the_interrupted_stage(runs):
    out = runs["resumed"].stdout
    assert "resuming" in out and "[ann] training" not in out and "[hybrid] fine-tuning" in out
    state = json.loads((runs["cut"] / "state.json").read_text())
    assert [h["epoch"] for h in state["history"]["hybrid"]] == [1, 2]
    assert max_diff(stage_weights(runs["cut"], "hybrid"), stage_weights(runs["one"], "hybrid")) < 1e-5


@pytest.mark.slow
def test_torchrun_refuses_an_existing_run_with_one_line(runs):
    r = torchrun("scripts/finetune.py", "locnet", "--out", runs["two"], "--device", "cpu", timeout=120)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode != 0 and len(errors) == 1 and "already holds a run" in errors[0], r.stderr[-2000:]


# sharded deployment ---------------------------------------------------------------------------------------
def deploy_summary(tmp_path: Path, name: str, *args: object) -> dict:
    out = tmp_path / f"{name}.json"
    assert deploy_cli.main([*map(str, args), "--json", str(out)]) == 0
    return json.loads(out.read_text())


def same_summary(a: dict, b: dict) -> None:
    assert a["n_samples"] == b["n_samples"] > 2 and sum(r["spikes"] for r in a["layers"]) > 0
    assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}


@pytest.mark.slow
def test_sharded_emu_equals_one_process(runs, tmp_path):
    net = runs["two"] / "locnet_hybrid.net"
    one = deploy_summary(tmp_path, "one", "--backend", "emu", "--model", net)
    two = deploy_summary(tmp_path, "two", "--backend", "emu", "--model", net, "--workers", "2")
    same_summary(one, two)


@pytest.mark.slow
def test_sharded_sim_under_torchrun_equals_one_process(runs, tmp_path):
    net = runs["two"] / "locnet_hybrid.net"
    one = deploy_summary(tmp_path, "one", "--backend", "sim", "--model", net, "--limit", "4")
    r = torchrun("scripts/deploy.py", "--backend", "sim", "--model", net, "--limit", "4",
                 "--json", tmp_path / "two.json")
    assert r.returncode == 0, r.stderr[-3000:]
    same_summary(one, json.loads((tmp_path / "two.json").read_text()))
