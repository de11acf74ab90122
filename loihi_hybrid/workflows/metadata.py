"""The ``/loihi_hybrid`` metadata of an exported network: everything a deployment needs beside the
integer layers: preprocessing, T and the readout window, the decoding, the training config, the
metric at export, and the versions of lava-nc, lava-dl and loihi-hybrid."""
from __future__ import annotations

import time
from importlib import metadata as importlib_metadata
from typing import Any

import torch

from ..config import RunConfig
from ..fixedpoint.format import INPUT_LEVELS, INPUT_MESSAGE_BITS, FixedNetwork
from ..fixedpoint.plain import plain_netx_issues
from ..tasks import Task


def _version(pkg: str) -> str | None:
    try:
        return importlib_metadata.version(pkg)
    except importlib_metadata.PackageNotFoundError:
        return None


def preprocessing(task: Task, cfg: RunConfig, source: str, input_levels: int = INPUT_LEVELS) -> dict[str, Any]:
    h, w = cfg.data.input_size
    return {"input_size_hw": [h, w], "data_source": source, "split_seed": cfg.seed,
            "test_frac": cfg.data.test_frac, "val_frac": cfg.data.val_frac,
            "encoding": f"pixel values in [0, 1] x {input_levels}, rounded: graded spikes ({INPUT_MESSAGE_BITS}-bit "
                        "messages) to the first layer, "
                        + ("the frame once per sample, at its first step (the first layer's current, iDecay 0, "
                           "holds it; send zeros after)" if cfg.input_once else "the same frame every step"),
            **task.preprocessing(source)}


def decoding(task: Task, model: torch.nn.Module, fixed: FixedNetwork) -> dict[str, Any]:
    n = fixed.steps - fixed.warmup
    return {"readout_layer": fixed.readout.name, "window_steps": [fixed.warmup, fixed.steps],
            "scale": fixed.readout.scale,
            "formula": f"y = (v[T-1] - v[warmup-1]) / (4096 * scale * {n}), v = readout voltage (chip units)",
            "lava_lag_steps": len(fixed.layers) + 1,
            "lava_lag_note": "in a Lava run, layer i integrates frame f of sample k at step kT + f + 3 + i (1-based)",
            **task.decoding(model)}


def netx_loadable(fixed: FixedNetwork) -> str:
    """What plain lava-dl NetX 0.6 does with the file: runs it as ``sim`` does, or refuses it and why."""
    issues = plain_netx_issues(fixed)
    if not issues:
        return (f"plain NetX: netx.hdf5.Network(file, input_message_bits={INPUT_MESSAGE_BITS}) runs it spike for "
                "spike as the sim back end")
    return f"HybridNetwork only (plain NetX refuses the file): {'; '.join(issues)}"


def export_metadata(task: Task, model: torch.nn.Module, fixed: FixedNetwork, source: str, stage: str,
                    metrics: dict[str, Any]) -> dict[str, Any]:
    """The metadata written beside ``fixed``; ``metrics`` is the test metric at export."""
    cfg = task.cfg
    return {"task": cfg.task, "stage": stage, "metric_name": task.metric_name,
            "input_shape_chw": list(fixed.input_shape), "input_message_bits": INPUT_MESSAGE_BITS,
            "dt_s": cfg.dt_s, "preprocessing": preprocessing(task, cfg, source, fixed.input_levels),
            "decoding": decoding(task, model, fixed), "test_metric_at_export": metrics,
            "config": cfg.to_dict(),
            "versions": {"lava-nc": _version("lava-nc"), "lava-dl": _version("lava-dl"),
                         "loihi-hybrid": _version("loihi-hybrid")},
            "netx_loadable": netx_loadable(fixed), "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
