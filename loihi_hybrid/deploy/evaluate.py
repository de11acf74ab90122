"""Evaluate an exported network on a back end (``emu``, ``sim``, ``loihi2``) and summarise it.

The summary has the keys users script against: task, backend, model, metric_name, metric, n_samples,
steps_per_sample, mean_firing_rate_hz, layers, energy, seconds, seconds_per_sample, extra.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import config_from_dict
from ..data import ArraySplit, DataSplits
from ..errors import InputError
from ..export.fixed_point import FixedNetwork
from ..export.netx_hdf5 import read_netx
from ..training.tasks import make_task
from .emulator import emulate
from .energy import energy_estimates, fit_report, layer_activity, mean_rate_hz

BACKENDS = ("emu", "sim", "loihi2")
RASTER_NEURONS = 6


@dataclass
class BackendOutput:
    v_warm: np.ndarray
    v_end: np.ndarray
    counts: np.ndarray
    raster: dict[str, np.ndarray]
    measured_uj: float | None = None


def decode(meta: dict[str, Any], y: np.ndarray) -> np.ndarray:
    """Readout values -> boxes (LocNet) or probability maps (CAE), as the training-time models decode."""
    d = meta["decoding"]
    if meta["task"] == "locnet":
        return y * np.asarray(d["target_std"]) + np.asarray(d["target_mean"])
    return 1.0 / (1.0 + np.exp(-y))


def concat(splits: list[ArraySplit]) -> ArraySplit:
    """One split holding all samples of ``splits`` (for ``--split all``)."""
    orig = None if splits[0].orig_size is None else np.concatenate([s.orig_size for s in splits])
    return ArraySplit(x=np.concatenate([s.x for s in splits]), y=np.concatenate([s.y for s in splits]),
                      names=[n for s in splits for n in s.names],
                      groups=np.concatenate([s.groups for s in splits]), orig_size=orig)


def select(data: DataSplits, split: str, limit: int | None) -> ArraySplit:
    """The samples to evaluate; ``limit``: the first N images (LocNet) or volumes (CAE)."""
    part = data.test if split == "test" else concat([data.train, data.val, data.test])
    if limit is None:
        return part
    if data.task == "locnet":
        return part.subset(slice(0, limit))
    _, first = np.unique(part.groups, return_index=True)
    keep = set(part.groups[np.sort(first)][:limit].tolist())
    return part.subset(np.flatnonzero([g in keep for g in part.groups]))


def _raster_neurons(net: FixedNetwork, x0: np.ndarray) -> tuple[dict[int, np.ndarray], list[np.ndarray]]:
    """The most active neurons of each spiking layer on the first sample (flat (C, H, W) indices), and that
    sample's emulated spike trains per layer, each (neurons, T)."""
    trains = [s[0].reshape(-1, net.steps) for s in emulate(net, x0[None], record=True).spikes]
    watch = {i: np.sort(np.argsort(-t.sum(1), kind="stable")[:RASTER_NEURONS])
             for i, (layer, t) in enumerate(zip(net.layers, trains)) if layer.spiking}
    return watch, trains


def run_backend(backend: str, path: Path, net: FixedNetwork, x: np.ndarray,
                progress: Callable[[int], None] | None = None) -> BackendOutput:
    watch, first = _raster_neurons(net, x[0])
    if backend == "emu":
        done = [0]

        def step(k: int) -> None:
            done[0] += k
            if progress is not None:
                progress(done[0])

        r = emulate(net, x, progress=step)
        raster = {net.layers[i].name: first[i][idx].astype(np.int32) for i, idx in watch.items()}
        return BackendOutput(r.v_warm, r.v_end, r.counts, raster)
    from .lava.runner import run_lava  # noqa: PLC0415 (Lava adapter, imported only when used)

    r = run_lava(path, net, net.encode_input(x), backend=backend, watch=watch, progress=progress)
    return BackendOutput(r.v_warm, r.v_end, r.counts, r.raster, r.measured_uj_per_inference)


def deploy(model_path: str | Path, data: DataSplits, backend: str = "sim", split: str = "test",
           limit: int | None = None, plots: str | Path | None = None,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Evaluate the export at ``model_path`` on ``data`` with ``backend``; returns the summary."""
    if backend not in BACKENDS:
        raise InputError(None, f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    path = Path(model_path)
    net, meta = read_netx(path)
    cfg = config_from_dict(meta["config"], f"{path} (metadata)")
    if data.task != meta["task"]:
        raise InputError(path, f"a {meta['task']} network cannot be evaluated on {data.task} data")
    part = select(data, split, limit)
    if tuple(part.x.shape[1:]) != tuple(net.input_shape):
        raise InputError(path, f"expects inputs of shape {tuple(net.input_shape)} (C, H, W), the data gives "
                               f"{tuple(part.x.shape[1:])}: use the data (and size) it was trained on")
    t0 = time.perf_counter()
    out = run_backend(backend, path, net, part.x, progress)
    seconds = time.perf_counter() - t0
    y = net.decode_readout(out.v_warm, out.v_end)
    pred = decode(meta, y)
    task = make_task(cfg)
    metric, extra = task.score(pred, part)
    if cfg.task == "locnet":
        base, _ = task.baseline(DataSplits(train=data.train, val=data.val, test=part, source=data.source,
                                           task=data.task))
        extra["mean_box_baseline"] = base
    activity = layer_activity(net, out.counts, cfg.dt_s)
    energy = energy_estimates(net, activity)
    n = len(part)
    summary = {
        "task": cfg.task, "backend": backend, "model": str(path), "metric_name": task.metric_name,
        "metric": float(metric), "n_samples": n, "steps_per_sample": net.steps,
        "mean_firing_rate_hz": mean_rate_hz(net, out.counts, cfg.dt_s),
        "layers": [{k: r[k] for k in ("name", "neurons", "spikes", "firing_rate_hz", "synops")} for r in activity],
        "energy": {"loihi_estimate_uj_per_inference": energy["loihi_estimate_uj_per_inference"],
                   "ann_estimate_uj_per_inference": energy["ann_estimate_uj_per_inference"],
                   "measured_uj_per_inference": out.measured_uj},
        "seconds": round(seconds, 3), "seconds_per_sample": seconds / max(n, 1),
        "extra": {**extra, "split": split, "limit": limit, "data": data.source,
                  "metric_produced_by": {"emu": "bit-exact numpy/torch emulation of the exported fixed-point "
                                                "network (parity-tested against the Lava simulator)",
                                         "sim": "Lava CPU simulator, Loihi2SimCfg(select_tag='fixed_pt')",
                                         "loihi2": "Loihi 2 hardware through Lava"}[backend],
                  "neuron_updates_per_inference": sum(r["neurons"] for r in activity) * net.steps,
                  "synops_per_inference": sum(r["synops"] for r in activity),
                  "snn_horowitz_uj_per_inference": energy["snn_horowitz_uj_per_inference"],
                  "snn_vs_ann_energy_ratio_horowitz": energy["snn_horowitz_uj_per_inference"]
                  / energy["ann_estimate_uj_per_inference"],
                  "loihi_vs_ann_energy_ratio": energy["loihi_estimate_uj_per_inference"]
                  / energy["ann_estimate_uj_per_inference"],
                  "test_metric_at_export": meta.get("test_metric_at_export"),
                  "fit": fit_report(net)},
    }
    if plots is not None:
        summary["extra"]["plots"] = _plots(Path(plots), summary, out.raster, part, pred, meta, net)
    return summary


def _plots(folder: Path, summary: dict[str, Any], raster: dict[str, np.ndarray], part: ArraySplit,
           pred: np.ndarray, meta: dict[str, Any], net: FixedNetwork) -> list[str]:
    from ..metrics import box_iou  # noqa: PLC0415
    from ..reports import deploy_plots as dp  # noqa: PLC0415

    tag = f"{meta['task']}_{summary['backend']}"
    files = [dp.plot_layer_rates(summary["layers"][:-1], folder / f"{tag}_layer_rates.png",
                                 title=f"{meta['task']} on {summary['backend']}: firing rate per layer",
                                 mean_hz=summary["mean_firing_rate_hz"])]
    if raster:
        files.append(dp.plot_raster(raster, folder / f"{tag}_raster.png", dt_ms=meta["dt_s"] * 1e3,
                                    title="spikes of the most active neurons per layer, first sample"))
    if meta["task"] == "locnet":
        files.append(dp.plot_boxes(part.x, pred, part.y, folder / f"{tag}_boxes.png",
                                   scores=box_iou(pred, part.y)))
    else:
        rows = np.flatnonzero(part.y.reshape(len(part.y), -1).any(1))[:4]
        files.append(dp.plot_segmentation_panels(part.x, part.y, {summary["backend"]: pred},
                                                 folder / f"{tag}_panels.png", rows=rows if len(rows) else None))
    return [str(f) for f in files]
