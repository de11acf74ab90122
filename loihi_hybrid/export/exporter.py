"""Export a trained stage of a run (``ann``-trained weights after conversion or hybrid fine-tuning) to NetX HDF5.

The file carries everything a deployment needs: the integer network, the preprocessing, T and the
readout window, the decoding, the training config, the metric on the test split at export (training-time
SNN and the bit-exact emulation of the file), and the versions of lava-nc, lava-dl and loihi-hybrid.
Before reporting success the exporter reads the file back, compares it with what was written, and
builds it as Lava processes.
"""
from __future__ import annotations

import json
import time
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig, config_from_dict
from ..data import DataSplits
from ..errors import InputError
from ..models import Mode, SpikingNetwork
from ..training.loop import evaluate
from ..training.tasks import make_task
from .fixed_point import INPUT_MESSAGE_BITS, FixedNetwork, quantize
from .netx_hdf5 import read_netx, write_netx

#: graded input needs finer first-layer weights than 8 bits at the neuron's scale (see fixed_point)
EXPONENT_RANGE = (-8, 0)
CALIBRATION_IMAGES = 64


def _version(pkg: str) -> str | None:
    try:
        return importlib_metadata.version(pkg)
    except importlib_metadata.PackageNotFoundError:
        return None


def preprocessing(cfg: RunConfig, source: str) -> dict[str, Any]:
    h, w = cfg.data.input_size
    common = {"input_size_hw": [h, w], "data_source": source, "split_seed": cfg.seed,
              "test_frac": cfg.data.test_frac, "val_frac": cfg.data.val_frac,
              "encoding": f"pixel values in [0, 1] x 255, rounded: {INPUT_MESSAGE_BITS}-bit graded spikes to "
                          "the first layer, the same frame every step"}
    if cfg.task == "locnet":
        return {**common, "image": "RGB (grey images repeated), resized to HxW, divided by 255",
                "loader": "loihi_hybrid.data.caltech.load_caltech"}
    return {**common, "image": "per-volume clip to the 1st..99th percentile of nonzero voxels, scaled to "
                               "[0, 1]; 2-D slices centre-cropped / zero-padded to HxW",
            "slice_axis": cfg.data.slice_axis, "loader": "loihi_hybrid.data.hippocampus.load_hippocampus"}


def decoding(model: SpikingNetwork, cfg: RunConfig, fixed: FixedNetwork) -> dict[str, Any]:
    n = fixed.steps - fixed.warmup
    base = {"readout_layer": fixed.readout.name, "window_steps": [fixed.warmup, fixed.steps], "scale": fixed.readout.scale,
            "formula": f"y = (v[T-1] - v[warmup-1]) / (4096 * scale * {n}), v = readout voltage (chip units)",
            "lava_lag_steps": len(fixed.layers) + 1,
            "lava_lag_note": "in a Lava run, layer i integrates frame f of sample k at step kT + f + 3 + i (1-based)"}
    if cfg.task == "locnet":
        return {**base, "output": "box [x0, y0, x1, y1] / image size = y * target_std + target_mean",
                "target_mean": model.target_mean.tolist(), "target_std": model.target_std.tolist()}
    return {**base, "output": "hippocampus probability = sigmoid(y); mask = probability > 0.5"}


def export_model(model: SpikingNetwork, cfg: RunConfig, data: DataSplits, path: str | Path, stage: str,
                 training_metric: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Quantise ``model``, measure it on the test split, write ``path`` and verify it; returns the metadata."""
    t0 = time.perf_counter()
    model = model.cpu().eval()
    task = make_task(cfg)
    fixed = quantize(model, data.train.x[:CALIBRATION_IMAGES], cfg.steps, cfg.readout_warmup,
                     exp_min=EXPONENT_RANGE)
    from ..deploy.emulator import emulate  # noqa: PLC0415 (deploy depends on export, not the reverse)

    emu = emulate(fixed, data.test.x)
    pred = task.predict(model, torch.as_tensor(emu.readout, dtype=torch.float32)).numpy()
    emu_metric, _ = task.score(pred, data.test)
    if training_metric is None:
        training_metric = evaluate(model, task, data.test, Mode.SNN, cfg.steps, cfg.train.batch_size,
                                   cfg.dt_s, desc="test SNN").metric
    meta = {"task": cfg.task, "stage": stage, "metric_name": task.metric_name,
            "input_shape_chw": list(fixed.input_shape), "input_message_bits": INPUT_MESSAGE_BITS,
            "dt_s": cfg.dt_s, "preprocessing": preprocessing(cfg, data.source),
            "decoding": decoding(model, cfg, fixed),
            "test_metric_at_export": {"training_snn": training_metric, "fixed_point_emulation": emu_metric,
                                      "n_samples": len(data.test)},
            "config": cfg.to_dict(),
            "versions": {"lava-nc": _version("lava-nc"), "lava-dl": _version("lava-dl"),
                         "loihi-hybrid": _version("loihi-hybrid")},
            "netx_loadable": ("HybridNetwork only: " + ", ".join(sorted({ly.name for ly in fixed.layers
                                                                           if ly.op == "convT" or ly.weight_exp})))
            if any(ly.op == "convT" or ly.weight_exp for ly in fixed.layers) else "plain NetX",
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_netx(fixed, path, meta)
    verify_export(path, fixed)
    log(f"[export] {stage} -> {path}: {task.metric_name} {emu_metric:.4f} (fixed-point emulation) vs "
        f"{training_metric:.4f} (training-time SNN), {time.perf_counter() - t0:.0f} s")
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
    from ..deploy.lava.network import HybridNetwork  # noqa: PLC0415 (Lava adapter)

    HybridNetwork(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS)


def export_run(run_dir: str | Path, stage: str, out: str | Path, data_dir: str | None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Export the ``stage`` checkpoint (``converted``/``hybrid``) of the run in ``run_dir``."""
    from ..data.source import load_run_data  # noqa: PLC0415

    run_dir = Path(run_dir)
    cfg_file, weights = run_dir / "config.json", run_dir / f"{stage}.pt"
    if not cfg_file.is_file():
        raise InputError(cfg_file, "not a finetune.py run folder (config.json missing)")
    if not weights.is_file():
        raise InputError(weights, f"no {stage} checkpoint in this run")
    cfg = config_from_dict(json.loads(cfg_file.read_text()), str(cfg_file))
    data = load_run_data(cfg, data_dir)
    model = make_task(cfg).build(in_channels=data.train.x.shape[1])
    try:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    except (RuntimeError, OSError) as err:
        raise InputError(weights, f"cannot load checkpoint: {str(err).splitlines()[0]}")
    model.readout_warmup = cfg.readout_warmup
    state = run_dir / "state.json"
    metric = None
    if state.is_file():
        metric = json.loads(state.read_text()).get("rows", {}).get(stage, {}).get("metric")
    return export_model(model, cfg, data, out, stage, training_metric=metric, log=log)
