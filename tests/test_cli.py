"""End to end: scripts/finetune.py on a tiny synthetic set; summary.json; resume; error paths.

Each tiny network is trained once per module (``tiny_runs``, both side by side); the tests that only
read its outputs share that run and write what they make under their own ``tmp_path``. Tests that need
a run of their own (Ctrl-C and resume, BPTT) use the smaller ``MINI`` configs. Independent subprocesses
run side by side (``side_by_side``): most of their time is the interpreter's start and imports.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test here runs the scripts in fresh interpreters

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "locnet": {"steps": 4, "readout_warmup": 2, "channels": [4, 4, 4], "hidden": [8, 8, 8],
               "data": {"input_size": [12, 16], "synthetic_samples": 24},
               "train": {"epochs_ann": 2, "epochs_hybrid": 1, "batch_size": 8}},
    # 10 synthetic volumes are 128 training slices: few, large batches (a CPU training step costs about
    # as much for 8 slices as for 32)
    "cae": {"steps": 4, "readout_warmup": 2, "channels": [2, 4, 4],
            "data": {"input_size": [12, 12], "synthetic_samples": 10},
            "train": {"epochs_ann": 1, "epochs_hybrid": 1, "batch_size": 32, "max_train_batches": 2}},
}
#: the smallest runs that still go through every stage, for the tests that need a run of their own
MINI = {
    "locnet": {**TINY["locnet"], "channels": [2, 2, 2], "hidden": [4, 4, 4],
               "data": {"input_size": [8, 8], "synthetic_samples": 12},
               "train": {**TINY["locnet"]["train"], "batch_size": 16, "max_train_batches": 1}},
    "cae": {**TINY["cae"], "data": {"input_size": [8, 8], "synthetic_samples": 10},
            "train": {**TINY["cae"]["train"], "batch_size": 64, "max_train_batches": 1}},
}
MODEL_KEYS = {"metric", "firing_rate_hz", "per_layer_rate_hz", "seconds", "epochs", "extra"}


def script(name, *args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


def finetune(*args, cwd=ROOT):
    return script("finetune.py", *args, cwd=cwd)


def side_by_side(fn, items):
    """``fn`` over ``items`` in parallel threads (each call waits on its own subprocess); a dict."""
    items = list(items)
    with ThreadPoolExecutor(max_workers=min(4, max(2, os.cpu_count() or 2))) as pool:
        return dict(zip(items, pool.map(fn, items)))


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Both tiny networks trained once per module, side by side; tests must not write into their folders."""
    tmp = tmp_path_factory.mktemp("tiny")
    for task in TINY:
        (tmp / f"{task}.json").write_text(json.dumps(TINY[task]))
    procs = side_by_side(lambda t: finetune(t, "--config", tmp / f"{t}.json", "--out", tmp / t), TINY)
    return {task: (task, tmp / task, procs[task], tmp / f"{task}.json") for task in TINY}


@pytest.fixture(params=["locnet", "cae"])
def tiny_run(request, tiny_runs):
    """``(task, run folder, finetune.py's CompletedProcess, config file)`` of one shared tiny run."""
    task, out, proc, cfg = tiny_runs[request.param]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return task, out, proc, cfg


def test_summary_json_shape(tiny_run):
    task, out, proc, _ = tiny_run
    s = json.loads((out / "summary.json").read_text())
    assert set(s) == {"task", "metric_name", "data", "steps", "ann", "converted", "hybrid", "baseline", "exports"}
    assert Path(s["exports"]["hybrid"]) == out / f"{task}_hybrid.net" and (out / f"{task}_hybrid.net").is_file()
    assert s["task"] == task and s["metric_name"] == {"locnet": "iou", "cae": "dice"}[task]
    assert s["data"] == "synthetic" and s["steps"] == 4
    for key in ("ann", "converted", "hybrid", "baseline"):
        assert set(s[key]) == MODEL_KEYS
        assert 0.0 <= s[key]["metric"] <= 1.0
    assert s["ann"]["firing_rate_hz"] is None
    for key in ("converted", "hybrid"):
        layers = s[key]["per_layer_rate_hz"]
        assert len(layers) == 9 and all(0 <= v <= 1000 for v in layers.values())
        assert 0 <= s[key]["firing_rate_hz"] <= 1000
    assert s["ann"]["epochs"] == TINY[task]["train"]["epochs_ann"]
    assert (out / "training_curves.png").stat().st_size > 1000
    assert all((out / f"{stage}.pt").exists() for stage in ("ann", "converted", "hybrid"))
    assert "| hybrid SNN |" in proc.stdout and "| converted SNN |" in proc.stdout


SUMMARY_KEYS = {"task", "backend", "model", "metric_name", "metric", "n_samples", "steps_per_sample",
                "mean_firing_rate_hz", "layers", "energy", "seconds", "seconds_per_sample", "extra"}


def deploy(*args):
    return script("deploy.py", *args)


def test_deploy_emu_and_sim_agree_on_the_export(tiny_run, tmp_path):
    task, out, _, _ = tiny_run
    model = out / f"{task}_hybrid.net"
    procs = side_by_side(lambda backend: deploy("--backend", backend, "--model", model, "--limit", 2, "--json",
                                                tmp_path / f"{backend}.json", "--plots", tmp_path / "p"),
                         ("emu", "sim"))
    runs = {}
    for backend, proc in procs.items():
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
    emu, sim = runs["emu"], runs["sim"]
    assert set(emu) == SUMMARY_KEYS and set(sim) == SUMMARY_KEYS
    assert set(emu["energy"]) == {"loihi_estimate_uj_per_inference", "ann_estimate_uj_per_inference",
                                  "measured_uj_per_inference", "loihi2_static_uj_per_inference",
                                  "loihi_estimate_with_static_uj_per_inference"}
    assert emu["energy"]["measured_uj_per_inference"] is None
    assert all(set(r) == {"name", "neurons", "spikes", "firing_rate_hz", "synops"} for r in emu["layers"])
    assert sim["backend"] == "sim" and sim["n_samples"] == emu["n_samples"] > 0
    assert sim["metric"] == emu["metric"]
    assert [r["spikes"] for r in sim["layers"]] == [r["spikes"] for r in emu["layers"]]
    pngs = sorted(p.name for p in (tmp_path / "p").glob("*.png"))
    assert len(pngs) == 6, pngs  # rates, raster and the task picture, per backend


def test_deploy_split_all_and_export_metric(tiny_run, tmp_path):
    task, out, _, _ = tiny_run
    s = json.loads((out / "summary.json").read_text())
    js = tmp_path / "all.json"
    proc = deploy("--backend", "emu", "--model", out / f"{task}_hybrid.net", "--split", "all", "--json", js)
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = json.loads(js.read_text())
    sizes = s["hybrid"]["extra"]["split_sizes"]
    assert d["n_samples"] == sizes["train"] + sizes["val"] + sizes["test"]
    assert d["extra"]["test_metric_at_export"]["training_snn"] == s["hybrid"]["metric"]
    cfg, x = json.loads((out / "config.json").read_text()), d["extra"]
    assert x["readout_window_steps"] == [cfg["readout_warmup"], cfg["steps"] - 1]
    assert f"T = {cfg['steps']}, readout over steps {cfg['readout_warmup']}-{cfg['steps'] - 1}" in proc.stdout
    e = d["energy"]  # the printed ratios are the summary's, and the summary's are the estimates' quotients
    assert x["loihi_vs_ann_energy_ratio"] == pytest.approx(e["loihi_estimate_uj_per_inference"]
                                                           / e["ann_estimate_uj_per_inference"])
    assert (f"SNN / ANN energy: Loihi {x['loihi_vs_ann_energy_ratio']:.2f}x "
            f"({x['loihi_with_static_vs_ann_energy_ratio']:.2f}x with static), paper-style "
            f"{x['snn_horowitz_uj_per_inference']:.2f} uJ = {x['snn_vs_ann_energy_ratio_horowitz']:.2f}x") in proc.stdout


def test_parity_script_finds_sim_equal_to_the_emulator(tiny_run, tmp_path):
    """scripts/parity.py: every spike of every layer and the readout voltages, Lava sim = emulator, on the
    first test group of each protocol (LocNet: paper and placed)."""
    task, out, _, _ = tiny_run
    proc = script("parity.py", out / f"{task}_hybrid.net", "-n", 1, "--max-samples", 2, "--json", tmp_path / "p.json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads((tmp_path / "p.json").read_text())
    assert r["equal"] and r["readout_voltage_equal"] and sum(r["spikes_per_layer"].values()) > 0
    assert set(r["mismatching_spikes_per_layer"]) == set(r["spikes_per_layer"])
    assert r["protocols"] == (["paper", "placed"] if task == "locnet" else ["paper"])
    assert r["samples"] == 2  # LocNet: 1 image under each protocol; CAE: the first 2 slices of 1 volume


@pytest.mark.parametrize("args, needle", [(["-n", "0"], "-n and --max-samples must be >= 1"),
                                          (["--max-samples", "0"], "-n and --max-samples must be >= 1")])
def test_parity_script_bad_counts_are_one_line_and_exit_2(args, needle):
    proc = script("parity.py", ROOT / "netx_exports" / "locnet_hybrid.net", *args)
    assert_one_line_exit_2(proc, needle)


@pytest.mark.parametrize("name", ["parity.py", "frontier.py"])
def test_real_data_export_without_its_data_is_refused(name):
    """Run without --data, an export trained on real data would be scored on the embedded synthetic set:
    plausible numbers that mean nothing. deploy.py, parity.py and frontier.py refuse it alike."""
    proc = script(name, ROOT / "netx_exports" / "locnet_hybrid.net")
    assert_one_line_exit_2(proc, "pass --data DIR with that data")


def test_frontier_of_two_networks_is_refused(tmp_path):
    """IoU and Dice on one axis would read as one scale: a frontier takes the points of one network."""
    proc = script("frontier.py", ROOT / "netx_exports" / "locnet_hybrid.net", ROOT / "netx_exports" / "cae_hybrid.net",
                  "--out", tmp_path / "f")
    assert_one_line_exit_2(proc, "the points are of several networks (cae, locnet)")
    assert not (tmp_path / "f").exists()  # a refused input leaves no empty output folder


def test_export_command_converted_stage(tiny_run, tmp_path):
    _, out, _, _ = tiny_run
    target = tmp_path / "conv.net"
    proc = script("export.py", out, "--stage", "converted", "--out", target)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert target.is_file() and "fixed-point emulation" in proc.stdout


def test_resume_skips_finished_stages(tiny_run, tmp_path):
    task, shared, _, _ = tiny_run
    out = tmp_path / "run"
    shutil.copytree(shared, out)  # a copy: the shared run stays as finetune.py left it
    before = json.loads((out / "summary.json").read_text())
    proc = finetune(task, "--resume", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming" in proc.stdout and "] training" not in proc.stdout and "fine-tuning" not in proc.stdout
    after = json.loads((out / "summary.json").read_text())
    assert after["hybrid"]["metric"] == before["hybrid"]["metric"]


BAD_FINETUNE = [
    (["resnet"], "unknown network 'resnet'"),
    (["locnet", "--data", "/nonexistent/folder"], "/nonexistent/folder: data folder not found"),
    (["cae", "--steps", "0"], "steps must be >= 1"),
    (["locnet", "--resume"], "--resume needs --out"),
]
BAD_REPRODUCE = [
    (["--method-batches", "cae=x"], "--method-batches needs a whole number >= 0, not 'x'"),
    (["--method-epochs", "resnet=1"], "--method-epochs must look like locnet=VALUE"),
    (["--bench-json", "/nonexistent/bench.json"], "/nonexistent/bench.json: file not found"),
]


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory):
    """Every exit-2 command line of this module, each in its own fresh interpreter, run side by side:
    they fail before doing any work, so their cost is the interpreter's start and imports."""
    tmp = tmp_path_factory.mktemp("bad")
    for folder in ("empty", "not-a-run", "data"):
        (tmp / folder).mkdir()
    commands = {("finetune", *args): ("finetune.py", *args) if "--resume" in args
                else ("finetune.py", *args, "--out", tmp / f"out{i}") for i, (args, _) in enumerate(BAD_FINETUNE)}
    commands["empty-data"] = ("finetune.py", "cae", "--data", tmp / "empty", "--out", tmp / "out-empty")
    commands["export-not-a-run"] = ("export.py", tmp / "not-a-run")
    for extra, _ in BAD_REPRODUCE:
        commands[("reproduce", *extra)] = ("reproduce.py", "--data", tmp / "data", *extra)
    done = side_by_side(lambda key: script(*commands[key]), commands)
    return tmp, done


def assert_one_line_exit_2(proc, needle):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("args, needle", BAD_FINETUNE)
def test_bad_input_is_one_line_and_exit_2(args, needle, bad_input_runs):
    assert_one_line_exit_2(bad_input_runs[1][("finetune", *args)], needle)


def test_empty_data_folder_is_reported(bad_input_runs):
    tmp, runs = bad_input_runs
    proc = runs["empty-data"]
    assert proc.returncode == 2 and str(tmp / "empty") in proc.stderr


def test_export_of_a_folder_that_is_not_a_run_exits_2(bad_input_runs):
    proc = bad_input_runs[1]["export-not-a-run"]
    assert proc.returncode == 2 and "config.json missing" in proc.stderr


def test_bptt_method_runs_end_to_end(tmp_path):
    cfg = tmp_path / "mini.json"
    cfg.write_text(json.dumps(MINI["cae"]))
    proc = finetune("cae", "--config", cfg, "--method", "bptt", "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["hybrid"]["extra"]["method"] == "bptt"


def test_ctrl_c_saves_progress_and_resume_finishes(tmp_path):
    cfg = tmp_path / "slow.json"
    # far more epochs than can finish before the signal
    cfg.write_text(json.dumps({**MINI["locnet"], "train": {**MINI["locnet"]["train"], "epochs_ann": 5000}}))
    out = tmp_path / "run"
    # a shell's background jobs inherit SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # restore the default so the test means the same wherever pytest was started from
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "finetune.py"), "locnet", "--config",
                             str(cfg), "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not (out / "ann_last.pt").exists() and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert f"--resume --out {out}" in err and "Traceback" not in err
    blob = __import__("torch").load(out / "ann_last.pt", weights_only=False)
    done = blob["state"]["epoch"]
    assert 1 <= done < 5000
    # resume with fewer epochs left: the saved epochs are kept, not redone
    cfg_saved = json.loads((out / "config.json").read_text())
    cfg_saved["train"]["epochs_ann"] = done + 1
    (out / "config.json").write_text(json.dumps(cfg_saved))
    proc = finetune("locnet", "--resume", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["ann"]["epochs"] == done + 1


@pytest.mark.parametrize("extra, needle", BAD_REPRODUCE)
def test_reproduce_bad_input_is_one_line_and_exit_2(extra, needle, bad_input_runs):
    assert_one_line_exit_2(bad_input_runs[1][("reproduce", *extra)], needle)
