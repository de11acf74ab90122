"""Accuracy-energy-latency frontier of one network: every operating point (export) run on the bit-exact
emulator at several T, its test metric against the Loihi estimate (with Loihi 2's static share), the
paper-style estimate and T; the ANN as one point (its MAC estimate, no T). Writes ``frontier.json``,
``frontier.md`` and ``frontier.png``.

A point is a run folder (its ``<task>_hybrid.net`` and ``<task>_converted.net`` where present, and the ANN
from ``summary.json``) or a ``.net`` file. At a T other than the file's, the readout warm-up is the file's,
at most ``T // 2`` (:func:`loihi_hybrid.models.network.warmup_for`); a sigma-delta network keeps its warm-up
(its pipeline depth) and runs only at T between that and its own: past its pipeline it sends the same messages
at any T, and its readout's scale was calibrated for its own T.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable

from ..backends.energy import ENERGY_LABELS, energy_estimates, layer_activity, mean_rate_hz
from ..errors import InputError
from ..fixedpoint.emulator import emulate
from ..fixedpoint import FixedNetwork
from ..fsio import atomic_write_json, atomic_write_text, check_writable
from ..models.network import warmup_for
from ..plots.frontier import plot_frontier
from ..tasks import Task
from .deploy import export_data, open_export, select


def _points(sources: list[str | Path]) -> list[tuple[str, Path | dict]]:
    """``(label, .net path or ANN summary row)`` for each source."""
    out: list[tuple[str, Path | dict]] = []
    for src in map(Path, sources):
        if src.is_file():
            out.append((src.stem, src))
            continue
        if not src.is_dir():
            raise InputError(src, "not a run folder or .net file")
        summary = src / "summary.json"
        if summary.is_file():
            s = json.loads(summary.read_text())
            out.append((f"{src.name}: ANN", {**s["ann"], "task": s["task"]}))
        nets = sorted(src.glob("*_converted.net")) + sorted(src.glob("*_hybrid*.net"))
        if not nets:
            raise InputError(src, "no *_converted.net or *_hybrid*.net export in the run folder")
        out += [(f"{src.name}: {p.stem}", p) for p in nets]
    return out


def _warmup_at(net: FixedNetwork, T: int) -> int:
    """The readout warm-up of ``net`` run at ``T`` steps: its own at its own T; a sigma-delta network's always
    (its readout's input arrives one step per layer after the image, whatever T); else at most ``T // 2``."""
    return net.warmup if T == net.steps or net.pipelined else warmup_for(net.warmup, T)


def evaluate_point(path: Path, export: tuple[FixedNetwork, dict[str, Any], Task], steps: int,
                   data_dir: str | None, limit: int | None, cache: dict) -> dict[str, Any]:
    """The export at ``path`` (opened: :func:`.deploy.open_export`) run at ``steps`` steps on its test split
    (``limit``: first N groups), on the emulator; ``cache`` keeps loaded data sets between points."""
    net, meta, task = export
    key = (meta["task"], json.dumps(meta["config"]["data"], sort_keys=True), meta["config"]["seed"])
    if key not in cache:
        cache[key] = export_data(path, meta, task, data_dir)
    part = select(cache[key], "test", limit)
    T = steps
    run = dataclasses.replace(net, steps=T, warmup=_warmup_at(net, T))
    r = emulate(run, part.x)
    metric, _ = task.score(task.decode_readout(r.readout, meta["decoding"]), part)
    dt = task.cfg.dt_s
    e = energy_estimates(run, layer_activity(run, r.counts, dt))
    return {"task": meta["task"], "metric_name": task.metric_name, "metric": float(metric), "steps": T,
            "warmup": run.warmup, "input_once": run.input_once, "n_samples": len(part),
            "rate_hz": mean_rate_hz(run, r.counts, dt),
            **{k.replace("_per_inference", ""): v for k, v in e.items()}}


def frontier(sources: list[str | Path], steps: list[int], out: str | Path, data_dir: str | None = None,
             limit: int | None = None, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Evaluate every point of ``sources`` at each T of ``steps`` (plus its own T); write the table and figure."""
    out = Path(out)
    check_writable(out, folder=True)
    rows, cache, ann = [], {}, []
    points = _points(sources)
    opened = {src: open_export(src) for _, src in points if not isinstance(src, dict)}  # each file read once
    tasks = {meta["task"] for _, meta, _ in opened.values()} | {src["task"] for _, src in points if isinstance(src, dict)}
    if len(tasks) > 1:  # one metric axis: IoU and Dice on one plot would read as one scale
        raise InputError(None, f"the points are of several networks ({', '.join(sorted(tasks))}); a frontier "
                               "compares operating points of one network")
    for label, src in points:
        if isinstance(src, dict):
            # with --limit the exports see the first N groups, the ANN's figure is its run's whole test split
            ann.append((f"{label} (full test split)" if limit is not None else label, src))
            continue
        net = opened[src][0]
        own = net.steps
        for T in sorted({own, *steps}):
            if net.pipelined and T <= net.warmup:
                log(f"[frontier] {label} T={T}: skipped, a sigma-delta network's readout gets its input only after "
                    f"step {net.warmup - 1}")
                continue
            if net.pipelined and T > own:  # the same messages, more neuron updates, and a readout sized for `own`
                log(f"[frontier] {label} T={T}: skipped, a sigma-delta network computes the same at any T past its "
                    f"pipeline, and its readout's scale was calibrated for T={own} (its voltage would clip)")
                continue
            row = {"point": label, "source": str(src), "exported_T": T == own,
                   **evaluate_point(src, opened[src], T, data_dir, limit, cache)}
            rows.append(row)
            log(f"[frontier] {label} T={row['steps']}: {row['metric_name']} {row['metric']:.4f}, "
                f"Loihi {row['loihi_estimate_uj']:.1f} + static {row['loihi2_static_uj']:.1f} µJ, "
                f"paper-style {row['snn_horowitz_uj']:.2f} µJ")
    if not rows:
        raise InputError(None, "no export to evaluate")
    for label, s in ann:  # the ANN: its MAC estimate (same architecture as the exports of its run)
        ref = next(r for r in rows if r["point"].startswith(label.split(": ")[0] + ":"))
        rows.append({"point": label, "source": label, "task": s["task"], "metric_name": ref["metric_name"],
                     "metric": s["metric"], "steps": None, "rate_hz": None, "ann_estimate_uj": ref["ann_estimate_uj"],
                     "loihi_estimate_uj": None, "loihi2_static_uj": None, "loihi_estimate_with_static_uj":
                     ref["ann_estimate_uj"], "snn_horowitz_uj": ref["ann_estimate_uj"],
                     "note": "ANN: MACs x 4.6 pJ (estimate) in both energy columns; test metric from summary.json"})
    metric_name = rows[0]["metric_name"]
    out.mkdir(parents=True, exist_ok=True)  # only now: a refused input leaves no empty folder behind
    atomic_write_json(out / "frontier.json", {"rows": rows, "energy_labels": ENERGY_LABELS})
    atomic_write_text(out / "frontier.md", table(rows, metric_name))
    plot_frontier(rows, metric_name, out / "frontier.png", f"{rows[0]['task']}: {metric_name} against energy "
                  "(estimates) and T")
    return rows


def table(rows: list[dict[str, Any]], metric_name: str) -> str:
    """The frontier as a markdown table (every energy an estimate; which chip each comes from in the header)."""
    f = lambda v, p: "–" if v is None else f"{v:.{p}f}"  # noqa: E731
    lines = [f"| point | T | {metric_name} | rate (Hz) | Loihi est. (Loihi 1 dyn., µJ) | + static (Loihi 2, µJ) "
             "| total est. (µJ) | paper-style est. (µJ) | ANN est. (µJ) |", "|" + " --- |" * 9]
    for r in rows:
        lines.append(f"| {r['point']} | {r['steps'] if r['steps'] is not None else '–'} | {r['metric']:.4f} | "
                     f"{f(r['rate_hz'], 1)} | {f(r['loihi_estimate_uj'], 2)} | {f(r['loihi2_static_uj'], 2)} | "
                     f"{f(r['loihi_estimate_with_static_uj'], 2)} | {f(r['snn_horowitz_uj'], 3)} | "
                     f"{f(r['ann_estimate_uj'], 3)} |")
    return "\n".join(lines) + "\n"
