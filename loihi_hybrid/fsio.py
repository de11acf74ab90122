"""Files written so that nothing is lost: every write goes to a temporary file beside the target, is
flushed to disk (fsync) and renamed over it, so a crash, Ctrl-C or full disk leaves either the old file or
the new one, never half of one. Output paths are checked before any work is done."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Callable

from .errors import InputError


def _reason(err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "disk full"
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied (read-only?)"
    return err.strerror or str(err)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    On failure the temporary file is removed, the previous ``path`` is left as it was, and an
    :class:`InputError` names the file (OS errors) or the original exception propagates."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise InputError(path, f"cannot write: {_reason(err)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """``obj`` as indented JSON (numpy scalars as floats)."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=float))


def check_writable(path: str | Path, folder: bool = False) -> Path:
    """Fail early, with one line, if ``path`` (a file, or a folder when ``folder``) cannot be written."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise InputError(path, "exists and is not a folder")
    if not folder and path.is_dir():
        raise InputError(path, "is a folder, expected a file name")
    parent = path if folder else path.parent
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(path, f"cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot write into {existing} (permission denied or read-only)")
    return path
