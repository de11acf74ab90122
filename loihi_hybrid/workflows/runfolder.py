"""A run folder that protects itself: one writer at a time (a lock file), no run overwritten by accident,
and a record of the data a run was trained on, checked when it is resumed.

- ``run.lock`` is held with ``fcntl.flock`` while a run writes; it holds the writer's pid, host and start
  time, which a second writer is shown. The operating system releases the lock when the process ends,
  however it ends (normal exit, Ctrl-C, crash, kill).
- A folder that already holds a run (``config.json``, ``state.json``, ``run.json`` or any checkpoint) is
  only written with ``resume`` (continue it) or ``force`` (remove its files and start afresh).
- ``run.json`` records the data source (a folder, or the network's embedded default set) and a
  fingerprint of the loaded splits (sha256 over their arrays); resuming on other data is refused.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from ..data import DataSplits
from ..errors import InputError
from ..fsio import atomic_write_json, check_writable

STAGES = ("ann", "converted", "hybrid")
LOCK = "run.lock"
RECORD = "run.json"
#: files whose presence makes a folder a run folder
RUN_MARKERS = ("config.json", "state.json", RECORD, *(f"{s}.pt" for s in STAGES), *(f"{s}_last.pt" for s in STAGES))


def is_run_folder(folder: Path) -> bool:
    folder = Path(folder)
    return folder.is_dir() and any((folder / name).exists() for name in RUN_MARKERS)


def run_files(folder: Path) -> list[Path]:
    """The files a run writes into its folder (what ``force`` removes); other files are left alone."""
    folder = Path(folder)
    names = {*RUN_MARKERS, "summary.json", "training_curves.png"}
    out = [folder / n for n in names if (folder / n).is_file()]
    out += [p for p in folder.glob("*.net") if p.is_file()]
    out += [p for p in folder.glob(".*.tmp") if p.is_file()]  # leftovers of interrupted atomic writes
    out += [p for p in folder.glob("*.pt.tmp") if p.is_file()]
    return sorted(set(out))


def _holder(lock_file: Path) -> str:
    try:
        info = json.loads(lock_file.read_text())
        return f"pid {info['pid']} on {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


@contextmanager
def locked(folder: Path) -> Iterator[Path]:
    """Hold ``folder/run.lock`` for the ``with`` block; a folder locked by another writer is an
    :class:`InputError` naming the holder. The lock file stays (removing it would race with a new writer)."""
    lock_file = Path(folder) / LOCK
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise InputError(folder, f"cannot create {LOCK}: {err.strerror or err}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(folder, f"is in use by another run ({_holder(lock_file)}); wait for it to finish "
                                     f"or choose another --out") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield lock_file
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def check_out(folder: Path, resume: bool, force: bool) -> None:
    """Refuse, before any work, an output path that is a file or not writable, a ``resume`` of something
    that is not a run, and a new run over an existing one without ``force``."""
    folder = Path(folder)
    if resume and force:
        raise InputError(None, "--resume and --force exclude each other (continue the run, or start it afresh)")
    check_writable(folder, folder=True)
    if resume and not folder.is_dir():
        raise InputError(folder, "no run to resume here (folder not found); check the --out path")
    if resume and not is_run_folder(folder):
        raise InputError(folder, "not a run folder (no config.json, state.json or checkpoints): nothing to "
                                 "resume; check the --out path, or drop --resume to start a new run")
    if not resume and not force and is_run_folder(folder):
        raise InputError(folder, "already holds a run; continue it with --resume, or start afresh with --force "
                                 "(removes that run's files)")


def clear_run(folder: Path) -> list[Path]:
    """Remove the files of the run in ``folder`` (for ``force``); returns them."""
    files = run_files(folder)
    for f in files:
        f.unlink(missing_ok=True)
    return files


def resolve_device(device: str | None) -> torch.device:
    """``device`` (None: cuda if available, else cpu) as a torch device; anything unusable is an InputError."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise InputError(None, f"--device must be cpu, cuda or cuda:N, got {device!r}") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise InputError(None, f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if not torch.cuda.is_available():
        raise InputError(None, f"--device {device}: CUDA is not available on this machine")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(None, f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev



# what the run was trained on ------------------------------------------------------------------------------
def fingerprint(data: DataSplits) -> str:
    """sha256 over the shapes, dtypes and bytes of the three splits' inputs and targets."""
    h = hashlib.sha256()
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        for arr in (split.x, split.y):
            a = np.ascontiguousarray(arr)
            h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
            h.update(a.data)
    return h.hexdigest()


def describe_source(source: str, default_source: str) -> dict[str, Any]:
    """``{"source", "path"}``: ``path`` is the absolute data folder, None for the embedded default set."""
    if source == default_source or not Path(source).is_dir():
        return {"source": source, "path": None}
    return {"source": source, "path": str(Path(source).resolve())}


def data_record(data: DataSplits, default_source: str) -> dict[str, Any]:
    return {**describe_source(data.source, default_source), "fingerprint": fingerprint(data),
            "split_sizes": {"train": len(data.train), "val": len(data.val), "test": len(data.test)}}


def read_record(folder: Path) -> dict[str, Any] | None:
    """``run.json`` of ``folder`` (None if missing or unreadable)."""
    f = Path(folder) / RECORD
    try:
        rec = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and isinstance(rec.get("data"), dict) else None


def write_record(folder: Path, data: DataSplits, default_source: str, cfg: dict[str, Any]) -> dict[str, Any]:
    rec = {"data": data_record(data, default_source), "config": cfg,
           "created": time.strftime("%Y-%m-%d %H:%M:%S %z"), "host": socket.gethostname()}
    atomic_write_json(Path(folder) / RECORD, rec)
    return rec


def _trained_on(rec: dict[str, Any]) -> str:
    d = rec["data"]
    return d["path"] or f"the embedded default data set ({d['source']})"


def check_resume_source(folder: Path, data_dir: str | Path | None) -> None:
    """Before loading any data: a run trained on a folder needs ``--data``; one trained on the embedded
    default set must not get one."""
    rec = read_record(folder)
    if rec is None:
        return
    path = rec["data"].get("path")
    if path and data_dir is None:
        raise InputError(folder, f"this run was trained on {path}; pass --data {path}")
    if not path and data_dir is not None:
        raise InputError(folder, f"this run was trained on {_trained_on(rec)}; resume it without --data")


def check_resume_data(folder: Path, data: DataSplits, default_source: str, log: Any = print) -> None:
    """On resume: the data now loaded must be what the run was trained on (source and content)."""
    rec = read_record(folder)
    if rec is None:
        return
    was, now = rec["data"], describe_source(data.source, default_source)
    if bool(was.get("path")) != bool(now["path"]):
        raise InputError(folder, f"this run was trained on {_trained_on(rec)}"
                         + (f"; pass --data {was['path']}" if was.get("path") else "; resume it without --data"))
    fp = fingerprint(data)
    if fp != was.get("fingerprint"):
        where = now["path"] or now["source"]
        hint = f"pass --data {was['path']}" if was.get("path") else "resume it without --data"
        raise InputError(folder, f"the data in {where} differs from what this run was trained on (fingerprint "
                                 f"{fp[:12]}, recorded {str(was.get('fingerprint'))[:12]}); this run was trained "
                                 f"on {_trained_on(rec)}; {hint}")
    if was.get("path") and was["path"] != now["path"]:
        log(f"note: the data moved from {was['path']} to {now['path']} (same content)")
