"""The report's summary tables (targets, methods, T sweep, speed) and the README block generated from them.

Everything here formats ``results.json`` of ``scripts/reproduce.py``; nothing is measured here, so the
README's results cannot drift from the report they come from.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..fsio import atomic_write_text
from ..tasks import get_task, task_names

#: the ratios ``scripts/bench.py`` reports, in its order
RATIO_KEYS = ("hybrid_step_vs_ann_step", "bptt_step_vs_hybrid_step", "bptt_peak_mem_vs_hybrid",
              "hybrid_mem_T64_vs_T16", "lava_sim_s_per_sample", "emulation_vs_lava_sim",
              "lava_sim_vs_emulation_per_sample", "emu_default_threads_vs_one_thread")
TARGET_RATIO = 0.98
METHOD_NAMES = {"hybrid": "hybrid (spiking forward, rate backward)", "bptt": "SLAYER BPTT (surrogate gradient)",
                "bootstrap": "lava-dl bootstrap (SAMPLE/FIT/ANN/SNN)"}
BEGIN, END = "<!-- results:begin", "<!-- results:end -->"


def method_origin(m: dict[str, Any]) -> str:
    return "scratch" if m["method"] == "bootstrap" else "converted SNN"


def method_budget(m: dict[str, Any]) -> str:
    b = f"{m['epochs']} epoch{'s' if m['epochs'] != 1 else ''}"
    if m.get("max_batches"):
        b += f" × ≤ {m['max_batches']} batches"
    if m["method"] == "bootstrap":
        b += f" (sampling every {m['sample_period']} epochs, {m['num_sample_iter']} batches)"
    return b


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _tasks(results: dict[str, Any]) -> list[str]:
    return [t for t in task_names() if t in results]


def _label(t: str) -> str:
    return get_task(t).label


def _paper(t: str, stage: str) -> tuple[float | None, float | None]:
    return get_task(t).paper.get(stage, (None, None))


def targets_table(results: dict[str, Any]) -> str:
    """The issue's quality targets against the measured figures (training-time float SNN and its export)."""
    tasks = _tasks(results)
    rows = ["| target | " + " | ".join(_label(t) for t in tasks) + " |", "| --- |" + " --- |" * len(tasks)]

    def row(name: str, cell) -> None:
        rows.append(f"| {name} | " + " | ".join(cell(t, results[t]) for t in tasks) + " |")

    def ratio(t: str, r: dict[str, Any]) -> str:
        v = r["summary"]["hybrid"]["metric"] / r["summary"]["ann"]["metric"]
        return f"{v:.3f} {_verdict(v >= TARGET_RATIO)}"

    def metric(t: str, r: dict[str, Any]) -> str:
        v, d = r["summary"]["hybrid"]["metric"], r["deployed"]["hybrid"]["metric"]
        target = get_task(t).target
        return f"{v:.4f} (export {d:.4f}) " + ("–" if target is None else _verdict(v >= target))

    def below_converted(t: str, r: dict[str, Any]) -> str:
        h, c = r["summary"]["hybrid"]["firing_rate_hz"], r["summary"]["converted"]["firing_rate_hz"]
        return f"{h:.1f} vs {c:.1f} {_verdict(h < c)}"

    def below_paper(t: str, r: dict[str, Any]) -> str:
        h, p = r["summary"]["hybrid"]["firing_rate_hz"], _paper(t, "hybrid")[1]
        return "–" if p is None else f"{h:.1f} vs {p:.1f} {_verdict(h < p)}"

    row(f"hybrid / ANN ≥ {TARGET_RATIO}", ratio)
    row("hybrid metric ≥ " + " / ".join(f"{get_task(t).target}" for t in tasks), metric)
    row("hybrid rate (Hz) < converted SNN's", below_converted)
    row("hybrid rate (Hz) < paper's hybrid", below_paper)
    return "\n".join(rows)


def _num(v: float | None, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def tables_table(results: dict[str, Any]) -> str:
    """Tables 1 and 2 of the paper beside ours: training-time metric and rate, and the fixed-point export."""
    lines = ["| network | model | paper | paper rate (Hz) | ours | rate (Hz) | ours, Lava fixed point | rate (Hz) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in _tasks(results):
        s, dep = results[t]["summary"], results[t]["deployed"]
        for stage in ("ann", "converted", "hybrid"):
            pm, pr = _paper(t, stage)
            r, d = s[stage], dep.get(stage) or {}
            lines.append(f"| {_label(t)} | {stage} | {_num(pm)} | {_num(pr, 1)} | {_num(r['metric'])} | "
                         f"{_num(r['firing_rate_hz'], 1)} | {_num(d.get('metric'))} | "
                         f"{_num(d.get('mean_firing_rate_hz'), 1)} |")
        b = s["baseline"]
        lines.append(f"| {_label(t)} | baseline ({b['extra'].get('predictor', '')}) | – | – | {_num(b['metric'])} "
                     "| – | – | – |")
    return "\n".join(lines)


def methods_table(results: dict[str, Any]) -> str:
    """Training methods side by side: metric, rate, wall time and peak memory."""
    lines = ["| network | method | starts from | budget | metric | rate (Hz) | wall time (s) | peak memory (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for t in _tasks(results):
        for m in results[t]["methods"]:
            lines.append(f"| {_label(t)} | {METHOD_NAMES[m['method']]} | {method_origin(m)} | {method_budget(m)} | "
                         f"{m['metric']:.4f} | {m['firing_rate_hz']:.1f} | {m['train_seconds']:.0f} | "
                         f"{m['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def sweep_table(results: dict[str, Any]) -> str:
    """Metric (and mean rate) against T for the converted and hybrid exports of each network."""
    tasks = _tasks(results)
    steps = sorted({r["steps"] for t in tasks for r in results[t]["sweep"]})
    head = " | ".join(f"{_label(t).split()[0]} {stage}" for t in tasks for stage in ("converted", "hybrid"))
    lines = [f"| T | {head} |", "| --- |" + " --- |" * (2 * len(tasks))]
    for T in steps:
        cells = []
        for t in tasks:
            for stage in ("converted", "hybrid"):
                r = next((r for r in results[t]["sweep"] if r["stage"] == stage and r["steps"] == T), None)
                cells.append("–" if r is None else f"{r['metric']:.4f} ({r['rate_hz']:.0f} Hz)")
        lines.append(f"| {T} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


BENCH_TARGETS = {"bptt_step_vs_hybrid_step": (">=", 3.0), "hybrid_mem_T64_vs_T16": ("<=", 1.2),
                 "lava_sim_vs_emulation_per_sample": (">=", 20.0)}


def bench_table(bench: dict[str, Any]) -> str:
    """``scripts/bench.py --json`` ratios with their targets."""
    lines = ["| ratio (`scripts/bench.py`) | value | target |", "| --- | --- | --- |"]
    for k in RATIO_KEYS:
        v = bench.get(k)
        if v is None:
            continue
        target = BENCH_TARGETS.get(k)
        verdict = "–"
        if target is not None:
            ok = v >= target[1] if target[0] == ">=" else v <= target[1]
            verdict = f"{'≥' if target[0] == '>=' else '≤'} {target[1]}: {_verdict(ok)}"
        lines.append(f"| `{k}` | {v:.3g} | {verdict} |")
    return "\n".join(lines)


def readme_block(results: dict[str, Any], command: str, report: Path) -> str:
    """The README's generated results block (between the ``results`` markers)."""
    parts = [f"{BEGIN}: generated by scripts/reproduce.py from {report.parent.name}/results.json; "
             "regenerate rather than edit -->",
             f"### Reproduction report ([`{report.as_posix()}`]({report.as_posix()}))", "",
             "Regenerate with:", "", "```bash", command, "```", "",
             "**Targets** (test splits; the hybrid SNN at training time, its fixed-point export in brackets):", "",
             targets_table(results), "",
             "**The paper's Tables 1 and 2 beside ours** (rates are network averages in Hz):", "",
             tables_table(results), ""]
    if any(results[t]["methods"] for t in _tasks(results)):
        parts += ["**Training methods** (same network, data, T = 32, loss and batch size; each in a fresh "
                  "process, memory is its peak resident set):", "", methods_table(results), ""]
    parts += ["**Accuracy against T** (fixed point, readout over the second half; hybrid fine-tuned at T = 32 only):",
              "", sweep_table(results), ""]
    if results.get("bench"):
        parts += ["**Speed and memory** (one `bench.py` run; ratios of figures measured side by side):", "",
                  bench_table(results["bench"]), ""]
    parts.append(END)
    return "\n".join(parts) + "\n"


def splice_readme(readme: Path, block: str) -> None:
    """Replace the README's generated block (or append one under ``## Results`` if there is none)."""
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END) + "\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif "## Results\n" in text:
        text = text.replace("## Results\n", "## Results\n\n" + block, 1)
    else:
        text = text.rstrip("\n") + "\n\n## Results\n\n" + block
    atomic_write_text(readme, text)
