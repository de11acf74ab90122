"""``scripts/reproduce.py``: the paper's tables beside ours, method comparison, T sweep, figures.

Runs (or reuses) one ``finetune.py`` run per network, exports its converted and hybrid SNNs, evaluates
the exports with the bit-exact emulator (and takes Lava-simulator summaries from ``deploy.py --json``
when given), sweeps T, compares training methods (hybrid, SLAYER BPTT, lava-dl bootstrap) in fresh
processes, and writes ``report.md`` with its figures, ``results.json`` and the README's results block.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import config_from_dict, load_config
from ..data import DataSplits
from ..data.source import load_run_data
from ..deploy.emulator import emulate
from ..deploy.energy import energy_estimates, layer_activity, mean_rate_hz
from ..deploy.evaluate import deploy
from ..export.exporter import EXPONENT_RANGE, export_run
from ..export.fixed_point import quantize
from ..models import Mode
from ..training.pipeline import run_pipeline
from ..training.tasks import make_task
from .cache import ResultCache, fingerprint
from .summary import PAPER, bench_table, methods_table, readme_block, splice_readme, targets_table

#: what the report keeps of a deployment summary
DEPLOY_KEYS = ("metric", "mean_firing_rate_hz", "energy", "layers", "extra")
DATA_DIRS = {"locnet": "caltech_airplanes", "cae": "hippocampus"}
BUDGET_CONFIG = {"cae": Path(__file__).resolve().parents[1] / "configs" / "cae_cpu_budget.json"}
STAGES = ("ann", "converted", "hybrid")


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def ensure_run(task: str, run: Path, data_dir: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The run's summary; trains (or resumes) it with the packaged settings if it is not complete."""
    if not (run / "summary.json").is_file():
        cfg = load_config(task, synthetic=False, user_file=BUDGET_CONFIG.get(task))
        log(f"[reproduce] training {task} into {run} (this takes long)")
        run_pipeline(cfg, load_run_data(cfg, data_dir), run, resume=(run / "state.json").exists(), log=log)
    return json.loads((run / "summary.json").read_text())


def _load(run: Path, stage: str, data: DataSplits):
    cfg = config_from_dict(json.loads((run / "config.json").read_text()))
    model = make_task(cfg).build(in_channels=data.train.x.shape[1])
    model.load_state_dict(torch.load(run / f"{stage}.pt", map_location="cpu"))
    model.readout_warmup = cfg.readout_warmup
    return cfg, model.eval()


def sweep_steps(run: Path, data: DataSplits, steps: list[int], log: Callable[[str], None],
                stages: tuple[str, ...] = ("converted", "hybrid")) -> list[dict[str, Any]]:
    """The SNNs of ``stages`` at each T (readout over the second half), as deployed: fixed point."""
    rows = []
    for stage in stages:
        cfg, model = _load(run, stage, data)
        task = make_task(cfg)
        for t in steps:
            fixed = quantize(model, data.train.x[:64], t, t // 2, exp_min=EXPONENT_RANGE)
            r = emulate(fixed, data.test.x)
            pred = task.predict(model, torch.as_tensor(r.readout, dtype=torch.float32)).numpy()
            metric, _ = task.score(pred, data.test)
            energy = energy_estimates(fixed, layer_activity(fixed, r.counts, cfg.dt_s))
            rows.append({"stage": stage, "steps": t, "metric": float(metric),
                         "rate_hz": mean_rate_hz(fixed, r.counts, cfg.dt_s),
                         "loihi_uj": energy["loihi_estimate_uj_per_inference"],
                         "ann_uj": energy["ann_estimate_uj_per_inference"]})
            log(f"[reproduce] {cfg.task} {stage} T={t}: {task.metric_name} {metric:.4f}, "
                f"{rows[-1]['rate_hz']:.1f} Hz")
    return rows


METHODS = ("hybrid", "bptt", "bootstrap")

def run_method(run: Path, method: str, data_dir: str, epochs: int, max_batches: int | None,
               log: Callable[[str], None]) -> dict[str, Any]:
    """One method of the comparison in a fresh process (so that its peak memory is its own).

    ``hybrid`` and ``bptt`` fine-tune the run's converted SNN for ``epochs`` of at most ``max_batches``;
    ``bootstrap`` (lava-dl's co-training) trains from scratch for the run's ANN epochs plus ``epochs``,
    all of them whole epochs as the ANN stage's are."""
    if method == "bootstrap":
        max_batches = None
    cmd = [sys.executable, "-m", "loihi_hybrid.benchmarks.method_run", str(run), "--method", method,
           "--epochs", str(epochs), "--data", data_dir]
    if max_batches:
        cmd += ["--max-batches", str(max_batches)]
    log(f"[reproduce] training with {method} ({epochs} epochs{f', {max_batches} batches each' if max_batches else ''}) ...")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=6 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} training failed:\n{proc.stderr[-2000:]}")
    row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "max_batches": max_batches}
    log(f"[reproduce]   {method}: {row['metric']:.4f}, {row['firing_rate_hz']:.1f} Hz, {row['train_seconds']:.0f} s")
    return row


def qualitative(task: str, run: Path, data: DataSplits, folder: Path) -> Path:
    """Boxes of the hybrid SNN on test images (LocNet); ANN / converted / hybrid probability maps (CAE)."""
    from . import deploy_plots as dp  # noqa: PLC0415

    if task == "locnet":
        from ..metrics import box_iou  # noqa: PLC0415
        cfg, model = _load(run, "hybrid", data)
        x = data.test.x[:8]
        with torch.no_grad():
            pred = model.decode(model(torch.as_tensor(x), Mode.SNN, cfg.steps)).numpy()
        return dp.plot_boxes(x, pred, data.test.y[:8], folder / "locnet_boxes.png",
                             scores=box_iou(pred, data.test.y[:8]))
    rows = np.flatnonzero(data.test.y.reshape(len(data.test), -1).sum(1) > 20)
    rows = rows[np.linspace(0, len(rows) - 1, 4).astype(int)]
    probs = {}
    for stage, mode in (("ann", Mode.ANN), ("converted", Mode.SNN), ("hybrid", Mode.SNN)):
        cfg, model = _load(run, stage, data)
        with torch.no_grad():
            probs[stage] = model.decode(model(torch.as_tensor(data.test.x[rows]), mode, cfg.steps)).numpy()
    return dp.plot_segmentation_panels(data.test.x[rows], data.test.y[rows], probs, folder / "cae_panels.png",
                                       show_mask=True)


def _plot_sweep(rows: list[dict[str, Any]], task: str, metric_name: str, folder: Path) -> list[Path]:
    from matplotlib.figure import Figure  # noqa: PLC0415

    out = []
    for key, xlabel, name in (("steps", "time steps T", "steps"), ("loihi_uj", "Loihi energy estimate (µJ / inference)",
                                                                    "energy")):
        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        for stage in ("converted", "hybrid"):
            r = [x for x in rows if x["stage"] == stage]
            ax.plot([x[key] for x in r], [x["metric"] for x in r], "o-", label=f"{stage} SNN")
            if key == "loihi_uj":
                for x in r:
                    ax.annotate(f"T={x['steps']}", (x[key], x["metric"]), fontsize=7)
        if key == "steps":
            ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric_name)
        ax.set_title(f"{task}: {metric_name} against {name} (fixed point, test split)")
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = folder / f"{task}_{name}_sweep.png"
        fig.savefig(path, dpi=120)
        out.append(path)
    return out


def reproduce(data_root: str | Path, out: str | Path, runs: dict[str, Path] | None = None,
              sim_json: dict[str, Path] | None = None, tasks: tuple[str, ...] = ("locnet", "cae"),
              steps: tuple[int, ...] = (4, 8, 16, 32, 64), method_epochs: dict[str, int] | None = None,
              method_batches: dict[str, int | None] | None = None, bench_json: Path | None = None,
              readme: Path | None = None, command: str = "python scripts/reproduce.py",
              log: Callable[[str], None] = print) -> Path:
    """Write ``out/report.md`` (and figures, ``results.json``, ``readme_results.md``); returns its path.

    Expensive parts are cached in ``out/cache.json`` under the fingerprint of the weights and config they
    were computed from, so a repeated or interrupted report recomputes only what changed. With
    ``readme``, the README's generated results block is replaced by this report's summary."""
    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = ResultCache(out / "cache.json")
    runs, sim_json = runs or {}, sim_json or {}
    method_epochs = {"locnet": 2, "cae": 1, **(method_epochs or {})}
    method_batches = {"locnet": None, "cae": 20, **(method_batches or {})}
    sections, results = [], {}
    for task in tasks:
        data_dir = str(Path(data_root) / DATA_DIRS[task])
        run = Path(runs.get(task) or out / "runs" / task)
        summary = ensure_run(task, run, data_dir, log)
        cfg = config_from_dict(json.loads((run / "config.json").read_text()))
        data = load_run_data(cfg, data_dir)
        metric_name = summary["metric_name"]
        weights = {stage: fingerprint(run / f"{stage}.pt") for stage in ("converted", "hybrid")}
        deployed = {}
        for stage in ("converted", "hybrid"):
            path = out / "exports" / f"{task}_{stage}.net"
            key = f"{task}/export-{stage}/{weights[stage]}"
            if not path.is_file() or key not in cache.data:
                export_run(run, stage, path, data_dir, log=log)
                cache.put(key, str(path))
            deployed[stage] = cache.get_or_compute(
                f"{task}/deploy-{stage}/{weights[stage]}",
                lambda: {k: v for k, v in deploy(path, data, backend="emu").items() if k in DEPLOY_KEYS}, log)
        sim = json.loads(Path(sim_json[task]).read_text()) if task in sim_json else None
        sweep = [row for stage in ("converted", "hybrid") for row in cache.get_or_compute(
            f"{task}/sweep-{stage}/{weights[stage]}/{list(steps)}",
            lambda st=stage: sweep_steps(run, data, list(steps), log, stages=(st,)), log)]
        figs = _plot_sweep(sweep, task, metric_name, out)
        figs.append(qualitative(task, run, data, out))
        methods = []
        e, mb = method_epochs[task], method_batches[task]
        for method in METHODS if e > 0 else ():
            boot = method == "bootstrap"
            origin = fingerprint(run / "config.json") if boot else weights["converted"]
            methods.append(cache.get_or_compute(
                f"{task}/method-{method}/{origin}/epochs={e},batches={None if boot else mb}",
                lambda m=method: run_method(run, m, data_dir, e, mb, log), log))
        results[task] = {"summary": summary, "deployed": deployed,
                         "sim": sim, "sweep": sweep, "methods": methods}
        sections.append(_section(task, metric_name, summary, deployed, sim, sweep, methods, figs, cfg.steps,
                                 data_dir))
    bench = json.loads(Path(bench_json).read_text()) if bench_json else None
    results["bench"] = bench
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    minutes = (time.perf_counter() - t0) / 60
    head = [f"# Reproduction report ({time.strftime('%Y-%m-%d')})", "",
            "Baltes et al., hybrid ANN-SNN co-training, on `../shared/data` (Caltech-101 airplanes; MSD "
            "hippocampus instead of the paper's ADNI slices). Generated by", "", "```bash", command, "```", "",
            f"in {minutes:.0f} min on this machine (parts reused from `cache.json` are not re-timed). "
            "'Lava (fixed point)' rows are the exported networks run by the bit-exact emulator, which matches "
            "the Lava simulator spike for spike (`tests/test_lava_parity.py`); 'Lava simulator' rows come from "
            "`deploy.py --backend sim`.", "", targets_table(results), ""]
    if bench is not None:
        head += [bench_table(bench), ""]
    path = out / "report.md"
    path.write_text("\n".join(head + sections) + "\n")
    block = readme_block(results, command, path)
    (out / "readme_results.md").write_text(block)
    if readme is not None:
        splice_readme(Path(readme), block)
        log(f"[reproduce] updated the generated results in {readme}")
    log(f"[reproduce] wrote {path}")
    return path


def _section(task: str, metric_name: str, s: dict[str, Any], deployed: dict[str, Any], sim: dict[str, Any] | None,
             sweep: list[dict[str, Any]], methods: list[dict[str, Any]], figs: list[Path], steps: int,
             data_dir: str) -> str:
    n = s["hybrid"]["extra"]["split_sizes"]["test"]
    title = {"locnet": "LocNet (Table 1): mean IoU, Caltech airplanes",
             "cae": "CAE (Table 2): Dice per volume, hippocampus"}[task]
    lines = [f"## {title}", "", f"Run: `{s['data']}`, T = {steps}, test split n = {n}.", "",
             f"| model | paper {metric_name} | paper rate (Hz) | ours, training | ours, rate (Hz) | "
             f"ours, Lava fixed point | rate (Hz) | parity gap |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for stage in STAGES:
        pm, pr = PAPER[task][stage]
        row = s[stage]
        dep = deployed.get(stage)
        gap = None if dep is None else dep["metric"] - row["metric"]
        lines.append(f"| {stage} | {_fmt(pm)} | {_fmt(pr, 1)} | {_fmt(row['metric'])} | "
                     f"{_fmt(row['firing_rate_hz'], 1)} | {_fmt(dep['metric']) if dep else '–'} | "
                     f"{_fmt(dep['mean_firing_rate_hz'], 1) if dep else '–'} | {_fmt(gap) if gap is not None else '–'} |")
    lines.append(f"| baseline ({s['baseline']['extra'].get('predictor', '')}) | – | – | {_fmt(s['baseline']['metric'])} "
                 "| – | – | – | – |")
    if sim is not None:
        lines += ["", f"Lava simulator (`deploy.py --backend sim`, hybrid export, n = {sim['n_samples']}): "
                      f"{metric_name} {sim['metric']:.4f}, {sim['mean_firing_rate_hz']:.1f} Hz, "
                      f"{sim['seconds_per_sample']:.2f} s per sample."]
    ratio = s["hybrid"]["metric"] / s["ann"]["metric"]
    lines += ["", f"Hybrid / ANN: {ratio:.3f} (paper: {PAPER[task]['hybrid'][0] / PAPER[task]['ann'][0]:.3f}).", "",
              "Per-layer firing rates (Hz), training-time hybrid SNN and its fixed-point export:", "",
              "| layer | " + " | ".join(s["hybrid"]["per_layer_rate_hz"]) + " |",
              "| --- |" + " --- |" * len(s["hybrid"]["per_layer_rate_hz"]),
              "| training | " + " | ".join(f"{v:.0f}" for v in s["hybrid"]["per_layer_rate_hz"].values()) + " |",
              "| export | " + " | ".join(f"{r['firing_rate_hz']:.0f}" for r in deployed["hybrid"]["layers"][:-1]) + " |"]
    e = deployed["hybrid"]["energy"]
    lines += ["", f"Energy per inference (estimates, hybrid export): Loihi {e['loihi_estimate_uj_per_inference']:.1f} µJ, "
                  f"ANN {e['ann_estimate_uj_per_inference']:.1f} µJ (formulas in the README)."]
    lines += ["", "### Accuracy against time steps (fixed point, readout over the second half)", "",
              "| T | converted | rate (Hz) | hybrid | rate (Hz) | hybrid Loihi µJ |", "| --- | --- | --- | --- | --- | --- |"]
    for t in sorted({r["steps"] for r in sweep}):
        c = next(r for r in sweep if r["stage"] == "converted" and r["steps"] == t)
        h = next(r for r in sweep if r["stage"] == "hybrid" and r["steps"] == t)
        lines.append(f"| {t} | {c['metric']:.4f} | {c['rate_hz']:.1f} | {h['metric']:.4f} | {h['rate_hz']:.1f} | "
                     f"{h['loihi_uj']:.1f} |")
    lines += ["", "(The hybrid SNN was fine-tuned at the run's T only.)"]
    if methods:
        ann_s = s["ann"]["seconds"]
        lines += ["", "### Training methods (same network, data, T, loss and batch size; each in a fresh process)", "",
                  methods_table({task: {"methods": methods}})]
        lines += ["", f"The fine-tuning methods start from the converted SNN, whose ANN took {ann_s:.0f} s to train "
                      f"({s['ann']['epochs']} whole epochs); bootstrap trains from scratch for the ANN's epochs plus the "
                      "fine-tuning epochs, all whole epochs, at the ANN learning rate, and keeps its best validation "
                      "SNN (on at most 256 validation samples). Rows reused "
                      "from `cache.json` keep the wall time of the run that produced them; the machine's load "
                      "differed between runs, so compare wall times only roughly."]
        boot = next((m for m in methods if m["method"] == "bootstrap"), None)
        if boot is not None:
            lines += ["", "Bootstrap's SNN on the validation split, by sampling epoch: "
                      + ", ".join(f"epoch {h['epoch']}: {h['val_metric']:.4f} ({h['val_rate_hz']:.0f} Hz)"
                                  for h in boot["history"]) + "."]
    lines += [""] + [f"![{f.stem}]({f.name})" for f in figs] + [""]
    return "\n".join(lines)
