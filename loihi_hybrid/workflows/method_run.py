"""Train with one method, in this (fresh) process, and print one JSON line.

``python -m loihi_hybrid.workflows.method_run RUN_DIR --method hybrid|bptt|bootstrap --epochs N [--data DIR]``:
``hybrid`` and ``bptt`` fine-tune the run's converted SNN with the same data, T, learning rate, batches and
epochs; ``bootstrap`` trains lava-dl's co-training from scratch on the same network shape, data, T and loss,
for the run's ANN epochs plus N, at the ANN learning rate. Reports the test metric, firing rate, wall time
of the training and the process's peak resident memory.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from ..models import Mode
from ..training.loop import evaluate, train_stage
from ..tasks import make_task
from .bench import peak_rss_mb
from .runs import load_run


def finetune_converted(run: Path, method: str, epochs: int, data_dir: str | None,
                       max_batches: int | None = None) -> dict:
    converted = load_run(run, "converted")
    cfg, task, model = converted.cfg, converted.task, converted.model
    torch.manual_seed(cfg.seed)
    data = task.load_data(data_dir)
    t = cfg.train
    mode = Mode.HYBRID if method == "hybrid" else Mode.BPTT
    with tempfile.TemporaryDirectory() as tmp:
        res = train_stage(model, task, data.train, data.val, mode=mode, eval_mode=Mode.SNN, epochs=epochs,
                          lr=t.lr_hybrid, steps=cfg.steps, batch_size=t.batch_size,
                          rate_target=t.rate_target_hz * cfg.dt_s, rate_weight=t.rate_reg_weight, patience=None,
                          augment=cfg.data.augment, seed=cfg.seed + 1, ckpt_path=Path(tmp) / "m.pt",
                          max_batches=max_batches if max_batches is not None else t.max_train_batches,
                          dt_s=cfg.dt_s, desc=method)
    ev = evaluate(model, task, data.test, Mode.SNN, cfg.steps, t.batch_size, cfg.dt_s)
    return {"method": method, "epochs": res.epochs, "metric": ev.metric, "firing_rate_hz": ev.firing_rate_hz,
            "train_seconds": res.seconds, "peak_rss_mb": peak_rss_mb(),
            "steps": cfg.steps, "batch_size": t.batch_size}


def bootstrap_from_scratch(run: Path, epochs: int, data_dir: str | None, max_batches: int | None = None,
                           sample_period: int = 5, num_sample_iter: int = 4) -> dict:
    """lava-dl bootstrap on the run's config: the ANN stage's epochs plus ``epochs``, from scratch."""
    from ..training.lava_bootstrap import train_bootstrap  # noqa: PLC0415  (imports lava-dl bootstrap)

    cfg = load_run(run, "converted").cfg
    data = make_task(cfg).load_data(data_dir)
    res = train_bootstrap(cfg, data, epochs=cfg.train.epochs_ann + epochs, lr=cfg.train.lr_ann,
                          max_batches=max_batches, sample_period=sample_period,
                          num_sample_iter=num_sample_iter, log=lambda m: print(m, file=sys.stderr))
    return {**res, "peak_rss_mb": peak_rss_mb(), "steps": cfg.steps, "batch_size": cfg.train.batch_size}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--method", required=True, choices=["hybrid", "bptt", "bootstrap"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-batches", type=int)
    p.add_argument("--data")
    a = p.parse_args()
    if a.method == "bootstrap":
        print(json.dumps(bootstrap_from_scratch(Path(a.run), a.epochs, a.data, a.max_batches)))
    else:
        print(json.dumps(finetune_converted(Path(a.run), a.method, a.epochs, a.data, a.max_batches)))


if __name__ == "__main__":
    main()
