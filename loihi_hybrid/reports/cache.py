"""A small JSON cache of expensive report parts, keyed by what they were computed from.

``scripts/reproduce.py`` takes tens of minutes; an interrupted or repeated report reuses every part
whose inputs (weights, config, settings) are unchanged and recomputes only the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError
from ..fsio import atomic_write_text


def fingerprint(*paths: Path) -> str:
    """Short content hash of files (weights, configs): the identity of what a result was computed from."""
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


class ResultCache:
    """``key -> JSON value`` in one file, written (atomically) after every new entry.

    A corrupt file (truncated, not JSON, not an object) is moved aside to ``<name>.corrupt`` with a
    warning, and every part is recomputed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = self._read() if self.path.is_file() else {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not an object")
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            aside = self.path.with_name(self.path.name + ".corrupt")
            try:
                os.replace(self.path, aside)
            except OSError as move_err:
                raise InputError(self.path, f"corrupt cache ({err}) and cannot be moved aside "
                                            f"({move_err.strerror}): delete it") from None
            warnings.warn(f"{self.path}: corrupt cache ({err}); moved aside to {aside.name}, "
                          "its parts are recomputed", RuntimeWarning, stacklevel=3)
            return {}
        except OSError as err:
            raise InputError(self.path, f"cannot read cache ({err.strerror})") from None
        return data

    def get_or_compute(self, key: str, compute: Callable[[], Any], log: Callable[[str], None] = print) -> Any:
        if key in self.data:
            log(f"[reproduce] reusing {key.split('/')[0]}/{key.split('/')[1]} from {self.path.name}")
            return self.data[key]
        return self.put(key, compute())

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` (replacing any) and write the file."""
        self.data[key] = value
        atomic_write_text(self.path, json.dumps(self.data, indent=1, default=float))
        return value
