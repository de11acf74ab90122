"""Export a trained stage to NetX HDF5: quantise, measure the file's metric with the bit-exact emulator,
write it with its metadata, then read it back and build it as Lava processes before reporting success."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..data import DataSplits
from ..fsio import check_writable
from .metadata import export_metadata
from ..fixedpoint import EXPONENT_RANGE, INPUT_MESSAGE_BITS, FixedNetwork, emulate, quantize, read_netx, write_netx
from ..models import Mode, SpikingNetwork
from ..tasks import make_task
from ..training.loop import evaluate
from .runs import load_run

CALIBRATION_IMAGES = 64


def export_model(model: SpikingNetwork, cfg: RunConfig, data: DataSplits, path: str | Path, stage: str,
                 training_metric: float | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Quantise ``model``, measure it on the test split, write ``path`` and verify it; returns the metadata."""
    check_writable(path)  # before quantising and measuring
    t0 = time.perf_counter()
    model = model.cpu().eval()
    task = make_task(cfg)
    fixed = quantize(model, data.train.x[:CALIBRATION_IMAGES], cfg.steps, cfg.readout_warmup,
                     exp_min=EXPONENT_RANGE)
    emu = emulate(fixed, data.test.x)
    pred = task.decode(torch.as_tensor(emu.readout, dtype=torch.float32), model).numpy()
    emu_metric, _ = task.score(pred, data.test)
    if training_metric is None:
        training_metric = evaluate(model, task, data.test, Mode.SNN, cfg.steps, cfg.train.batch_size,
                                   cfg.dt_s, desc="test SNN").metric
    meta = export_metadata(task, model, fixed, data.source, stage,
                           {"training_snn": training_metric, "fixed_point_emulation": emu_metric,
                            "n_samples": len(data.test)})
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
    from ..backends.lava.network import HybridNetwork  # noqa: PLC0415 (Lava adapter)

    HybridNetwork(net_config=str(path), input_message_bits=INPUT_MESSAGE_BITS)


def export_run(run_dir: str | Path, stage: str, out: str | Path, data_dir: str | None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Export the ``stage`` checkpoint (``converted``/``hybrid``) of the run in ``run_dir``."""
    check_writable(out)  # before loading the run and its data
    run = load_run(run_dir, stage)
    data = run.task.load_data(data_dir)
    return export_model(run.model, run.cfg, data, out, stage, training_metric=run.training_metric, log=log)
