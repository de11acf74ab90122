"""The public Python API: train, open, export and deploy networks from a notebook or a script.

    import loihi_hybrid as lh
    run = lh.train("locnet", out="runs/demo")                 # ANN -> converted -> hybrid SNN
    meta = lh.export(run, "demo.net")                          # NetX HDF5, checked bit for bit
    summary = lh.deploy("demo.net", inputs=images, backend="emu")

Every function is a thin layer over ``loihi_hybrid.workflows``; the command-line tools call the same code.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .models import SpikingNetwork
from .tasks import get_task, task_names
from .training.checkpoint import load_model
from .workflows import deploy as _deploy
from .workflows.export import export_model
from .workflows.runs import Run, load_run
from .workflows.train import run_pipeline

__all__ = ["Run", "deploy", "export", "load_checkpoint", "load_run", "networks", "train"]


def networks() -> tuple[str, ...]:
    """Names of the registered networks (``train``'s first argument)."""
    return task_names()


def train(network: str, data: str | Path | None = None, out: str | Path | None = None, *,
          config: str | Path | None = None, overrides: dict[str, Any] | None = None, resume: bool = False,
          force: bool = False, device: str | None = None, export: tuple[str, ...] = ("hybrid",),
          log: Callable[[str], None] = print) -> Run:
    """Train ``network`` through its three stages on ``data`` (a folder; None: the embedded default set).

    ``overrides`` take config keys, nested as in the JSON files (``{"steps": 16, "train": {"epochs_ann": 5}}``).
    An existing run in ``out`` is continued with ``resume=True`` or replaced with ``force=True``.
    Returns the hybrid SNN's :class:`Run` (``run.model``, ``run.cfg``, ``run.summary``, ``run.folder``)."""
    task = get_task(network)
    cfg = task.config(synthetic=data is None, user_file=config, overrides=overrides)
    splits = task(cfg).load_data(data)
    folder = Path(out or f"runs/{network}-{time.strftime('%Y%m%d-%H%M%S')}")
    run_pipeline(cfg, splits, folder, resume=resume, device=device, log=log, export=export, force=force)
    return load_run(folder, "hybrid")


def load_checkpoint(path: str | Path) -> SpikingNetwork:
    """The model in a ``<stage>.pt`` checkpoint, rebuilt from the file alone (network name and config)."""
    model, _, _ = load_model(Path(path))
    return model.eval()


def export(run: Run | str | Path, path: str | Path, data: str | Path | None = None,
           stage: str | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Export a run's model (a :class:`Run`, or a run folder with ``stage``, default hybrid) to NetX HDF5 at
    ``path``; ``data`` is the folder it was trained on (None: the embedded default). Returns the metadata."""
    if not isinstance(run, Run):
        run = load_run(run, stage or "hybrid")
    splits = run.task.load_data(data)
    return export_model(run.model, run.cfg, splits, path, run.stage, training_metric=run.training_metric, log=log)


def deploy(model: str | Path | Run, data: str | Path | None = None, *, inputs: np.ndarray | None = None,
           labels: np.ndarray | None = None, backend: str = "emu", split: str = "test", limit: int | None = None,
           plots: str | Path | None = None, protocol: str | None = None) -> dict[str, Any]:
    """Run an exported network (a ``.net`` file, or a :class:`Run`, exported on the fly with ``data``) on a back end.

    With ``inputs`` (N, C, H, W) in [0, 1] it runs those arrays (scored when ``labels`` are given) and the
    summary holds the decoded ``predictions``; otherwise it evaluates the ``split`` of ``data`` (a folder
    in the training loaders' layout; None: the embedded default set) as ``deploy.py`` does; ``protocol``
    (LocNet: ``paper`` or ``placed``) is how the test split's photos are shown (None: as trained)."""
    if isinstance(model, Run):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{model.cfg.task}_{model.stage}.net"
            export(model, path, data=data, log=lambda _: None)  # calibrated and checked on ``data``
            return deploy(path, data, inputs=inputs, labels=labels, backend=backend, split=split, limit=limit,
                          plots=plots, protocol=protocol)
    if inputs is not None:
        return _deploy.deploy_arrays(model, inputs, labels, backend=backend)
    _, meta, task = _deploy.open_export(model)
    if data is None and meta["preprocessing"]["data_source"] != task.default_source:
        raise InputError(model, f"trained on {meta['preprocessing']['data_source']}: pass data=FOLDER")
    task = _deploy.resolve_protocol(task, split, protocol)
    return _deploy.deploy(model, task.load_data(data), backend=backend, split=split, limit=limit, plots=plots,
                          protocol=protocol)

