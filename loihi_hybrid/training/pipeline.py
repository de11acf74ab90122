"""The paper's whole pipeline for one network, on the same weights throughout:
ANN (rate neurons) -> converted SNN (spiking, T steps) -> hybrid SNN (spiking forward, rate backward).

Every stage ends with a checkpoint and an entry in ``state.json``; ``resume=True`` skips finished stages
and continues an unfinished one from its last epoch.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..export.exporter import export_model
from ..data import DataSplits
from ..models import Mode
from ..reports.curves import plot_curves
from .checkpoint import atomic_save
from .conversion import conversion_alphas
from .loop import Evaluation, evaluate, train_stage
from .tasks import make_task

STAGES = ("ann", "converted", "hybrid")


@dataclass
class RunPaths:
    out: Path

    def __post_init__(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)

    def weights(self, stage: str) -> Path:
        return self.out / f"{stage}.pt"

    def epoch_ckpt(self, stage: str) -> Path:
        return self.out / f"{stage}_last.pt"

    @property
    def state(self) -> Path:
        return self.out / "state.json"


def _row(ev: Evaluation, seconds: float, epochs: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metric": ev.metric, "firing_rate_hz": ev.firing_rate_hz, "per_layer_rate_hz": ev.per_layer_rate_hz,
            "seconds": round(seconds, 2), "epochs": epochs, "extra": {**ev.extra, **(extra or {})}}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    tmp.replace(path)


def run_pipeline(cfg: RunConfig, data: DataSplits, out: Path, resume: bool = False,
                 device: str | None = None, log: Callable[[str], None] = print,
                 export: tuple[str, ...] = ("hybrid",)) -> dict[str, Any]:
    """Run (or resume) the three stages; write checkpoints, curves and ``summary.json`` into ``out``;
    export the ``export`` stages (``converted``, ``hybrid``) to NetX HDF5 as ``<task>_<stage>.net``."""
    paths = RunPaths(Path(out))
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    task = make_task(cfg)
    model = task.build(in_channels=data.train.x.shape[1]).to(dev)
    task.prepare(model, data)
    model.readout_warmup = cfg.readout_warmup
    t, T, dt = cfg.train, cfg.steps, cfg.dt_s
    rate_target = t.rate_target_hz * dt

    state: dict[str, Any] = {"rows": {}, "history": {}}
    if resume and paths.state.exists():
        state = json.loads(paths.state.read_text())
    elif not resume:
        for stale in [paths.state, *(paths.epoch_ckpt(s) for s in STAGES)]:
            stale.unlink(missing_ok=True)
    _write_json(paths.out / "config.json", cfg.to_dict())

    def done(stage: str) -> bool:
        return stage in state["rows"] and paths.weights(stage).exists()

    def finish(stage: str, row: dict[str, Any], history: list | None = None) -> None:
        atomic_save(model.state_dict(), paths.weights(stage))
        state["rows"][stage] = row
        if history is not None:
            state["history"][stage] = history
        _write_json(paths.state, state)
        paths.epoch_ckpt(stage).unlink(missing_ok=True)
        log(f"[{stage}] {task.metric_name} = {row['metric']:.4f}"
            + (f", {row['firing_rate_hz']:.1f} Hz" if row["firing_rate_hz"] is not None else "")
            + f" ({row['seconds']:.0f} s)")

    # 1. ANN with rate neurons
    if done("ann"):
        model.load_state_dict(torch.load(paths.weights("ann"), map_location=dev))
    else:
        log(f"[ann] training {t.epochs_ann} epochs with rate neurons ({cfg.neuron.kind})")
        model.set_alphas([cfg.conversion.firing_rate_scale * dt] * len(model.spiking_layers()))
        res = train_stage(model, task, data.train, data.val, mode=Mode.ANN, eval_mode=Mode.ANN,
                          epochs=t.epochs_ann, lr=t.lr_ann, steps=T, batch_size=t.batch_size,
                          rate_target=rate_target, rate_weight=t.rate_reg_weight, patience=None,
                          augment=cfg.data.augment, seed=cfg.seed, ckpt_path=paths.epoch_ckpt("ann"),
                          dt_s=dt, desc="ANN")
        t0 = time.perf_counter()
        ev = evaluate(model, task, data.test, Mode.ANN, T, t.batch_size, dt, desc="test ANN")
        finish("ann", _row(ev, res.seconds + time.perf_counter() - t0, res.epochs), res.history)

    # 2. converted SNN: same weights, spiking neurons, both conversions measured, the configured one kept
    if done("converted"):
        model.load_state_dict(torch.load(paths.weights("converted"), map_location=dev))
    else:
        t0 = time.perf_counter()
        variants: dict[str, tuple[list[float], Evaluation]] = {}
        for method in ("global", "normalised"):
            alphas = conversion_alphas(method, model, data.train, cfg.conversion, dt)
            model.set_alphas(alphas)
            variants[method] = (alphas, evaluate(model, task, data.test, Mode.SNN, T, t.batch_size, dt,
                                                 desc=f"test SNN ({method})"))
        chosen = cfg.conversion.method
        alphas, ev = variants[chosen]
        model.set_alphas(alphas)
        other = "normalised" if chosen == "global" else "global"
        extra = {"conversion": chosen, "alphas": alphas,
                 f"metric_{other}": variants[other][1].metric,
                 f"firing_rate_hz_{other}": variants[other][1].firing_rate_hz}
        finish("converted", _row(ev, time.perf_counter() - t0, 0, extra))

    # 3. hybrid fine-tuning: spiking forward, rate backward (or SLAYER BPTT for comparison)
    if not done("hybrid"):
        mode = Mode.HYBRID if t.method == "hybrid" else Mode.BPTT
        log(f"[hybrid] fine-tuning up to {t.epochs_hybrid} epochs ({mode.value}, T={T}, early stopping)")
        res = train_stage(model, task, data.train, data.val, mode=mode, eval_mode=Mode.SNN,
                          epochs=t.epochs_hybrid, lr=t.lr_hybrid, steps=T, batch_size=t.batch_size,
                          rate_target=rate_target, rate_weight=t.rate_reg_weight, patience=t.patience,
                          augment=cfg.data.augment, seed=cfg.seed + 1, ckpt_path=paths.epoch_ckpt("hybrid"),
                          max_batches=t.max_train_batches, dt_s=dt, desc="hybrid")
        t0 = time.perf_counter()
        ev = evaluate(model, task, data.test, Mode.SNN, T, t.batch_size, dt, desc="test hybrid SNN")
        finish("hybrid", _row(ev, res.seconds + time.perf_counter() - t0, res.epochs, {"method": t.method}),
               res.history)

    base_metric, base_extra = task.baseline(data)
    summary = {"task": cfg.task, "metric_name": task.metric_name, "data": data.source, "steps": T,
               **{s: state["rows"][s] for s in STAGES},
               "baseline": {"metric": base_metric, "firing_rate_hz": None, "per_layer_rate_hz": None,
                            "seconds": 0.0, "epochs": 0, "extra": base_extra}}
    summary["hybrid"]["extra"]["split_sizes"] = {"train": len(data.train), "val": len(data.val),
                                                 "test": len(data.test)}
    summary["hybrid"]["extra"]["skipped_samples"] = len(data.skipped)
    summary["exports"] = {}
    for stage in export:
        model.load_state_dict(torch.load(paths.weights(stage), map_location=dev))
        path = paths.out / f"{cfg.task}_{stage}.net"
        export_model(model, cfg, data, path, stage, training_metric=state["rows"][stage]["metric"], log=log)
        summary["exports"][stage] = str(path)
    _write_json(paths.out / "summary.json", summary)
    plot_curves(state["history"], task.metric_name, paths.out / "training_curves.png")
    return summary
