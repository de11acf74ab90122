"""Work that ``tests/test_distributed.py`` runs once in the test process and once in each rank of a
2-process gloo group (``loihi_hybrid.training.distributed.spawn``): the same code either way."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from loihi_hybrid.models import Mode
from loihi_hybrid.tasks import get_task
from loihi_hybrid.training import distributed
from loihi_hybrid.training.conversion import normalised_alphas
from loihi_hybrid.training.loop import evaluate, train_stage

#: tiny synthetic networks; the global batch of 7 splits 4 + 3 over two ranks (unequal loss weights)
NETWORKS = {
    "locnet": {"steps": 4, "readout_warmup": 2, "channels": [4, 4, 4], "hidden": [8, 8, 8],
               "data": {"input_size": [16, 16], "synthetic_samples": 40}},
    "digits": {"steps": 4, "readout_warmup": 2, "channels": [4, 4], "hidden": [16]},  # with augmentation
}
BATCH, STEPS = 7, 2


def train_steps(result: str, network: str, modes: list[str]) -> int:
    """For each mode: a fresh network, ``STEPS`` optimiser steps of global batch ``BATCH``; then the
    normalised conversion scales and evaluations of the test split (all of it, and 1 sample: one rank
    without any). Rank 0 saves everything to ``result``."""
    with distributed.process_group(torch.device("cpu")):
        cls = get_task(network)
        cfg = cls.config(synthetic=True, overrides=NETWORKS[network])
        task = cls(cfg)
        data = task.load_data(None)
        folder = Path(result).parent
        out: dict = {}
        for mode in map(Mode, modes):
            torch.manual_seed(cfg.seed)
            model = task.build(int(data.train.x.shape[1]))
            task.prepare(model, data)
            distributed.broadcast_state(model)
            start = {k: v.clone() for k, v in model.state_dict().items()}
            res = train_stage(model, task, data.train, data.val, mode=mode,
                              eval_mode=Mode.ANN if mode == Mode.ANN else Mode.SNN, epochs=1,
                              lr=cfg.train.lr_ann if mode == Mode.ANN else cfg.train.lr_hybrid, steps=cfg.steps,
                              batch_size=BATCH, rate_target=cfg.train.rate_target_hz * cfg.dt_s,
                              rate_weight=cfg.train.rate_reg_weight, patience=None,
                              augment=cfg.data.augment, seed=cfg.seed, ckpt_path=folder / f"{mode.value}_last.pt",
                              max_batches=STEPS, dt_s=cfg.dt_s)
            out[mode.value] = {"start": start, "end": model.state_dict(), "history": res.history}
        out["alphas"] = normalised_alphas(model, data.train, cfg.conversion, cfg.dt_s)
        for name, split in (("test", data.test), ("one", data.test.subset(np.arange(1)))):
            ev = evaluate(model, task, split, Mode.SNN, cfg.steps, BATCH, cfg.dt_s)
            out[name] = {"metric": ev.metric, "rates": ev.per_layer_rate_hz, "pred": ev.predictions}
        if distributed.is_main():
            torch.save(out, result)
    return 0
