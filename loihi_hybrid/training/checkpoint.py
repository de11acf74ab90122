"""Atomic checkpoints: a crash or Ctrl-C during a save never leaves a broken file behind."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "state": state}, path)


def load_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    blob = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
    model.load_state_dict(blob["model"])
    if opt is not None:
        opt.load_state_dict(blob["optimizer"])
    return blob["state"]
