"""Data-parallel training and sharded evaluation on ``torch.distributed``.

A process joins a group when ``torchrun`` started it (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` ... in its
environment) or when :func:`spawn` did (``deploy.py --workers N``, which sets the same variables); every
helper here is the identity in a plain single process, so callers need no second code path.

- **Training** (:func:`wrap`, :func:`share`, :func:`global_loss`): ``train.batch_size`` is the *global*
  batch. Every rank draws the same global batch from the same seeded generator (the single-process order,
  unchanged), augments it, and keeps its share (``DistributedSampler``'s interleaving, without padding);
  DDP averages the gradients, and each rank's loss is weighted by its share so that the average equals
  the gradient of the global batch's mean loss. Same config, same results as one process (float tolerance).
- **Evaluation** (:func:`block`, :func:`gather_rows`, :func:`reduce_meter`, :func:`percentile`): each rank
  takes a contiguous block of the samples; predictions are gathered in order, firing-rate counts summed,
  and conversion percentiles computed exactly over all ranks' activations.
- **Files**: rank 0 alone writes (:func:`is_main`); :func:`on_main` runs a check or a read there and hands
  its result, or its error, to every rank.
"""
from __future__ import annotations

import math
import os
import socket
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import InputError
from ..metrics import RateMeter

T = TypeVar("T")
ENV = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class FailedOnMain(InputError):
    """Raised on ranks other than 0 when rank 0 failed a check (rank 0 reports it; the others exit quietly)."""


# the group ------------------------------------------------------------------------------------------------
def active() -> bool:
    """Whether this process is one rank of an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def world() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0 (or a plain single process): the one that writes files and prints."""
    return rank() == 0


def launched() -> bool:
    """Whether the environment describes a process group (torchrun, or :func:`spawn`)."""
    return all(k in os.environ for k in ENV)


def local_device(device: torch.device) -> torch.device:
    """``device`` for this rank: under a group, CUDA means the GPU of this rank's ``LOCAL_RANK``."""
    if device.type != "cuda" or not launched():
        return device
    local = int(os.environ.get("LOCAL_RANK", 0))
    if local >= torch.cuda.device_count():
        raise InputError(None, f"local rank {local} has no GPU: this host has {torch.cuda.device_count()}; "
                               f"start at most that many processes per node")
    return torch.device("cuda", local)


def limit_threads(processes: int) -> int:
    """One share of the host's cores per process for torch and numba (oversubscribed threads spin);
    ``OMP_NUM_THREADS`` (torchrun sets 1) wins where it is set. Returns the threads per process."""
    import numba  # noqa: PLC0415 (the spiking kernels' thread pool)

    env = os.environ.get("OMP_NUM_THREADS")
    threads = int(env) if env and env.isdigit() and int(env) > 0 else max(1, (os.cpu_count() or 1) // processes)
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads


@contextmanager
def process_group(device: torch.device) -> Iterator[torch.device]:
    """Join the group that the environment describes for the ``with`` block (``nccl`` for CUDA, else
    ``gloo``) and yield this rank's device; outside torchrun/:func:`spawn`, yield ``device`` and do nothing.
    The group is left after a barrier on success, at once on an error."""
    if not launched() or active():
        yield local_device(device)
        return
    device = local_device(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    limit_threads(int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size())))
    ok = False
    try:
        yield device
        ok = True
    finally:
        if ok:
            dist.barrier()
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawned(index: int, n: int, port: int, fn: Callable[..., int], args: tuple) -> None:
    os.environ.update({"RANK": str(index), "LOCAL_RANK": str(index), "WORLD_SIZE": str(n),
                       "LOCAL_WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    code = fn(*args)
    if code:
        raise SystemExit(code)


def spawn(n: int, fn: Callable[..., int], *args: Any) -> int:
    """Run ``fn(*args)`` in ``n`` processes on this host that form one group (the environment torchrun
    would give them); returns the first non-zero exit code, else 0. ``fn`` must be importable (spawn)."""
    import torch.multiprocessing as mp  # noqa: PLC0415

    if n < 1:
        raise InputError(None, f"--workers must be >= 1, got {n}")
    try:
        mp.spawn(_spawned, args=(n, free_port(), fn, args), nprocs=n, join=True)
    except mp.ProcessExitedException as err:
        return int(err.exit_code) or 1
    except mp.ProcessRaisedException as err:
        raise RuntimeError(f"a worker failed:\n{err}") from None
    return 0


# collectives ----------------------------------------------------------------------------------------------
def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" \
        else torch.device("cpu")


def all_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sums over the ranks (float64)."""
    if not active():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return t.tolist()


def all_gather(obj: T) -> list[T]:
    """Every rank's ``obj`` (picklable), in rank order."""
    if not active():
        return [obj]
    out: list[Any] = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` (picklable) on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main(fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 only (folder checks, reads of a run folder); every rank gets its result, or
    raises its error (rank 0 the original, the others :class:`FailedOnMain`)."""
    if not active():
        return fn()
    result: Any = None
    error: tuple[str, str] | None = None
    if is_main():
        try:
            result = fn()
        except InputError as err:
            error = ("input", str(err))
            broadcast((None, error))
            raise
        except Exception as err:  # noqa: BLE001 (the others must not wait for a result that never comes)
            error = ("crash", f"{type(err).__name__}: {err}")
            broadcast((None, error))
            raise
    result, error = broadcast((result, error))
    if error is not None:
        if error[0] == "input":
            raise FailedOnMain(None, error[1])
        raise RuntimeError(f"rank 0 failed: {error[1]}")
    return result


def check_same(value: Any, what: str, hint: str = "every host must see the same run folder (put --out on a "
                                                  "shared filesystem)") -> None:
    """All ranks must hold the same ``value`` (e.g. the epoch a resume starts from); an :class:`InputError`
    naming ``what`` and ``hint`` otherwise (by default: ranks that read different files)."""
    seen = all_gather(value)
    if any(v != seen[0] for v in seen):
        shown = ", ".join(str(v)[:16] for v in seen)
        raise InputError(None, f"the ranks disagree on {what} ({shown}): {hint}")


def broadcast_state(model: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (e.g. after data-driven initialisation)."""
    if not active():
        return
    for t in [*model.parameters(), *model.buffers()]:
        dist.broadcast(t.data, src=0)


# training -------------------------------------------------------------------------------------------------
def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` under DistributedDataParallel in a group (rank 0's weights on every rank), else itself."""
    if not active():
        return model
    device = next(model.parameters()).device
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   forward_sync_buffers=False)  # buffers do not change in training


def share(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """This rank's part of a global batch (positions ``rank, rank + world, ...``, as ``DistributedSampler``
    interleaves) and the weight of its loss, ``world * n_rank / n``, so that DDP's average of the ranks'
    gradients is the gradient of the global batch's mean loss. A rank left without a sample (a short last
    batch) runs the first one at weight 0, so that every rank takes part in the gradient reduction."""
    n, w = len(x), world()
    if w == 1:
        return x, y, 1.0
    pos = np.arange(rank(), n, w)
    if len(pos) == 0:
        return x[:1], y[:1], 0.0
    return x[pos], y[pos], w * len(pos) / n


def global_loss(loss: torch.Tensor, weight: float) -> float:
    """The global batch's mean loss from each rank's ``loss`` and :func:`share` weight."""
    if not active():
        return float(loss)
    part = float(loss) * weight if weight else 0.0  # a rank at weight 0 holds no sample of this batch
    return all_sum([part])[0] / world()


def check_batch(batch_size: int) -> None:
    if batch_size < world():
        raise InputError(None, f"train.batch_size {batch_size} is the global batch and must be at least the "
                               f"number of processes ({world()})")


# evaluation -----------------------------------------------------------------------------------------------
def block(n: int) -> np.ndarray:
    """This rank's contiguous block of ``range(n)`` (sizes differ by at most one; blocks in rank order)."""
    return np.array_split(np.arange(n), world())[rank()]


def gather_rows(local: np.ndarray | None) -> np.ndarray | None:
    """The ranks' row blocks (``None``: an empty block) concatenated in rank order."""
    if not active():
        return local
    parts = [p for p in all_gather(local) if p is not None]
    return np.concatenate(parts) if parts else None


def reduce_meter(meter: RateMeter) -> RateMeter:
    """``meter`` with the spike counts and samples of every rank."""
    if active():
        k = len(meter.names)
        total = all_sum([*meter.spikes, meter.samples])
        meter.spikes, meter.samples = total[:k], int(round(total[k]))
        meter.neurons = [max(v) for v in zip(*all_gather(meter.neurons))]  # a rank may have had no sample
    return meter


def percentile(local: np.ndarray, q: float) -> float:
    """``np.percentile`` (linear) of the concatenation of every rank's ``local`` values, exactly: each rank
    sends only its share of the top values that the result can depend on (:func:`top_share`)."""
    local = np.asarray(local).ravel()
    if not active():
        return float(np.percentile(local, q))
    n = int(all_sum([local.size])[0])
    return merged_percentile(all_gather(top_share(local, n, q)), n, q)


def top_share(local: np.ndarray, n: int, q: float) -> tuple[np.ndarray, Any]:
    """``(top values, minimum)`` of one rank's ``local`` values out of ``n`` in all. ``np.percentile`` reads
    the sorted values at ``floor((n - 1) q / 100)`` and the next, which lie in the global top
    ``k = n - floor(...)``: every one of those is in its own rank's top ``k``."""
    k = min(n, n - math.floor((n - 1) * q / 100.0) + 1)  # one more than needed, against rounding
    top = np.partition(local, local.size - k)[local.size - k:] if local.size > k else local
    return top, (local.min() if local.size else None)


def merged_percentile(parts: Sequence[tuple[np.ndarray, Any]], n: int, q: float) -> float:
    """The percentile of ``n`` values from every rank's :func:`top_share`: the merged tops, filled up to
    ``n`` values with the global minimum (below every value that is read)."""
    merged = np.concatenate([p for p, _ in parts])
    low = min(m for _, m in parts if m is not None)
    return float(np.percentile(np.concatenate([np.full(n - merged.size, low, merged.dtype), merged]), q))
