"""The paper's whole pipeline for one network, on the same weights throughout:
ANN (rate neurons) -> converted SNN (spiking, T steps) -> hybrid SNN (spiking forward, rate backward).

Every stage ends with a self-describing checkpoint (``<stage>.pt``) and an entry in ``state.json``;
``resume=True`` skips finished stages and continues an unfinished one from its last epoch.

The folder protects itself (:mod:`.runfolder`): one writer at a time (``run.lock``), an existing run is only
continued (``resume``) or replaced (``force``), and a resume must use the data the run was trained on.
A lost or corrupt ``state.json`` is rebuilt from the finished stages' checkpoints, which carry their rows.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..config import RunConfig
from ..data import DataSplits
from ..errors import InputError
from ..fsio import atomic_write_json
from ..models import Mode, SpikingNetwork
from ..plots.curves import plot_curves
from ..tasks import Task, make_task
from ..training import distributed
from ..training.checkpoint import load_model, read_record, save_model
from ..training.conversion import conversion_alphas
from ..training.loop import Evaluation, RunWarning, evaluate, train_stage
from ..training.regularization import activity_regularizer
from ..models.network import warmup_for
from ..models.layers import SpikingLayer
from . import runfolder
from .runfolder import resolve_device
from .export import export_model

STAGES = ("ann", "converted", "hybrid")
Log = Callable[[str], None]


@dataclass
class RunPaths:
    """The files of a run folder (created by rank 0, the one that writes)."""

    out: Path

    def __post_init__(self) -> None:
        if distributed.is_main():
            self.out.mkdir(parents=True, exist_ok=True)

    def weights(self, stage: str) -> Path:
        return self.out / f"{stage}.pt"

    def epoch_ckpt(self, stage: str) -> Path:
        return self.out / f"{stage}_last.pt"

    @property
    def state(self) -> Path:
        return self.out / "state.json"


def _changed_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted config keys whose values differ between ``a`` and ``b`` (nested dicts compared key by key)."""
    out = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _changed_keys(x, y, f"{prefix}{k}.")
        elif x != y:
            out.append(f"{prefix}{k}")
    return out


def _row(ev: Evaluation, seconds: float, epochs: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metric": ev.metric, "firing_rate_hz": ev.firing_rate_hz, "per_layer_rate_hz": ev.per_layer_rate_hz,
            "seconds": round(seconds, 2), "epochs": epochs, "extra": {**ev.extra, **(extra or {})}}


@dataclass
class Pipeline:
    """One run: its config, data, model and folder; each stage is a method, :meth:`run` calls them.

    Under a process group (torchrun) every rank runs every stage on the same weights; training and
    evaluation are shared out (:mod:`..training.distributed`), and rank 0 alone writes the folder."""

    cfg: RunConfig
    data: DataSplits
    paths: RunPaths
    device: torch.device
    log: Log = print
    task: Task = field(init=False)
    model: SpikingNetwork = field(init=False)
    state: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        torch.manual_seed(self.cfg.seed)
        np.random.seed(self.cfg.seed)
        self.task = make_task(self.cfg)
        self.model = self.task.build(self.in_channels).to(self.device)
        problem = self.model.warmup_problem(self.cfg.readout_warmup)
        if problem:  # found before training, not at the export
            raise InputError("config", problem)
        self.task.prepare(self.model, self.data)
        distributed.broadcast_state(self.model)  # every rank starts from rank 0's initialisation
        self.state = {"rows": {}, "history": {}}

    @property
    def in_channels(self) -> int:
        return int(self.data.train.x.shape[1])

    # bookkeeping -------------------------------------------------------------------------------------------
    def open(self, resume: bool) -> None:
        """Resuming: check the data against ``run.json`` and load ``state.json`` (rebuilt from the stage
        checkpoints if it is corrupt). Otherwise drop what a previous run in this folder left. Rank 0 does
        this; the other ranks receive the state."""
        self.state = distributed.on_main(lambda: self._open(resume))

    def _open(self, resume: bool) -> dict[str, Any]:
        default = type(self.task).default_source
        if resume:
            runfolder.check_resume_data(self.paths.out, self.data, default, self.log)
            if self.paths.state.exists():
                self.state = self._read_state()
        else:
            for stale in [self.paths.state, *(self.paths.epoch_ckpt(s) for s in STAGES)]:
                stale.unlink(missing_ok=True)
        if not resume or runfolder.read_record(self.paths.out) is None:
            runfolder.write_record(self.paths.out, self.data, default, self.cfg.to_dict())
        atomic_write_json(self.paths.out / "config.json", self.cfg.to_dict())
        return self.state

    def _read_state(self) -> dict[str, Any]:
        f = self.paths.state
        try:
            state = json.loads(f.read_text())
            if isinstance(state, dict) and isinstance(state.get("rows"), dict) \
                    and isinstance(state.get("history"), dict):
                return state
            why = "not a run state"
        except (OSError, UnicodeDecodeError, ValueError) as err:
            why = f"unreadable: {str(err).splitlines()[0]}" if str(err) else "unreadable"
        state: dict[str, Any] = {"rows": {}, "history": {}}
        recovered = []
        for stage in STAGES:  # a prefix of the stages: a later one is only kept if the earlier ones are
            rec = read_record(self.paths.weights(stage))
            if rec is None or not isinstance(rec[1].get("row"), dict):
                break
            state["rows"][stage] = rec[1]["row"]
            if rec[1].get("history") is not None:
                state["history"][stage] = rec[1]["history"]
            recovered.append(stage)
        warnings.warn(f"{f}: {why}; "
                      + (f"recovered the finished stages {', '.join(recovered)} from their checkpoints"
                         if recovered else "no finished stage could be recovered")
                      + (f"; {', '.join(s for s in STAGES if s not in recovered)} will be (re)computed"
                         if len(recovered) < len(STAGES) else ""), RunWarning, stacklevel=2)
        atomic_write_json(f, state)
        return state

    def done(self, stage: str) -> bool:
        done = stage in self.state["rows"] and self.paths.weights(stage).exists()
        distributed.check_same(done, f"whether the {stage} stage is done")
        return done

    def load_stage(self, stage: str) -> None:
        model, _, _ = load_model(self.paths.weights(stage), self.cfg, self.device)
        self.model.load_state_dict(model.state_dict())

    def finish(self, stage: str, row: dict[str, Any], history: list | None = None) -> None:
        self.state["rows"][stage] = row
        if history is not None:
            self.state["history"][stage] = history
        if not distributed.is_main():
            return
        save_model(self.paths.weights(stage), self.model, self.cfg, stage, self.in_channels,
                   record={"row": row, "history": history})
        atomic_write_json(self.paths.state, self.state)
        self.paths.epoch_ckpt(stage).unlink(missing_ok=True)
        self.log(f"[{stage}] {self.task.metric_name} = {row['metric']:.4f}"
                 + (f", {row['firing_rate_hz']:.1f} Hz" if row["firing_rate_hz"] is not None else "")
                 + f" ({row['seconds']:.0f} s)")

    def _evaluate(self, mode: Mode, desc: str, extra_tests: bool = True) -> Evaluation:
        """The test split; with ``extra_tests``, each extra test split (e.g. another protocol) as well, into
        ``extra["protocols"]``."""
        c = self.cfg
        ev = evaluate(self.model, self.task, self.data.test, mode, c.steps, c.train.batch_size, c.dt_s, desc=desc)
        others = {}
        for name, split in (self.data.extra_tests.items() if extra_tests else ()):
            o = evaluate(self.model, self.task, split, mode, c.steps, c.train.batch_size, c.dt_s, desc=f"{desc}, {name}")
            others[name] = {"metric": o.metric, **o.extra, "firing_rate_hz": o.firing_rate_hz}
        if others:
            ev.extra["protocols"] = others
        return ev

    def _train(self, stage: str, mode: Mode, eval_mode: Mode, epochs: int, lr: float, patience: int | None,
               seed: int, max_batches: int | None, desc: str):
        c, t = self.cfg, self.cfg.train
        return train_stage(self.model, self.task, self.data.train, self.data.val, mode=mode, eval_mode=eval_mode,
                           epochs=epochs, lr=lr, steps=c.steps, batch_size=t.batch_size,
                           rate_target=t.rate_target_hz * c.dt_s, rate_weight=t.rate_reg_weight, patience=patience,
                           augment=c.data.augment or c.data.placed_fraction > 0, seed=seed,
                           ckpt_path=self.paths.epoch_ckpt(stage),
                           max_batches=max_batches, dt_s=c.dt_s, desc=desc, stage=stage,
                           regularizer=activity_regularizer(c, self.model, self.data.train.x.shape[1:],
                                                            spiking=mode != Mode.ANN),
                           steps_schedule=t.hybrid_steps if stage == "hybrid" else ())

    def measure_warmup(self, n: int = 64) -> dict[str, Any]:
        """``readout_warmup_auto``: the converted SNN's per-layer latency on ``n`` training samples sets the
        readout warm-up (:func:`warmup_for`); returns what was measured, for the converted row."""
        x = torch.as_tensor(self.data.train.x[:n], dtype=torch.float32, device=self.device)
        latency = self.model.layer_latencies(x, max(64, self.cfg.steps))
        self.use_warmup(warmup_for(latency[-1], self.cfg.steps))
        return {"layer_latency_steps": latency, "readout_warmup": self.cfg.readout_warmup}

    def use_warmup(self, warmup: int | None = None) -> None:
        """Set the readout warm-up (default: the one measured at conversion, where ``readout_warmup_auto``)."""
        if warmup is None:
            measured = self.state["rows"].get("converted", {}).get("extra", {}).get("readout_warmup")
            if not self.cfg.readout_warmup_auto or measured is None:
                return
            warmup = int(measured)
        self.cfg = dataclasses.replace(self.cfg, readout_warmup=warmup)
        # the same task object: a new one would lack what ``prepare`` learned from the data (LocNet's
        # backgrounds for placed training photos)
        self.task.cfg = self.cfg
        self.model.readout_warmup = warmup
        if distributed.is_main():
            atomic_write_json(self.paths.out / "config.json", self.cfg.to_dict())

    # the three stages ---------------------------------------------------------------------------------------
    def train_ann(self) -> None:
        """1. The ANN with rate neurons (with ``init_from``: the given checkpoint's weights, evaluated)."""
        c, t = self.cfg, self.cfg.train
        self.model.set_alphas([c.conversion.firing_rate_scale * c.dt_s] * len(self.model.spiking_layers()))
        if c.init_from is not None:
            self.init_weights(Path(c.init_from))
            return
        self.log(f"[ann] training {t.epochs_ann} epochs with rate neurons ({c.neuron.kind})"
                 + ("; the SynOps term (train.synops_reg_weight) is off here, it applies to fine-tuning"
                    if t.synops_reg_weight > 0 else ""))
        res = self._train("ann", Mode.ANN, Mode.ANN, t.epochs_ann, t.lr_ann, None, c.seed, None, "ANN")
        t0 = time.perf_counter()
        ev = self._evaluate(Mode.ANN, "test ANN")
        self.finish("ann", _row(ev, res.seconds + time.perf_counter() - t0, res.epochs), res.history)

    def init_weights(self, path: Path) -> None:
        """The ANN stage of a run that starts from an earlier run's stage checkpoint (``init_from``), e.g. a
        T = 32 hybrid SNN fine-tuned again at T = 16: its weights, evaluated as the ANN (rate neurons).
        The network (layers, shapes, strides, padding) must be this run's; the rest of its config may differ."""
        t0 = time.perf_counter()
        model, theirs_cfg, stage = load_model(path, device=self.device)
        mine, theirs = self.model.state_dict(), model.state_dict()
        differ = [k for k in mine if k not in theirs or theirs[k].shape != mine[k].shape] + \
                 [k for k in theirs if k not in mine]
        if differ:
            raise InputError(path, f"init_from: its network differs from this run's (first: {differ[0]}); "
                                   f"layers and sizes must match")
        # same shapes, other strides or padding: the weights would compute another function
        for i, (g, h) in enumerate(zip(self.model.geometry(), model.geometry())):
            if g != h:
                raise InputError(path, f"init_from: its layer {i + 1} is {h[0]} stride {h[2]} padding {h[3]}, "
                                       f"this run's is {g[0]} stride {g[2]} padding {g[3]}; the layers must match")
        biased = [m.name for i, m in enumerate(self.model.layers) if isinstance(m, SpikingLayer)
                  and m.neuron.graded and float(theirs[f"layers.{i}.bias"].abs().max()) > 0]
        if biased:  # a sigma-delta layer's bias would send a transient before the image arrives (models/layers.py)
            raise InputError(path, f"init_from: its layer {biased[0]} has a bias, which sigma-delta layers "
                                   "(neuron.kind 'sd') do not: start from a sigma-delta run")
        self.model.load_state_dict(theirs)
        changed = [k for k in _changed_keys(theirs_cfg.to_dict(), self.cfg.to_dict()) if k != "init_from"]
        self.log(f"[ann] weights from {path} ({stage or 'unknown'} stage), not trained"
                 + (f"; this run changes {', '.join(changed)}" if changed else ""))
        ev = self._evaluate(Mode.ANN, "test ANN")
        self.finish("ann", _row(ev, time.perf_counter() - t0, 0, {"init_from": str(path), "init_stage": stage}), [])

    def convert(self) -> None:
        """2. The converted SNN: same weights, spiking neurons; both conversions measured, the configured one kept."""
        c = self.cfg
        t0 = time.perf_counter()
        variants: dict[str, tuple[list[float], Evaluation]] = {}
        for method in ("global", "normalised"):  # extra test splits only for the conversion that is kept
            alphas = conversion_alphas(method, self.model, self.data.train, c.conversion, c.dt_s)
            self.model.set_alphas(alphas)
            variants[method] = (alphas, self._evaluate(Mode.SNN, f"test SNN ({method})",
                                                       extra_tests=method == c.conversion.method))
        chosen = c.conversion.method
        other = "normalised" if chosen == "global" else "global"
        alphas, ev = variants[chosen]
        self.model.set_alphas(alphas)
        extra = {"conversion": chosen, "alphas": alphas, f"metric_{other}": variants[other][1].metric,
                 f"firing_rate_hz_{other}": variants[other][1].firing_rate_hz}
        if c.readout_warmup_auto:  # the window from the measured latency, then the test split again
            extra.update(self.measure_warmup())
            self.log(f"[converted] layer latency {extra['layer_latency_steps']} steps: readout_warmup "
                     f"{self.cfg.readout_warmup} of {c.steps} steps")
            ev = self._evaluate(Mode.SNN, f"test SNN ({chosen}, measured warm-up)")
        self.finish("converted", _row(ev, time.perf_counter() - t0, 0, extra))

    def finetune(self) -> None:
        """3. Hybrid fine-tuning: spiking forward, rate backward (or SLAYER BPTT for comparison)."""
        self.use_warmup()
        c, t = self.cfg, self.cfg.train
        mode = Mode.HYBRID if t.method == "hybrid" else Mode.BPTT
        self.log(f"[hybrid] fine-tuning up to {t.epochs_hybrid} epochs ({mode.value}, T={c.steps}"
                 + (f", curriculum T {list(t.hybrid_steps)}" if t.hybrid_steps else "") + ", early stopping)")
        res = self._train("hybrid", mode, Mode.SNN, t.epochs_hybrid, t.lr_hybrid, t.patience, c.seed + 1,
                          t.max_train_batches, "hybrid")
        t0 = time.perf_counter()
        ev = self._evaluate(Mode.SNN, "test hybrid SNN")
        self.finish("hybrid", _row(ev, res.seconds + time.perf_counter() - t0, res.epochs, {"method": t.method}),
                    res.history)

    # outputs ------------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        base_metric, base_extra = self.task.baseline(self.data)
        s = {"task": self.cfg.task, "metric_name": self.task.metric_name, "data": self.data.source,
             "steps": self.cfg.steps, **{st: self.state["rows"][st] for st in STAGES},
             "baseline": {"metric": base_metric, "firing_rate_hz": None, "per_layer_rate_hz": None,
                          "seconds": 0.0, "epochs": 0, "extra": base_extra}}
        d = self.data
        s["hybrid"]["extra"]["split_sizes"] = {"train": len(d.train), "val": len(d.val), "test": len(d.test)}
        s["hybrid"]["extra"]["skipped_samples"] = len(d.skipped)
        return s

    def export(self, stages: tuple[str, ...]) -> dict[str, str]:
        """Export the ``stages`` to NetX HDF5 as ``<task>_<stage>.net``; returns stage -> path."""
        self.use_warmup()
        out = {}
        for stage in stages:
            self.load_stage(stage)
            path = self.paths.out / f"{self.cfg.task}_{stage}.net"
            export_model(self.model, self.cfg, self.data, path, stage,
                         training_metric=self.state["rows"][stage]["metric"], log=self.log)
            out[stage] = str(path)
        return out

    def run(self, export: tuple[str, ...] = ("hybrid",)) -> dict[str, Any]:
        for stage, step in (("ann", self.train_ann), ("converted", self.convert), ("hybrid", self.finetune)):
            if self.done(stage):
                try:
                    self.load_stage(stage)
                    continue
                except InputError as err:  # a finished stage's checkpoint damaged since: do the stage again
                    warnings.warn(f"{err}; the {stage} stage is done again", RunWarning, stacklevel=2)
                    for later in STAGES[STAGES.index(stage):]:
                        self.state["rows"].pop(later, None)
                        self.state["history"].pop(later, None)
            step()
        summary = self.summary()
        if not distributed.is_main():  # the files are rank 0's
            return summary
        summary["exports"] = self.export(export)
        atomic_write_json(self.paths.out / "summary.json", summary)
        plot_curves(self.state["history"], self.task.metric_name, self.paths.out / "training_curves.png")
        return summary


def run_pipeline(cfg: RunConfig, data: DataSplits, out: Path, resume: bool = False,
                 device: str | None = None, log: Log = print,
                 export: tuple[str, ...] = ("hybrid",), force: bool = False) -> dict[str, Any]:
    """Run (or resume) the three stages; write checkpoints, curves and ``summary.json`` into ``out``;
    export the ``export`` stages (``converted``, ``hybrid``) to NetX HDF5 as ``<task>_<stage>.net``.

    ``out`` is locked while the run writes. An existing run in ``out`` needs ``resume`` (continue it) or
    ``force`` (remove its files, start afresh); ``resume`` needs a run there, trained on the same data.

    Under torchrun every rank calls this (and joins the group, unless the caller did): rank 0 alone checks,
    locks, writes and logs, and only its summary has ``exports``."""
    out = Path(out)
    with contextlib.ExitStack() as held:
        dev = held.enter_context(distributed.process_group(resolve_device(device)))
        log = log if distributed.is_main() else (lambda _: None)

        def claim() -> None:  # rank 0: check, create and lock the folder, check again, clear it with force
            runfolder.check_out(out, resume, force)
            out.mkdir(parents=True, exist_ok=True)
            held.enter_context(runfolder.locked(out))
            runfolder.check_out(out, resume, force)  # again, now that no other writer can change the folder
            removed = runfolder.clear_run(out) if force else []
            if removed:
                log(f"--force: removed the previous run's {len(removed)} files from {out}")
        distributed.on_main(claim)
        paths = RunPaths(out)
        if distributed.world() > 1:
            distributed.check_same(runfolder.fingerprint(data), "the data fingerprint",
                                   "every host must load the same data (same --data content)")
        pipe = Pipeline(cfg, data, paths, dev, log)
        pipe.open(resume)
        return pipe.run(export)
