"""Checkpoints: atomic (a crash or Ctrl-C during a save never leaves a broken file behind), loaded with
``weights_only=True`` (a checkpoint holds tensors and plain values, never code), and self-describing:
a model checkpoint carries its network name and config, so :func:`load_model` rebuilds it from the file
alone.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig, config_from_dict
from ..errors import InputError
from ..models import SpikingNetwork
from ..tasks import make_task

FORMAT = "loihi-hybrid-model"
FORMAT_VERSION = 1


def atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


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


def save_model(path: Path, model: SpikingNetwork, cfg: RunConfig, stage: str, in_channels: int) -> None:
    """The weights of one stage with what rebuilds the model: network name, config, input channels."""
    atomic_save({"format": FORMAT, "format_version": FORMAT_VERSION, "network": cfg.task, "stage": stage,
                 "in_channels": int(in_channels), "config": cfg.to_dict(), "state_dict": model.state_dict()}, path)


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
