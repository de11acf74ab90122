"""Sharded deployment: ``deploy.py`` under ``torchrun``, or with ``--workers N`` on one host (the same
torch.distributed group, started by :func:`..training.distributed.spawn`), splits the samples into one
contiguous block per rank for the ``emu`` and ``sim`` back ends. Each rank runs its block; the readout
voltages, spike counts and predictions are gathered in sample order, so every rank holds the outputs of one
single-process run and summarises them identically (same metric, same per-layer spikes); rank 0 prints and
writes. The raster is the first sample's, which is rank 0's.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..backends.registry import BackendOutput
from ..errors import InputError
from ..fixedpoint import FixedNetwork
from ..tasks import Task
from ..training import distributed
from .deploy import check_inputs, infer

#: back ends whose samples are independent runs of one host-side network (Loihi 2 is one shared system)
SHARDABLE = ("emu", "sim")
Runner = Callable[..., tuple[BackendOutput, np.ndarray, float]]


def sharded_infer(path: Path, net: FixedNetwork, meta: dict[str, Any], task: Task, x: np.ndarray, backend: str,
                  progress: Callable[[int], None] | None) -> tuple[BackendOutput, np.ndarray, float]:
    """:func:`.deploy.infer` on this rank's block of ``x``, the blocks gathered in order on every rank:
    ``(raw output, decoded predictions, seconds until all ranks finished)``."""
    check_inputs(path, net, x)  # all samples on every rank: bad input stops all ranks alike
    t0 = time.perf_counter()
    idx = distributed.block(len(x))
    mine = infer(path, net, meta, task, x[idx], backend, progress) if len(idx) else None
    parts = [p for p in distributed.all_gather(
        None if mine is None else (mine[0].v_warm, mine[0].v_end, mine[0].counts, mine[1], mine[0].overflows))
        if p is not None]
    raster = distributed.broadcast(mine[0].raster if distributed.is_main() and mine is not None else None)
    overflows = None if any(p[4] is None for p in parts) else sum(p[4] for p in parts)
    out = BackendOutput(*(np.concatenate([p[k] for p in parts]) for k in range(3)), raster=raster or {},
                        overflows=overflows)
    return out, np.concatenate([p[3] for p in parts]), time.perf_counter() - t0


def run_sharded(backend: str, body: Callable[[], int]) -> int:
    """``body()`` as one rank of the group that torchrun or :func:`run_workers` started (gloo; in a plain
    process, as it is); inside it, :func:`runner` gives ``deploy``'s runner."""
    with distributed.process_group(torch.device("cpu")):
        if distributed.world() > 1 and backend not in SHARDABLE:
            raise InputError(None, f"--backend {backend} runs in one process: only {', '.join(SHARDABLE)} "
                                   f"split the samples across processes (drop --workers / torchrun)")
        return body()


def runner() -> Runner | None:
    """:func:`sharded_infer` under a group of several processes, else None (``deploy``'s own)."""
    return sharded_infer if distributed.world() > 1 else None


def run_workers(n: int, main: Callable[[list[str]], int], argv: list[str]) -> int:
    """``main(argv)`` in ``n`` processes of one group on this host; the exit code of the first that failed."""
    return distributed.spawn(n, main, argv)


def is_main() -> bool:
    """Whether this process prints and writes (rank 0, or a single process)."""
    return distributed.is_main()

