"""Evaluate an exported network on a back end (``emu``, ``sim``, ``loihi2``) and summarise it.

The summary has the keys users script against: task, backend, model, metric_name, metric, n_samples,
steps_per_sample, mean_firing_rate_hz, layers, energy, seconds, seconds_per_sample, extra.

A plain NetX file (no ``/loihi_hybrid`` metadata, e.g. one that lava-dl wrote) has no task: :func:`deploy_raw`
runs raw integer input arrays through it and reports the same activity, energy and fit figures (task,
metric_name and metric None; rates at :data:`PLAIN_DT_S` per step), optionally saving every layer's output.
"""
from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import config_from_dict
from ..data import ArraySplit, DataSplits
from ..backends.registry import BackendOutput, get_backend, run_backend
from ..fsio import atomic_write
from ..backends.energy import ENERGY_LABELS, energy_estimates, fit_report, layer_activity, mean_rate_hz
from ..errors import InputError
from ..fsio import check_writable
from ..fixedpoint import FixedNetwork, read_netx
from ..fixedpoint.netx import is_plain_netx
from ..fixedpoint.validate import check_decoding
from ..data.placed import is_placed
from ..plots.deploy import plot_layer_rates, plot_raster
from ..tasks import Task, make_task


def concat(splits: list[ArraySplit]) -> ArraySplit:
    """One split holding all samples of ``splits`` (for ``--split all``)."""
    orig = None if splits[0].orig_size is None else np.concatenate([s.orig_size for s in splits])
    return ArraySplit(x=np.concatenate([s.x for s in splits]), y=np.concatenate([s.y for s in splits]),
                      names=[n for s in splits for n in s.names],
                      groups=np.concatenate([s.groups for s in splits]), orig_size=orig)


def select(data: DataSplits, split: str, limit: int | None) -> ArraySplit:
    """The samples to evaluate; ``limit``: the samples of the first N groups (images, or whole volumes)."""
    part = data.test if split == "test" else concat([data.train, data.val, data.test])
    if limit is None:
        return part
    _, first = np.unique(part.groups, return_index=True)
    keep = set(part.groups[np.sort(first)][:limit].tolist())
    return part.subset(np.flatnonzero([g in keep for g in part.groups]))


def open_export(model_path: str | Path) -> tuple[FixedNetwork, dict[str, Any], Task]:
    """The fixed-point network, metadata and task (bound to the training config) of an export."""
    path = Path(model_path)
    net, meta = read_netx(path, require_deploy=True)
    task = make_task(config_from_dict(meta["config"], f"{path} (metadata)"))
    check_decoding(path, meta["decoding"], task.decoding_params_keys, net.readout.out_shape)
    return net, meta, task


def export_data(path: str | Path, meta: dict[str, Any], task: Task, data_dir: str | Path | None) -> DataSplits:
    """The data an export is evaluated on: ``data_dir``, or the task's embedded set if the export was trained
    on it. An export trained on other data, run without ``data_dir``, is an :class:`InputError`: its numbers
    on the embedded set would look plausible and mean nothing."""
    if data_dir is not None and not Path(data_dir).is_dir():
        raise InputError(data_dir, "data folder not found")
    trained_on = meta["preprocessing"]["data_source"]
    if data_dir is None and trained_on != task.default_source:
        raise InputError(path, f"trained on {trained_on}: pass --data DIR with that data")
    return task.load_data(None if data_dir is None else str(data_dir))


def with_protocol(task: Task, protocol: str | None) -> Task:
    """``task`` with its test split under ``protocol`` (None: as it was trained)."""
    if protocol is None or protocol == task.cfg.data.protocol:
        return task
    if protocol not in task.protocols:
        raise InputError(None, f"--protocol {protocol}: the {task.name} network has the protocols "
                               f"{', '.join(task.protocols)}")
    cfg = dataclasses.replace(task.cfg, data=dataclasses.replace(task.cfg.data, protocol=protocol))
    return type(task)(cfg)


def resolve_protocol(task: Task, split: str, protocol: str | None) -> Task:
    """The task whose data loading gives the samples to evaluate: ``--split test`` under ``protocol``
    (None: as trained); ``--split all`` takes every sample of the folder as it is (the paper protocol)."""
    if split == "all":
        if protocol not in (None, "paper"):
            raise InputError(None, f"--protocol {protocol} needs --split test: --split all takes every sample "
                                   "in the folder as it is")
        return with_protocol(task, "paper")
    return with_protocol(task, protocol)


PLAIN_DT_S = 1e-3  # plain NetX files carry no step duration: rates assume Loihi's nominal 1 ms per step
NETX_READ_ARGS = ("num_layers", "skip_layers", "spike_exp", "input_message_bits")  # what changes the network


def summarise(task: Task | None, net: FixedNetwork, meta: dict[str, Any], out: BackendOutput, backend: str,
              path: Path, n: int, seconds: float, metric: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    """The deployment summary of one back-end run (metric None: inputs without labels; task None: raw
    inputs, rates at the metadata's ``dt_s`` or :data:`PLAIN_DT_S`)."""
    dt = float(meta.get("dt_s", PLAIN_DT_S)) if task is None else task.cfg.dt_s
    activity = layer_activity(net, out.counts, dt)
    energy = energy_estimates(net, activity)
    ann = energy["ann_estimate_uj_per_inference"]
    return {
        "task": None if task is None else task.cfg.task, "backend": backend, "model": str(path),
        "metric_name": None if task is None else task.metric_name,
        "metric": None if metric is None else float(metric), "n_samples": n, "steps_per_sample": net.steps,
        "mean_firing_rate_hz": mean_rate_hz(net, out.counts, dt),
        "layers": [{k: r[k] for k in ("name", "neurons", "spikes", "firing_rate_hz", "synops")} for r in activity],
        "energy": {"loihi_estimate_uj_per_inference": energy["loihi_estimate_uj_per_inference"],
                   "ann_estimate_uj_per_inference": ann, "measured_uj_per_inference": out.measured_uj,
                   "loihi2_static_uj_per_inference": energy["loihi2_static_uj_per_inference"],
                   "loihi_estimate_with_static_uj_per_inference":
                       energy["loihi_estimate_with_static_uj_per_inference"]},
        "seconds": round(seconds, 3), "seconds_per_sample": seconds / max(n, 1),
        "extra": {**extra, "metric_produced_by": get_backend(backend).produced_by,
                  "neuron_updates_per_inference": sum(r["neurons"] for r in activity) * net.steps,
                  "synops_per_inference": sum(r["synops"] for r in activity),
                  "snn_horowitz_uj_per_inference": energy["snn_horowitz_uj_per_inference"],
                  "snn_vs_ann_energy_ratio_horowitz": energy["snn_horowitz_uj_per_inference"] / ann if ann else None,
                  "loihi_vs_ann_energy_ratio": energy["loihi_estimate_uj_per_inference"] / ann if ann else None,
                  "loihi_with_static_vs_ann_energy_ratio":
                      energy["loihi_estimate_with_static_uj_per_inference"] / ann if ann else None,
                  "input_once": net.input_once, "energy_labels": ENERGY_LABELS,
                  # the steps the task's decoding reads (after the readout warm-up), None for raw inputs
                  "readout_window_steps": None if task is None else [net.warmup, net.steps - 1],
                  "test_metric_at_export": meta.get("test_metric_at_export"), "fit": fit_report(net),
                  "register_overflows": register_overflows(net, out.overflows)},
    }


def register_overflows(net: FixedNetwork, overflows: np.ndarray | None) -> dict[str, dict[str, int]] | None:
    """Per layer where any occurred: neuron-steps whose current wrapped around at 24 bits (the chip then
    computes garbage) or whose voltage was clipped (it then leaves the trained model), or for a sigma-delta
    layer messages wider than its message bits and ``sigma`` beyond 24 bits; ``{}``: none; None: the back end
    does not observe its registers (``sim``, ``loihi2``)."""
    if overflows is None:
        return None
    return {ly.name: dict(zip(OVERFLOW_KEYS[ly.neuron == "cuba"], (int(w), int(v))))
            for ly, (w, v) in zip(net.layers, overflows) if w or v}


#: the names of :attr:`EmuResult.overflows`' two columns for a graded (sigma-delta) and a CUBA layer
OVERFLOW_KEYS = {False: ("oversized_messages", "overflowed_sigmas"), True: ("wrapped_currents", "saturated_voltages")}


def overflow_phrase(counts: dict[str, int]) -> str:
    """One layer's entry of :func:`register_overflows` in words (export's and deploy's warnings)."""
    if "wrapped_currents" in counts:
        return (f"{counts['wrapped_currents']} neuron-steps with the current wrapped around at 24 bits, "
                f"{counts['saturated_voltages']} with the voltage clipped")
    return (f"{counts['oversized_messages']} messages wider than the layer's message bits, "
            f"{counts['overflowed_sigmas']} neuron-steps with sigma beyond 24 bits")


def deploy(model_path: str | Path, data: DataSplits, backend: str = "sim", split: str = "test",
           limit: int | None = None, plots: str | Path | None = None,
           progress: Callable[[int], None] | None = None, protocol: str | None = None,
           runner: Callable[..., tuple[BackendOutput, np.ndarray, float]] | None = None) -> dict[str, Any]:
    """Evaluate the export at ``model_path`` on ``data`` with ``backend``; returns the summary.
    ``runner`` replaces :func:`infer` (same arguments; e.g. :func:`.shard.sharded_infer`).

    ``plots`` is checked before the evaluation; figures that still cannot be written afterwards (disk
    full) do not lose the result: the summary is returned with ``extra["plots_error"]`` and a warning."""
    get_backend(backend)
    if plots is not None:
        check_writable(plots, folder=True)
    path = Path(model_path)
    net, meta, task = open_export(path)
    task = resolve_protocol(task, split, protocol)  # ``data`` must have been loaded by this task
    if data.task != meta["task"]:
        raise InputError(path, f"a {meta['task']} network cannot be evaluated on {data.task} data")
    part = select(data, split, limit)
    want_placed = split == "test" and task.cfg.data.protocol == "placed"
    try:
        placed = is_placed(part)
    except ValueError as err:
        raise InputError(path, f"{err}: load the data with the paper protocol for --split all") from None
    if placed != want_placed:
        raise InputError(path, f"the data were loaded under another protocol than the {task.cfg.data.protocol} "
                               f"protocol asked for (--split {split}): load them with the same task")
    out, pred, seconds = (runner or infer)(path, net, meta, task, part.x, backend, progress)
    metric, extra = task.score(pred, part)
    extra.update(task.deploy_extra(data, part))
    summary = summarise(task, net, meta, out, backend, path, len(part), seconds, metric,
                        {**extra, "split": split, "limit": limit, "data": data.source})
    if plots is not None:
        try:
            summary["extra"]["plots"] = write_plots(Path(plots), summary, out.raster, task, part, pred, meta)
        except InputError as err:  # the evaluation is worth more than its figures
            summary["extra"]["plots"] = []
            summary["extra"]["plots_error"] = str(err)
            warnings.warn(f"figures not written: {err}", RuntimeWarning, stacklevel=2)
    return summary


def check_inputs(path: Path, net: FixedNetwork, x: np.ndarray) -> None:
    """Inputs must have the network's shape and lie in [0, 1]: the encoder would clip anything else."""
    if tuple(x.shape[1:]) != tuple(net.input_shape):
        raise InputError(path, f"expects inputs of shape {tuple(net.input_shape)} (C, H, W), the data gives "
                               f"{tuple(x.shape[1:])}: use the data (and size) it was trained on")
    if x.size and not (np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0):
        raise InputError(path, f"expects inputs in [0, 1] (images divided by their full range), the data give "
                               f"values in [{np.nanmin(x):g}, {np.nanmax(x):g}]"
                               + ("" if np.isfinite(x).all() else " and non-finite values"))


def infer(path: Path, net: FixedNetwork, meta: dict[str, Any], task: Task, x: np.ndarray, backend: str,
          progress: Callable[[int], None] | None) -> tuple[BackendOutput, np.ndarray, float]:
    """Run checked inputs on ``backend``: ``(raw output, decoded predictions, seconds)``."""
    check_inputs(path, net, x)
    t0 = time.perf_counter()
    out = run_backend(backend, path, net, x, progress)
    seconds = time.perf_counter() - t0
    return out, task.decode_readout(net.decode_readout(out.v_warm, out.v_end), meta["decoding"]), seconds


def deploy_arrays(model_path: str | Path, inputs: np.ndarray, labels: np.ndarray | None = None,
                  backend: str = "emu", progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run the export at ``model_path`` on raw inputs (N, C, H, W) in [0, 1]; with ``labels``, score them.

    The summary holds ``predictions`` (decoded as at training time) besides the usual keys. A plain NetX
    file has no decoding: its inputs go to :func:`deploy_raw` (integers, no labels)."""
    path = Path(model_path)
    if is_plain(path):
        if labels is not None:
            raise InputError(path, "a plain NetX file has no task to score labels with")
        return deploy_raw(path, inputs, backend=backend, progress=progress)
    net, meta, task = open_export(path)
    x = np.asarray(inputs, dtype=np.float32)
    if x.ndim == len(net.input_shape):
        x = x[None]
    y = None if labels is None else np.asarray(labels, dtype=np.float32)
    if y is not None and len(y) != len(x):
        raise InputError(path, f"{len(y)} labels for {len(x)} inputs")
    out, pred, seconds = infer(path, net, meta, task, x, backend, progress)
    metric, extra = None, {}
    if y is not None:
        split = ArraySplit(x=x, y=y, names=[f"input{i}" for i in range(len(x))], groups=np.arange(len(x)))
        metric, extra = task.score(pred, split)
    summary = summarise(task, net, meta, out, backend, path, len(x), seconds, metric, {**extra, "data": "arrays"})
    summary["predictions"] = pred
    return summary


def is_plain(model_path: str | Path) -> bool:
    """Whether ``model_path`` is a plain NetX file (without ``/loihi_hybrid`` metadata); the file is checked in
    full where it is loaded (:func:`deploy_raw`, :func:`open_export`), not read twice here."""
    return is_plain_netx(model_path)


def raw_inputs(path: Path, net: FixedNetwork, inputs: np.ndarray | str | Path, layout: str = "chw",
               bias_input: bool | None = None) -> np.ndarray:
    """Checked raw inputs as int64 ``(N, *net.input_shape[, T])`` in (C, H, W) order.

    ``inputs``: an array or a ``.npy`` file of whole numbers, ``(N, *shape)`` (the same every step) or
    ``(N, *shape, T)``; ``layout="xyc"``: each sample in Lava's (x, y, c[, t]) order, as lava-dl keeps its
    arrays. Bias inputs (a CUBA input layer) must fit the 13-bit bias register; messages 24 bits."""
    if isinstance(inputs, (str, Path)):
        src = Path(inputs)
        if not src.is_file():
            raise InputError(src, "inputs file not found")
        try:
            inputs = np.load(src, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise InputError(src, f"not a readable .npy array: {' '.join(str(err).split())[:120]}") from None
    x = np.asarray(inputs)
    if layout not in ("chw", "xyc"):
        raise InputError(None, f"input layout {layout!r}: choose chw or xyc")
    shape = tuple(net.input_shape)
    if layout == "xyc" and len(shape) == 3 and x.ndim in (4, 5):
        x = np.moveaxis(x, (1, 2, 3), (3, 2, 1))
    if x.ndim not in (len(shape) + 1, len(shape) + 2) or tuple(x.shape[1:len(shape) + 1]) != shape:
        want = "x, y, c" if layout == "xyc" else "C, H, W"
        raise InputError(path, f"expects inputs of shape (N, {', '.join(map(str, shape if layout == 'chw' else shape[::-1]))}"
                               f"[, T]) ({want} order), got {tuple(np.asarray(inputs).shape)}")
    if x.dtype.kind not in "biuf" or (x.dtype.kind == "f" and not (np.isfinite(x).all() and (x == np.round(x)).all())):
        raise InputError(path, "raw inputs of a plain NetX file must be whole numbers (bias mantissas or messages)")
    bias = net.bias_input if bias_input is None else bias_input
    lo, hi = (-4096, 4095) if bias else (-(1 << 23), (1 << 23) - 1)
    if x.size and (x.min() < lo or x.max() > hi):
        raise InputError(path, f"raw inputs in [{x.min():g}, {x.max():g}], outside the "
                               f"{'13-bit bias' if bias else '24-bit message'} range [{lo}, {hi}]")
    return x.astype(np.int64)


def deploy_raw(model_path: str | Path, inputs: np.ndarray | str | Path, backend: str = "emu", steps: int | None = None,
               layout: str = "chw", bias_input: bool | None = None, save: str | Path | None = None,
               progress: Callable[[int], None] | None = None, **netx_args: Any) -> dict[str, Any]:
    """Run raw integer inputs through a NetX file (any: plain lava-dl files too) on ``backend``.

    ``inputs`` (see :func:`raw_inputs`) enter the first layer as input messages or, for a CUBA ``input``
    layer (``bias_input``, default), as its bias mantissas, as lava-dl's examples feed them. Each sample
    runs ``steps`` steps (default: the inputs' time axis, else the file's ``simulation/tSample``) from
    zero state. ``netx_args``: ``netx.hdf5.Network``'s ``num_layers``, ``skip_layers``, ``spike_exp``,
    ``input_message_bits``, ``sparse_fc_layer``. ``save``: an ``.npz`` with every layer's messages
    ``spikes_<i>`` (N, *shape, T), ``counts`` (N, L) and the last layer's state at the end (``v_end``).
    Returns the summary (task None) with ``extra.layer_names``."""
    get_backend(backend)
    path = Path(model_path)
    if save is not None:
        check_writable(save)
    net, meta = read_netx(path, **{k: v for k, v in netx_args.items() if k in NETX_READ_ARGS})
    q = raw_inputs(path, net, inputs, layout, bias_input)
    timed = q.ndim == len(net.input_shape) + 2
    T = steps or (q.shape[-1] if timed else net.steps)
    if not T or T < 1 or (timed and q.shape[-1] != T):
        raise InputError(path, "give the steps per sample (--steps T): the inputs have no time axis and the file "
                               "no simulation/tSample" if not T else f"the inputs have {q.shape[-1]} steps, not {T}")
    net.steps, net.warmup = int(T), 0
    t0 = time.perf_counter()
    backend_obj = get_backend(backend)
    reason = backend_obj.unavailable_reason()
    if reason:
        raise InputError(None, f"--backend {backend}: {reason}")
    out = backend_obj.run_raw(path, net, q, int(T), net.bias_input if bias_input is None else bias_input,
                              save is not None, netx_args, progress)
    seconds = time.perf_counter() - t0
    summary = summarise(None, net, meta, out, backend, path, len(q), seconds, None,
                        {"data": "arrays", "layer_names": [ly.name for ly in net.layers],
                         "input": "bias" if (net.bias_input if bias_input is None else bias_input) else "messages"})
    if save is not None:
        arrays = {f"spikes_{i}": s for i, s in enumerate(out.spikes or [])}
        arrays.update(counts=out.counts, v_end=out.v_end)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)
        atomic_write(Path(save), write)
        summary["extra"]["saved"] = str(save)
    return summary


def write_plots(folder: Path, summary: dict[str, Any], raster: dict[str, np.ndarray], task: Task,
                part: ArraySplit, pred: np.ndarray, meta: dict[str, Any]) -> list[str]:
    tag = f"{meta['task']}_{summary['backend']}"
    files = [plot_layer_rates(summary["layers"][:-1], folder / f"{tag}_layer_rates.png",
                              title=f"{meta['task']} on {summary['backend']}: firing rate per layer",
                              mean_hz=summary["mean_firing_rate_hz"])]
    if raster:
        files.append(plot_raster(raster, folder / f"{tag}_raster.png", dt_ms=meta["dt_s"] * 1e3,
                                 title="spikes of the most active neurons per layer, first sample"))
    figure = task.plot_predictions(part, pred, folder / tag, summary["backend"])
    if figure is not None:
        files.append(figure)
    return [str(f) for f in files]
