"""Export a trained stage to NetX HDF5 (or NIR): quantise, measure the file's metric with the bit-exact
emulator, write it with its metadata, then read it back and build it as Lava processes before reporting
success. An existing ``.net`` file can be written again in either format (:func:`export_file`).

NetX files are made for plain lava-dl NetX 0.6 too: where the only thing it cannot run is the first layer's
weight exponent, that exponent is folded into the input levels (:func:`loihi_hybrid.fixedpoint.plain.for_plain_netx`)
and the folded network is the one measured and written; otherwise (``convT``, or ``keep_exponent``) plain
NetX refuses the file (:mod:`loihi_hybrid.fixedpoint.netx`)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..data import DataSplits
from ..errors import InputError
from ..fsio import check_writable
from .metadata import export_metadata, netx_loadable, preprocessing
from ..fixedpoint import EXPONENT_RANGE, INPUT_MESSAGE_BITS, FixedNetwork, emulate, quantize, read_netx, write_netx
from ..fixedpoint.once import send_once
from ..fixedpoint.quantize import threshold_rounding
from ..fixedpoint.plain import for_plain_netx
from ..models import Mode, SpikingNetwork
from ..tasks import Task, make_task
from ..training.loop import evaluate
from .deploy import open_export, overflow_phrase, register_overflows
from .runs import load_run

CALIBRATION_IMAGES = 64
FORMATS = ("netx", "nir")


def emulated_metric(fixed: FixedNetwork, task: Task, data: DataSplits, decode: Callable[[np.ndarray], np.ndarray],
                    log: Callable[[str], None] | None = None) -> float:
    """The test-split metric of ``fixed`` on the bit-exact emulator; ``decode``: readout -> predictions.
    ``log`` is told of every layer whose registers wrapped or clipped on the test split."""
    emu = emulate(fixed, data.test.x)
    if log is not None:
        for name, counts in register_overflows(fixed, emu.overflows).items():
            log(f"[export] warning: {name}: on the test split {overflow_phrase(counts)} (the calibration images did "
                "not reach this)")
    return float(task.score(decode(emu.readout), data.test)[0])


def export_model(model: SpikingNetwork, cfg: RunConfig, data: DataSplits, path: str | Path, stage: str,
                 training_metric: float | None = None, log: Callable[[str], None] = print,
                 fmt: str = "netx", keep_exponent: bool = False, nir_dt: float | None = None) -> dict[str, Any]:
    """Quantise ``model``, measure it on the test split, write ``path`` (``fmt`` netx or nir) and verify it;
    returns the metadata. ``keep_exponent``: keep the first layer's weight exponent (finer first-layer
    weights; the file then needs ``HybridNetwork``, and plain NetX refuses it)."""
    check_writable(path)  # before quantising and measuring
    t0 = time.perf_counter()
    model = model.cpu().eval()
    task = make_task(cfg)
    calib = data.train.x[:CALIBRATION_IMAGES]
    problem = model.warmup_problem(cfg.readout_warmup)
    if problem:
        raise InputError(None, problem)
    # sigma-delta layers' scales are set by their 16-bit messages, not their weights: finer weights need exponents
    fixed = quantize(model, calib, cfg.steps, cfg.readout_warmup, exp_min=(-8,) if model.graded else EXPONENT_RANGE)
    for line in threshold_rounding(model, fixed):
        log(f"[export] warning: {line}")
    if cfg.input_once and not model.graded:  # the same spikes with the image sent once (fixedpoint/once.py)
        fixed = send_once(fixed)
    if fmt == "netx" and not keep_exponent:
        fixed = for_plain_netx(fixed, calib)
    emu_metric = emulated_metric(fixed, task, data, lambda r: task.decode(
        torch.as_tensor(r, dtype=torch.float32), model).numpy(), log=log)
    if training_metric is None:
        training_metric = evaluate(model, task, data.test, Mode.SNN, cfg.steps, cfg.train.batch_size,
                                   cfg.dt_s, desc="test SNN").metric
    meta = export_metadata(task, model, fixed, data.source, stage,
                           {"training_snn": training_metric, "fixed_point_emulation": emu_metric,
                            "n_samples": len(data.test)})
    write_format(fixed, path, meta, fmt, nir_dt)
    log(f"[export] {stage} -> {path}: {task.metric_name} {emu_metric:.4f} (fixed-point emulation) vs "
        f"{training_metric:.4f} (training-time SNN), {time.perf_counter() - t0:.0f} s")
    return meta


def write_format(fixed: FixedNetwork, path: str | Path, meta: dict[str, Any], fmt: str, nir_dt: float | None) -> None:
    """Write ``fixed`` as a verified NetX file or as a NIR graph (``nir_dt``: its step, default the metadata's dt)."""
    if fmt == "nir":
        from ..interop.nir import write_nir  # noqa: PLC0415 (optional extra)

        write_nir(fixed, path, meta, meta.get("dt_s", 1e-3) if nir_dt is None else nir_dt)
    elif fmt == "netx":
        write_netx(fixed, path, meta)
        verify_export(path, fixed)
    else:
        raise InputError(None, f"--format {fmt}: one of {', '.join(FORMATS)}")


def export_file(src: str | Path, out: str | Path, fmt: str, data_dir: str | None = None,
                keep_exponent: bool = False, nir_dt: float | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the export ``src`` (a ``.net`` file of ``export.py``) again as ``fmt``: NetX (the plain form where
    one exists, unless ``keep_exponent``) or NIR. A NetX network that changes is measured again on the test
    split of ``data_dir`` (without data its metric is recorded as not measured). Returns the metadata."""
    check_writable(out)
    if Path(src).resolve() == Path(out).resolve():
        raise InputError(out, "write to another file than the source export")
    t0 = time.perf_counter()
    fixed, meta, task = open_export(src)
    data = task.load_data(data_dir) if data_dir is not None else None
    meta = dict(meta)
    if fmt == "netx" and not keep_exponent:
        folded = for_plain_netx(fixed, None if data is None else data.train.x[:CALIBRATION_IMAGES])
        if folded is not fixed:
            fixed = folded
            metrics = dict(meta.get("test_metric_at_export") or {})
            metrics["fixed_point_emulation"] = None if data is None else emulated_metric(
                fixed, task, data, lambda r: task.decode_readout(r, meta["decoding"]))
            metrics["note"] = ("first layer's weight exponent folded into the input levels "
                               f"({fixed.input_levels}) for plain NetX" + ("" if data else "; not measured (no --data)"))
            meta["test_metric_at_export"] = metrics
            meta["preprocessing"] = {**meta["preprocessing"], "encoding": preprocessing(
                task, task.cfg, meta["preprocessing"].get("data_source", ""), fixed.input_levels)["encoding"]}
    meta["netx_loadable"] = netx_loadable(fixed)
    for key in ("steps", "warmup", "input_levels", "layer_scales", "layer_names"):
        meta.pop(key, None)  # written again from the network
    write_format(fixed, out, meta, fmt, nir_dt)
    metric = (meta.get("test_metric_at_export") or {}).get("fixed_point_emulation")
    log(f"[export] {src} -> {out} ({fmt}): {task.metric_name} "
        f"{'not measured' if metric is None else f'{metric:.4f}'} (fixed-point emulation), "
        f"{time.perf_counter() - t0:.0f} s")
    return meta


def verify_export(path: str | Path, fixed: FixedNetwork) -> None:
    """Read ``path`` back (must equal ``fixed``) and build it as Lava processes; raises on any difference."""
    back, _ = read_netx(path)
    for a, b in zip(fixed.layers, back.layers, strict=True):
        same = (a.op == b.op and np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)
                and (a.vth, a.i_decay, a.v_decay, a.weight_exp, a.stride, a.padding)
                == (b.vth, b.i_decay, b.v_decay, b.weight_exp, b.stride, b.padding))
        if not same:
            raise RuntimeError(f"{path}: layer {a.name} reads back differently")
    from ..backends.lava.network import HybridNetwork  # noqa: PLC0415 (Lava adapter)

    HybridNetwork(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS)


def export_run(run_dir: str | Path, stage: str, out: str | Path, data_dir: str | None,
               log: Callable[[str], None] = print, fmt: str = "netx", keep_exponent: bool = False,
               nir_dt: float | None = None) -> dict[str, Any]:
    """Export the ``stage`` checkpoint (``converted``/``hybrid``) of the run in ``run_dir``."""
    check_writable(out)  # before loading the run and its data
    run = load_run(run_dir, stage)
    data = run.task.load_data(data_dir)
    return export_model(run.model, run.cfg, data, out, stage, training_metric=run.training_metric, log=log,
                        fmt=fmt, keep_exponent=keep_exponent, nir_dt=nir_dt)


def nir_consumer_check(nir_path: str | Path, net_path: str | Path, data_dir: str,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
    """The test-split metric of the NIR file run in snnTorch beside the emulator's on the ``.net`` it came from."""
    from ..interop.nir_snntorch import run_snntorch  # noqa: PLC0415 (optional extra)

    fixed, meta, task = open_export(net_path)
    data = task.load_data(data_dir)
    decode = lambda r: task.decode_readout(r, meta["decoding"])  # noqa: E731
    t0 = time.perf_counter()
    consumer = float(task.score(decode(run_snntorch(nir_path, data.test.x)), data.test)[0])
    t1 = time.perf_counter()
    emu = emulated_metric(fixed, task, data, decode)
    out = {"metric_name": task.metric_name, "n_samples": len(data.test), "snntorch": consumer, "emu": emu,
           "difference": consumer - emu, "snntorch_seconds": t1 - t0}
    log(f"[nir] {nir_path} in snnTorch: {task.metric_name} {consumer:.4f} vs {emu:.4f} on the emulator "
        f"({net_path}), {len(data.test)} test samples")
    return out
