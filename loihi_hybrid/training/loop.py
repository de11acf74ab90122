"""Batches, evaluation, and one training stage (ANN, hybrid or BPTT) with early stopping and checkpoints."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import ArraySplit
from ..errors import InputError
from ..metrics import RateMeter
from ..models import Mode, SpikingNetwork
from . import distributed
from .checkpoint import load_checkpoint, save_checkpoint
from .regularization import ActivityRegularizer


class RunWarning(UserWarning):
    """Something in a run folder could not be used and was redone (a truncated checkpoint, a lost state file)."""


class TrainingDiverged(InputError):
    """The loss became NaN or infinite; training stops, the last good end-of-epoch checkpoint is kept."""


@dataclass
class Evaluation:
    metric: float
    extra: dict[str, Any]
    firing_rate_hz: float | None
    per_layer_rate_hz: dict[str, float] | None
    predictions: np.ndarray = field(repr=False)


def batches(split: ArraySplit, batch_size: int, rng: np.random.Generator | None = None,
            augment: Callable | None = None, max_batches: int | None = None
            ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Mini-batches in order (``rng is None``) or shuffled, optionally augmented."""
    idx = np.arange(len(split)) if rng is None else rng.permutation(len(split))
    starts = range(0, len(idx), batch_size)
    for k, s in enumerate(starts):
        if max_batches is not None and k >= max_batches:
            return
        j = idx[s:s + batch_size]
        x, y = split.x[j], split.y[j]
        if augment is not None and rng is not None:
            x, y = augment(x, y, rng)
        yield x, y


def to_tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    """A float32 tensor on ``device`` from a numpy batch."""
    return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)


@torch.no_grad()
def evaluate(model: SpikingNetwork, task: Any, split: ArraySplit, mode: Mode, steps: int, batch_size: int,
             dt_s: float = 1e-3, desc: str | None = None) -> Evaluation:
    """Metric, secondary metrics and firing rates of ``model`` in ``mode`` on ``split``.

    Under a process group each rank runs a block of the samples; predictions and spike counts are gathered,
    so every rank returns the same evaluation."""
    model.eval()
    device = next(model.parameters()).device
    names = [layer.name for layer in model.spiking_layers()]
    meter, preds = RateMeter(names, dt_s), []
    mine = split if distributed.world() == 1 else split.subset(distributed.block(len(split)))
    n_batches = (len(mine) + batch_size - 1) // batch_size
    for x, _ in tqdm(batches(mine, batch_size), total=n_batches, desc=desc or f"eval {mode.value}",
                     leave=False, disable=None if distributed.is_main() else True):
        out = model(to_tensor(x, device), mode, steps)
        preds.append(task.predict(model, out).cpu().numpy())
        meter.add(model.layer_rates())
    pred = distributed.gather_rows(np.concatenate(preds) if preds else None)
    distributed.reduce_meter(meter)
    metric, extra = task.score(pred, split)
    spiking = mode != Mode.ANN
    if not spiking:
        extra = {**extra, "rate_function_hz": meter.network_hz()}
    return Evaluation(metric, extra, meter.network_hz() if spiking else None,
                      meter.per_layer_hz() if spiking else None, pred)


@dataclass
class StageResult:
    epochs: int
    seconds: float
    history: list[dict[str, float]]
    best_metric: float


def epoch_steps(schedule: tuple[int, ...], epoch: int, steps: int) -> int:
    """T of 0-based ``epoch`` under a curriculum ``schedule`` (one T per epoch, the last repeats; empty: ``steps``)."""
    return schedule[min(epoch, len(schedule) - 1)] if schedule else steps


def train_stage(model: SpikingNetwork, task: Any, train: ArraySplit, val: ArraySplit, *, mode: Mode,
                eval_mode: Mode, epochs: int, lr: float, steps: int, batch_size: int, rate_target: float,
                rate_weight: float, patience: int | None, augment: bool, seed: int,
                ckpt_path: Path, max_batches: int | None = None, dt_s: float = 1e-3,
                desc: str = "train", stage: str | None = None, regularizer: ActivityRegularizer | None = None,
                steps_schedule: tuple[int, ...] = ()) -> StageResult:
    """Train ``model`` in ``mode``, validate in ``eval_mode`` after each epoch, keep the best weights.

    The activity term is ``regularizer`` (default: ``rate_weight`` x the two-sided rate penalty toward
    ``rate_target``). ``steps_schedule``: T of each epoch (:func:`epoch_steps`); validation runs at ``steps``.

    ``patience`` enables early stopping on the validation metric (higher is better). Every epoch ends
    with a checkpoint at ``ckpt_path``; if it exists, training resumes from it. A checkpoint that cannot be
    used (truncated, corrupt, or from another network) gives a :class:`RunWarning` naming the file, and the
    stage starts again from its first epoch. A NaN or infinite loss raises :class:`TrainingDiverged`
    (one line naming the stage and epoch) before the optimiser step, so the checkpoint of the last
    finished epoch stays as it was.
    """
    stage = stage or desc
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    fresh = {"epoch": 0, "history": [], "best_metric": -np.inf, "best_state": None, "bad_epochs": 0,
             "seconds": 0.0, "rng": np.random.default_rng(seed).bit_generator.state}
    state = fresh
    if ckpt_path.exists():
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        try:
            state = load_checkpoint(ckpt_path, model, opt)
            if not (isinstance(state, dict) and {"epoch", "history", "best_metric", "best_state",
                                                  "bad_epochs", "seconds", "rng"} <= set(state)):
                raise InputError(ckpt_path, "not an end-of-epoch checkpoint")
        except (InputError, RuntimeError, ValueError, KeyError, TypeError) as err:
            model.load_state_dict(start)  # a failed load may have copied part of the weights
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            state = fresh
            why = err.message if isinstance(err, InputError) else (str(err).splitlines() or [type(err).__name__])[0]
            warnings.warn(f"{ckpt_path}: cannot resume from this checkpoint ({why}); "
                          f"the {stage} stage starts again from its first epoch", RunWarning, stacklevel=2)
    distributed.check_same(state["epoch"], f"the epoch the {stage} stage resumes from ({ckpt_path})")
    distributed.check_batch(batch_size)
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    device = next(model.parameters()).device
    net = distributed.wrap(model)  # DDP under a process group: every rank draws the same global batch
    quiet = None if distributed.is_main() else True
    aug = task.augment if augment else None
    n_batches = (len(train) + batch_size - 1) // batch_size
    if max_batches is not None:
        n_batches = min(n_batches, max_batches)

    reg = regularizer if regularizer is not None else ActivityRegularizer(rate_weight, rate_target)
    bar = tqdm(total=epochs, initial=state["epoch"], desc=desc, disable=quiet)
    while state["epoch"] < epochs:
        if patience is not None and state["bad_epochs"] >= patience:
            break
        t0 = time.perf_counter()
        model.train()
        losses = []
        inner = tqdm(batches(train, batch_size, rng, aug, max_batches), total=n_batches, leave=False,
                     desc=f"epoch {state['epoch'] + 1}", disable=quiet)
        for k, (x, y) in enumerate(inner):
            x, y, weight = distributed.share(x, y)  # this rank's part of the global batch
            out = net(to_tensor(x, device), mode, epoch_steps(steps_schedule, state["epoch"], steps))
            loss = task.loss(model, out, to_tensor(y, device))
            if reg.active:
                loss = loss + reg(model.layer_rates())
            total = distributed.global_loss(loss.detach(), weight)
            if not np.isfinite(total):
                inner.close()
                bar.close()
                kept = (f"the checkpoint of epoch {state['epoch']} is kept in {ckpt_path}" if state["epoch"]
                        else "no epoch of this stage finished")
                raise TrainingDiverged(None, f"the {stage} stage diverged: loss is {total} in "
                                             f"epoch {state['epoch'] + 1} (batch {k + 1}); {kept}; lower the "
                                             f"learning rate and start again")
            opt.zero_grad(set_to_none=True)
            (loss * weight).backward()
            opt.step()
            losses.append(total)
            inner.set_postfix(loss=f"{losses[-1]:.4f}")
        ev = evaluate(model, task, val, eval_mode, steps, batch_size, dt_s, desc="validate")
        rate_hz = ev.firing_rate_hz if ev.firing_rate_hz is not None else ev.extra.get("rate_function_hz")
        state["history"].append({"epoch": state["epoch"] + 1, "train_loss": float(np.mean(losses)),
                                 "val_metric": ev.metric, "val_rate_hz": rate_hz})
        if ev.metric > state["best_metric"]:
            state["best_metric"], state["bad_epochs"] = ev.metric, 0
            state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            state["bad_epochs"] += 1
        state["epoch"] += 1
        state["seconds"] += time.perf_counter() - t0
        state["rng"] = rng.bit_generator.state
        if distributed.is_main():
            save_checkpoint(ckpt_path, model, opt, state)
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(losses):.4f}", val=f"{ev.metric:.4f}")
    bar.close()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    return StageResult(state["epoch"], state["seconds"], state["history"], float(state["best_metric"]))
