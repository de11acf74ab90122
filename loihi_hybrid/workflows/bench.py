"""``scripts/bench.py``: speed and memory ratios measured side by side in one run.

Every training figure comes from a fresh process (``workflows.bench_step``) on the same network (LocNet at the
real-data size), batch and T; the deployment figures stream the same images through the committed LocNet
export on the Lava simulator and on the emulator. Only the ratios are meant to be compared across runs.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import resource

import numpy as np

from ..errors import InputError
from ..reports.summary import RATIO_KEYS

DEFAULT_EXPORT = Path(__file__).resolve().parents[2] / "netx_exports" / "locnet_hybrid.net"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _step(mode: str, steps: int, batch: int, repeats: int) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "loihi_hybrid.workflows.bench_step", "--mode", mode, "--steps", str(steps),
           "--batch", str(batch), "--repeats", str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _deploy_times(export: Path, n: int, data: str | None) -> dict[str, Any]:
    from ..backends.lava.runner import run_lava  # noqa: PLC0415 (Lava adapter)
    from ..fixedpoint import emulate  # noqa: PLC0415
    from ..fixedpoint.emulator import DEFAULT_THREADS, emulator_threads  # noqa: PLC0415
    from .deploy import open_export  # noqa: PLC0415

    net, _, task = open_export(export)
    if data is not None:
        x = task.load_data(data).test.x[:n]
    else:  # timing only: random images of the right shape
        x = np.random.default_rng(0).random((n, *net.input_shape)).astype(np.float32)
    timed = {}
    for key, threads in (("policy", None), ("default", DEFAULT_THREADS), ("one", 1)):
        t0 = time.perf_counter()
        emu = emulate(net, x, threads=threads)
        timed[key] = time.perf_counter() - t0
    lava = run_lava(export, net, net.encode_input(x), backend="sim")
    same = bool(np.array_equal(emu.counts, lava.counts) and np.array_equal(emu.v_end, lava.v_end))
    return {"samples": len(x), "images": "test split" if data else "random", "emu_s": timed["policy"],
            "emu_threads": emulator_threads(net, len(x)), "emu_default_threads": DEFAULT_THREADS,
            "emu_default_threads_s": timed["default"], "emu_one_thread_s": timed["one"],
            "lava_sim_s": lava.seconds, "lava_build_s": lava.build_seconds, "spikes_identical": same}


def run_suite(quick: bool = False, export: str | Path | None = None, data: str | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    export = Path(export) if export else DEFAULT_EXPORT
    if not export.is_file():
        raise InputError(export, "exported network not found (needed for the Lava timings)")
    batch, steps, repeats, n_lava = (8, 32, 1, 2) if quick else (16, 32, 3, 8)
    t0 = time.perf_counter()
    runs: dict[str, dict[str, Any]] = {}
    for key, mode, t in (("ann", "ann", steps), ("hybrid", "hybrid", steps), ("bptt", "bptt", steps),
                         ("hybrid_T16", "hybrid", 16), ("hybrid_T64", "hybrid", 64)):
        log(f"[bench] {mode} step, T = {t}, batch {batch} ...")
        runs[key] = _step(mode, t, batch, repeats)
        log(f"[bench]   {runs[key]['step_s']:.3f} s/step, peak RSS {runs[key]['peak_rss_mb']:.0f} MB, "
            f"autograd saved {runs[key]['saved_bytes'] / 2**20:.1f} MiB")
    log(f"[bench] Lava simulator vs emulator on {n_lava} samples of {export.name} ...")
    dep = _deploy_times(export, n_lava, data)
    h, b = runs["hybrid"], runs["bptt"]
    result = {
        "hybrid_step_vs_ann_step": h["step_s"] / runs["ann"]["step_s"],
        "bptt_step_vs_hybrid_step": b["step_s"] / h["step_s"],
        "bptt_peak_mem_vs_hybrid": b["peak_rss_mb"] / h["peak_rss_mb"],
        "hybrid_mem_T64_vs_T16": runs["hybrid_T64"]["peak_rss_mb"] / runs["hybrid_T16"]["peak_rss_mb"],
        "lava_sim_s_per_sample": dep["lava_sim_s"] / dep["samples"],
        "emulation_vs_lava_sim": dep["emu_s"] / dep["lava_sim_s"],
        "lava_sim_vs_emulation_per_sample": dep["lava_sim_s"] / dep["emu_s"],
        "emu_default_threads_vs_one_thread": dep["emu_default_threads_s"] / dep["emu_one_thread_s"],
        "absolute": {**runs, "deploy": dep,
                     "saved_bytes_ratios": {
                         "bptt_vs_hybrid": b["saved_bytes"] / h["saved_bytes"],
                         "hybrid_T64_vs_T16": runs["hybrid_T64"]["saved_bytes"] / runs["hybrid_T16"]["saved_bytes"]}},
        "settings": {"network": "LocNet, real-data config (3x48x72, channels 16/32/64, hidden 256/128/64)",
                     "batch": batch, "steps": steps, "repeats": repeats, "quick": quick,
                     "memory": "peak resident set size of a fresh process running only that configuration"},
        "seconds": time.perf_counter() - t0,
    }
    return result


def format_result(r: dict[str, Any]) -> str:
    lines = [f"{k:<28} {r[k]:.3f}" for k in RATIO_KEYS]
    sb = r["absolute"]["saved_bytes_ratios"]
    lines.append(f"{'(autograd saved bytes) bptt/hybrid':<36} {sb['bptt_vs_hybrid']:.2f}, "
                 f"hybrid T64/T16 {sb['hybrid_T64_vs_T16']:.2f}")
    d = r["absolute"]["deploy"]
    lines.append(f"emulator {r['lava_sim_vs_emulation_per_sample']:.0f}x faster than the Lava simulator per sample "
                 f"({d['emu_threads']} thread(s) by policy); default {d['emu_default_threads']} threads take "
                 f"{r['emu_default_threads_vs_one_thread']:.2f}x the time of one")
    lines.append(f"Lava and emulator spikes identical: {r['absolute']['deploy']['spikes_identical']}; "
                 f"bench took {r['seconds']:.0f} s")
    return "\n".join(lines)
