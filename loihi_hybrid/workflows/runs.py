"""A finished (or partly finished) ``finetune.py`` run folder, opened as one object."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig, config_from_dict
from ..errors import InputError
from ..models import SpikingNetwork
from ..tasks import Task, make_task
from ..training.checkpoint import load_model, read_record


@dataclass
class Run:
    """One stage's model of a run, with its config, task and the run's recorded results."""

    folder: Path
    stage: str
    cfg: RunConfig
    model: SpikingNetwork
    state: dict[str, Any]

    @property
    def task(self) -> Task:
        return make_task(self.cfg)

    @property
    def training_metric(self) -> float | None:
        """The stage's test metric as recorded at training time (None if not recorded)."""
        return self.state.get("rows", {}).get(self.stage, {}).get("metric")

    @property
    def summary(self) -> dict[str, Any] | None:
        f = self.folder / "summary.json"
        return _read_json(f)


def _read_json(f: Path) -> Any:
    """A JSON file of the run folder; None if it is missing or damaged."""
    try:
        return json.loads(f.read_text()) if f.is_file() else None
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def load_run(run_dir: str | Path, stage: str = "hybrid") -> Run:
    """Open the ``stage`` model (``ann``, ``converted``, ``hybrid``) of the run in ``run_dir``."""
    folder = Path(run_dir)
    cfg_file, weights = folder / "config.json", folder / f"{stage}.pt"
    if not cfg_file.is_file():
        raise InputError(cfg_file, "not a finetune.py run folder (config.json missing)")
    if not weights.is_file():
        raise InputError(weights, f"no {stage} checkpoint in this run")
    try:
        cfg = config_from_dict(json.loads(cfg_file.read_text()), str(cfg_file))
    except json.JSONDecodeError as err:
        raise InputError(cfg_file, f"invalid JSON at line {err.lineno}: {err.msg}") from None
    model, cfg, _ = load_model(weights, cfg)
    state = _read_json(folder / "state.json")
    if not isinstance(state, dict):  # missing or damaged: the stage checkpoint carries its own results row
        rec = read_record(weights)
        state = {"rows": {stage: rec[1]["row"]}} if rec and isinstance(rec[1].get("row"), dict) else {}
    return Run(folder, stage, cfg, model.eval(), state)
