"""Lava simulator against the bit-exact emulator, every spike of every layer, on an export's first test
samples (for LocNet, under each of its protocols): the check behind "emu = sim, spike for spike" for a file
that is about to be shipped. ``scripts/parity.py`` is its command line."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..fixedpoint.emulator import emulate
from .deploy import export_data, open_export, select, with_protocol


def parity(model: str | Path, data_dir: str | None, n: int = 2, max_samples: int | None = None) -> dict[str, Any]:
    """Run the first ``n`` test groups (images, or whole volumes) of ``model``'s data under each protocol of
    its task (at most ``max_samples`` samples of each) through the emulator and through Lava's ``sim`` back
    end with every spike recorded; returns the samples, per-layer spike totals and per-layer mismatching
    spikes (all 0 when the two agree)."""
    from ..backends.lava.runner import run_lava  # noqa: PLC0415 (Lava adapter)

    path = Path(model)
    net, meta, task = open_export(path)
    data = export_data(path, meta, task, data_dir)
    parts = [select(data, "test", n)]
    parts += [select(export_data(path, meta, with_protocol(task, p), data_dir), "test", n)
              for p in task.protocols if p != task.cfg.data.protocol]
    x = np.concatenate([p.x[:max_samples] for p in parts])
    t0 = time.perf_counter()
    emu = emulate(net, x, record=True)
    lava = run_lava(path, net, net.encode_input(x), backend="sim", record_trains=True, chunk=1)
    assert lava.trains is not None
    mismatches = {ly.name: int((a != b).sum()) for ly, a, b in zip(net.layers, emu.spikes, lava.trains, strict=True)}
    return {"model": str(path), "samples": int(len(x)), "protocols": [task.cfg.data.protocol] +
            [p for p in task.protocols if p != task.cfg.data.protocol],
            "spikes_per_layer": {ly.name: int(c) for ly, c in zip(net.layers, emu.counts.sum(0), strict=True)},
            "mismatching_spikes_per_layer": mismatches, "equal": not any(mismatches.values()),
            "readout_voltage_equal": bool(np.array_equal(emu.v_end, lava.v_end)),
            "seconds": round(time.perf_counter() - t0, 1)}
