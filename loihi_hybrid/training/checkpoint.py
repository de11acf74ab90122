"""Checkpoints: atomic (a crash or Ctrl-C during a save never leaves a broken file behind), loaded with
``weights_only=True`` (a checkpoint holds tensors and plain values, never code), and self-describing:
a model checkpoint carries its network name and config, so :func:`load_model` rebuilds it from the file
alone.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig, config_from_dict
from ..errors import InputError
from ..fsio import atomic_write
from ..models import SpikingNetwork
from ..tasks import make_task

FORMAT = "loihi-hybrid-model"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` through :func:`loihi_hybrid.fsio.atomic_write`: serialised in memory first, so a full
    disk or a read-only folder is one :class:`InputError` naming the file, and the old file stays intact."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(Path(path), lambda tmp: tmp.write_bytes(buf.getbuffer()))


def _load(path: Path, device: torch.device | str = "cpu") -> Any:
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise InputError(path, "checkpoint not found") from None
    except Exception as err:  # noqa: BLE001 (torch raises many types for truncated or foreign files)
        raise InputError(path, f"cannot load checkpoint: {str(err).splitlines()[0]}") from None


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """End-of-epoch training state (model, optimiser, loop state of plain values and tensors)."""
    atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state}, path)


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    blob = _load(path, next(model.parameters()).device)
    model.load_state_dict(blob["model"])
    if opt is not None:
        opt.load_state_dict(blob["optimizer"])
    return blob["state"]


def save_model(path: Path, model: SpikingNetwork, cfg: RunConfig, stage: str, in_channels: int,
               record: dict[str, Any] | None = None) -> None:
    """The weights of one stage with what rebuilds the model: network name, config, input channels.

    ``record`` (plain JSON values: the stage's results row and history) is kept in the file too, so that a
    run folder whose ``state.json`` is lost can recover its finished stages from their checkpoints."""
    blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "network": cfg.task, "stage": stage,
            "in_channels": int(in_channels), "config": cfg.to_dict(), "state_dict": model.state_dict()}
    if record is not None:  # through JSON: numpy scalars become floats (weights_only loading refuses them)
        blob["record"] = json.loads(json.dumps(record, default=float))
    atomic_save(blob, path)


def read_record(path: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(config dict, record)`` kept in a model checkpoint by :func:`save_model`; None if the file is
    missing, unreadable, or holds no record."""
    try:
        blob = _load(Path(path))
    except InputError:
        return None
    if not (isinstance(blob, dict) and blob.get("format") == FORMAT and isinstance(blob.get("record"), dict)):
        return None
    return blob["config"], blob["record"]


def load_model(path: Path, cfg: RunConfig | None = None, device: torch.device | str = "cpu"
               ) -> tuple[SpikingNetwork, RunConfig, str | None]:
    """``(model, config, stage)`` from a checkpoint written by :func:`save_model`.

    Plain state dicts (run folders of loihi-hybrid 0.1) need ``cfg`` from the run's ``config.json``."""
    blob = _load(Path(path), device)
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        saved = config_from_dict(blob["config"], f"{path} (config)")
        cfg, state, stage, cin = saved, blob["state_dict"], blob.get("stage"), blob.get("in_channels")
    elif cfg is not None:
        state, stage, cin = blob, None, None
    else:
        raise InputError(path, "not a loihi-hybrid model checkpoint (no network name and config in it)")
    with torch.random.fork_rng(devices=[]):  # rebuilding must not shift the caller's random stream
        model = make_task(cfg).build(cin)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as err:
        raise InputError(path, f"checkpoint does not fit the {cfg.task} network: {str(err).splitlines()[0]}")
    return model.to(device), cfg, stage
