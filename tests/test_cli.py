"""End to end: scripts/finetune.py on a tiny synthetic set; summary.json; resume; error paths."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "locnet": {"steps": 4, "readout_warmup": 2, "channels": [4, 4, 4], "hidden": [8, 8, 8],
               "data": {"input_size": [12, 16], "synthetic_samples": 24},
               "train": {"epochs_ann": 2, "epochs_hybrid": 1, "batch_size": 8}},
    "cae": {"steps": 4, "readout_warmup": 2, "channels": [2, 4, 4],
            "data": {"input_size": [12, 12], "synthetic_samples": 10},
            "train": {"epochs_ann": 1, "epochs_hybrid": 1, "batch_size": 8, "max_train_batches": 2}},
}
MODEL_KEYS = {"metric", "firing_rate_hz", "per_layer_rate_hz", "seconds", "epochs", "extra"}


def finetune(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "finetune.py"), *map(str, args)],
                          cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(params=["locnet", "cae"])
def tiny_run(request, tmp_path_factory):
    task = request.param
    tmp = tmp_path_factory.mktemp(task)
    cfg = tmp / "tiny.json"
    cfg.write_text(json.dumps(TINY[task]))
    out = tmp / "run"
    proc = finetune(task, "--config", cfg, "--out", out)
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
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "deploy.py"), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_deploy_emu_and_sim_agree_on_the_export(tiny_run, tmp_path):
    task, out, _, _ = tiny_run
    model = out / f"{task}_hybrid.net"
    runs = {}
    for backend in ("emu", "sim"):
        js = tmp_path / f"{backend}.json"
        proc = deploy("--backend", backend, "--model", model, "--limit", 2, "--json", js, "--plots", tmp_path / "p")
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[backend] = json.loads(js.read_text())
    emu, sim = runs["emu"], runs["sim"]
    assert set(emu) == SUMMARY_KEYS and set(sim) == SUMMARY_KEYS
    assert set(emu["energy"]) == {"loihi_estimate_uj_per_inference", "ann_estimate_uj_per_inference",
                                  "measured_uj_per_inference"}
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


def test_export_command_converted_stage(tiny_run, tmp_path):
    task, out, _, _ = tiny_run
    target = tmp_path / "conv.net"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "export.py"), str(out), "--stage", "converted",
                           "--out", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert target.is_file() and "fixed-point emulation" in proc.stdout
    bad = subprocess.run([sys.executable, str(ROOT / "scripts" / "export.py"), str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "config.json missing" in bad.stderr


def test_resume_skips_finished_stages(tiny_run):
    task, out, _, cfg = tiny_run
    before = json.loads((out / "summary.json").read_text())
    proc = finetune(task, "--resume", "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "resuming" in proc.stdout and "] training" not in proc.stdout and "fine-tuning" not in proc.stdout
    after = json.loads((out / "summary.json").read_text())
    assert after["hybrid"]["metric"] == before["hybrid"]["metric"]


@pytest.mark.parametrize("args, needle", [
    (["resnet"], "unknown network 'resnet'"),
    (["locnet", "--data", "/nonexistent/folder"], "/nonexistent/folder: data folder not found"),
    (["cae", "--steps", "0"], "steps must be >= 1"),
    (["locnet", "--resume"], "--resume needs --out"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    proc = finetune(*args, "--out", tmp_path / "o") if "--resume" not in args else finetune(*args)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_empty_data_folder_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = finetune("cae", "--data", tmp_path / "empty", "--out", tmp_path / "o")
    assert proc.returncode == 2 and str(tmp_path / "empty") in proc.stderr


def test_bptt_method_runs_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY["cae"]))
    proc = finetune("cae", "--config", cfg, "--method", "bptt", "--out", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["hybrid"]["extra"]["method"] == "bptt"


def test_ctrl_c_saves_progress_and_resume_finishes(tmp_path):
    import signal
    import time

    cfg = tmp_path / "slow.json"
    # far more epochs than can finish before the signal
    cfg.write_text(json.dumps({**TINY["locnet"], "train": {**TINY["locnet"]["train"], "epochs_ann": 5000}}))
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
            time.sleep(0.2)
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


@pytest.mark.parametrize("extra, needle", [
    (["--method-batches", "cae=x"], "--method-batches needs a whole number >= 0, not 'x'"),
    (["--method-epochs", "resnet=1"], "--method-epochs must look like locnet=VALUE"),
    (["--bench-json", "/nonexistent/bench.json"], "/nonexistent/bench.json: file not found"),
])
def test_reproduce_bad_input_is_one_line_and_exit_2(extra, needle, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "reproduce.py"), "--data", str(tmp_path), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr
