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

import torch

from ..data import DataSplits
from ..backends.energy import energy_estimates, layer_activity, mean_rate_hz
from ..errors import InputError
from ..fixedpoint import EXPONENT_RANGE, emulate, quantize
from ..fsio import atomic_write, atomic_write_json, atomic_write_text, check_writable
from ..reports.cache import ResultCache, fingerprint
from ..reports.summary import bench_table, methods_table, readme_block, splice_readme, targets_table
from ..tasks import get_task, load_config, task_names
from .deploy import deploy
from .export import export_run
from .runfolder import is_run_folder
from .runs import load_run
from .train import STAGES, run_pipeline

#: what the report keeps of a deployment summary
DEPLOY_KEYS = ("metric", "mean_firing_rate_hz", "energy", "layers", "extra")
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def reproducible_tasks() -> tuple[str, ...]:
    """Networks with real data under a ``reproduce.py --data`` root."""
    return tuple(t for t in task_names() if get_task(t).data_dir_name)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def ensure_run(task: str, run: Path, data_dir: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The run's summary; trains (or resumes) it with the packaged settings if it is not complete."""
    if not (run / "summary.json").is_file():
        budget = get_task(task).reproduce_config
        cfg = load_config(task, synthetic=False, user_file=CONFIGS / f"{budget}.json" if budget else None)
        log(f"[reproduce] training {task} into {run} (this takes long)")
        data = get_task(task)(cfg).load_data(data_dir)
        run_pipeline(cfg, data, run, resume=is_run_folder(run), log=log)
    return json.loads((run / "summary.json").read_text())


def sweep_steps(run: Path, data: DataSplits, steps: list[int], log: Callable[[str], None],
                stages: tuple[str, ...] = ("converted", "hybrid")) -> list[dict[str, Any]]:
    """The SNNs of ``stages`` at each T (readout over the second half), as deployed: fixed point."""
    rows = []
    for stage in stages:
        loaded = load_run(run, stage)
        cfg, model, task = loaded.cfg, loaded.model, loaded.task
        for t in steps:
            fixed = quantize(model, data.train.x[:64], t, t // 2, exp_min=EXPONENT_RANGE)
            r = emulate(fixed, data.test.x)
            pred = task.decode(torch.as_tensor(r.readout, dtype=torch.float32), model).numpy()
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
    cmd = [sys.executable, "-m", "loihi_hybrid.workflows.method_run", str(run), "--method", method,
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
        # format given: the temporary file's suffix is not ``.png``
        atomic_write(path, lambda tmp, f=fig: f.savefig(tmp, format="png", dpi=120))
        out.append(path)
    return out


def deploy_exports(task: str, run: Path, data: DataSplits, data_dir: str, out: Path, cache: ResultCache,
                   weights: dict[str, str], log: Callable[[str], None]) -> dict[str, Any]:
    """Export the run's converted and hybrid SNNs (cached by weights) and evaluate each on the emulator."""
    deployed = {}
    for stage in ("converted", "hybrid"):
        path = out / "exports" / f"{task}_{stage}.net"
        key = f"{task}/export-{stage}/{weights[stage]}"
        if not path.is_file() or key not in cache.data:
            export_run(run, stage, path, data_dir, log=log)
            cache.put(key, str(path))
        deployed[stage] = cache.get_or_compute(
            f"{task}/deploy-{stage}/{weights[stage]}",
            lambda p=path: {k: v for k, v in deploy(p, data, backend="emu").items() if k in DEPLOY_KEYS}, log)
    return deployed


def compare_methods(task: str, run: Path, data_dir: str, epochs: int, max_batches: int | None,
                    cache: ResultCache, converted: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """The training methods side by side (each cached by its starting point and budget)."""
    methods = []
    for method in METHODS if epochs > 0 else ():
        boot = method == "bootstrap"
        origin = fingerprint(run / "config.json") if boot else converted
        methods.append(cache.get_or_compute(
            f"{task}/method-{method}/{origin}/epochs={epochs},batches={None if boot else max_batches}",
            lambda m=method: run_method(run, m, data_dir, epochs, max_batches, log), log))
    return methods


def network_results(task: str, data_root: str | Path, out: Path, cache: ResultCache, run: Path,
                    sim_json: Path | None, steps: tuple[int, ...], method_epochs: int | None,
                    method_batches: int | None, log: Callable[[str], None]) -> tuple[dict[str, Any], str]:
    """One network's part of the report: ``(results, markdown section)``."""
    net = get_task(task)
    data_dir = str(Path(data_root) / net.data_dir_name)
    summary = ensure_run(task, run, data_dir, log)
    hybrid = load_run(run, "hybrid")
    data = hybrid.task.load_data(data_dir)
    weights = {stage: fingerprint(run / f"{stage}.pt") for stage in ("converted", "hybrid")}
    deployed = deploy_exports(task, run, data, data_dir, out, cache, weights, log)
    sim = read_json(sim_json, "deploy.py --json summary") if sim_json else None
    sweep = [row for stage in ("converted", "hybrid") for row in cache.get_or_compute(
        f"{task}/sweep-{stage}/{weights[stage]}/{list(steps)}",
        lambda st=stage: sweep_steps(run, data, list(steps), log, stages=(st,)), log)]
    figs = _plot_sweep(sweep, task, summary["metric_name"], out)
    fig = hybrid.task.report_figure(lambda stage: load_run(run, stage).model, data, out)
    figs += [fig] if fig is not None else []
    e = net.reproduce_method_epochs if method_epochs is None else method_epochs
    mb = method_batches if method_batches is not None else net.reproduce_method_batches
    methods = compare_methods(task, run, data_dir, e, mb, cache, weights["converted"], log)
    results = {"summary": summary, "deployed": deployed, "sim": sim, "sweep": sweep, "methods": methods}
    return results, _section(task, summary["metric_name"], summary, deployed, sim, sweep, methods, figs,
                             hybrid.cfg.steps, data_dir)


def write_report(out: Path, results: dict[str, Any], sections: list[str], command: str, minutes: float,
                 readme: Path | None, log: Callable[[str], None]) -> Path:
    """``report.md``, ``results.json`` and ``readme_results.md`` (spliced into ``readme`` when given).

    Every file is written atomically: a full disk leaves the previous version, never half of one."""
    atomic_write_json(out / "results.json", results)
    head = [f"# Reproduction report ({time.strftime('%Y-%m-%d')})", "",
            "Baltes et al., hybrid ANN-SNN co-training, on `../shared/data` (Caltech-101 airplanes; MSD "
            "hippocampus instead of the paper's ADNI slices). Generated by", "", "```bash", command, "```", "",
            f"in {minutes:.0f} min on this machine (parts reused from `cache.json` are not re-timed). "
            "'Lava (fixed point)' rows are the exported networks run by the bit-exact emulator, which matches "
            "the Lava simulator spike for spike (`tests/test_lava_parity.py`); 'Lava simulator' rows come from "
            "`deploy.py --backend sim`.", "", targets_table(results), ""]
    if results.get("bench") is not None:
        head += [bench_table(results["bench"]), ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(head + sections) + "\n")
    block = readme_block(results, command, path)
    atomic_write_text(out / "readme_results.md", block)
    if readme is not None:
        readme = Path(readme)
        splice_readme(Path(readme), block)
        log(f"[reproduce] updated the generated results in {readme}")
    log(f"[reproduce] wrote {path}")
    return path


def reproduce(data_root: str | Path, out: str | Path, runs: dict[str, Path] | None = None,
              sim_json: dict[str, Path] | None = None, tasks: tuple[str, ...] | None = None,
              steps: tuple[int, ...] = (4, 8, 16, 32, 64), method_epochs: dict[str, int] | None = None,
              method_batches: dict[str, int | None] | None = None, bench_json: Path | None = None,
              readme: Path | None = None, command: str = "python scripts/reproduce.py",
              log: Callable[[str], None] = print) -> Path:
    """Write ``out/report.md`` (and figures, ``results.json``, ``readme_results.md``); returns its path.

    Expensive parts are cached in ``out/cache.json`` under the fingerprint of the weights and config they
    were computed from, so a repeated or interrupted report recomputes only what changed. With
    ``readme``, the README's generated results block is replaced by this report's summary."""
    t0 = time.perf_counter()
    out = check_writable(out, folder=True)  # outputs and small inputs first: nothing is computed yet
    if readme is not None:
        check_writable(readme)
    bench = read_json(bench_json, "bench.py --json output") if bench_json else None
    for path in (sim_json or {}).values():
        read_json(path, "deploy.py --json summary")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(out, f"cannot create the report folder ({err.strerror})") from None
    cache = ResultCache(out / "cache.json")
    runs, sim_json = runs or {}, sim_json or {}
    method_epochs, method_batches = method_epochs or {}, method_batches or {}
    sections, results = [], {}
    for task in tasks or reproducible_tasks():
        results[task], section = network_results(
            task, data_root, out, cache, Path(runs.get(task) or out / "runs" / task), sim_json.get(task), steps,
            method_epochs.get(task), method_batches.get(task), log)
        sections.append(section)
    results["bench"] = bench
    return write_report(out, results, sections, command, (time.perf_counter() - t0) / 60, readme, log)


def read_json(path: str | Path, what: str) -> Any:
    """A JSON input file, or one clear line (:class:`InputError`) if it is missing or corrupt."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, f"cannot read the {what} ({err.strerror})") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a valid {what} ({err})") from None


def _section(task: str, metric_name: str, s: dict[str, Any], deployed: dict[str, Any], sim: dict[str, Any] | None,
             sweep: list[dict[str, Any]], methods: list[dict[str, Any]], figs: list[Path], steps: int,
             data_dir: str) -> str:
    n = s["hybrid"]["extra"]["split_sizes"]["test"]
    net = get_task(task)
    title = net.report_title or net.label
    lines = [f"## {title}", "", f"Run: `{s['data']}`, T = {steps}, test split n = {n}.", "",
             f"| model | paper {metric_name} | paper rate (Hz) | ours, training | ours, rate (Hz) | "
             f"ours, Lava fixed point | rate (Hz) | parity gap |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for stage in STAGES:
        pm, pr = net.paper.get(stage, (None, None))
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
    paper_ratio = net.paper["hybrid"][0] / net.paper["ann"][0] if {"ann", "hybrid"} <= set(net.paper) else None
    lines += ["", f"Hybrid / ANN: {ratio:.3f} (paper: {_fmt(paper_ratio, 3)}).", "",
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
