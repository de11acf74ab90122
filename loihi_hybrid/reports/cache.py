"""A small JSON cache of expensive report parts, keyed by what they were computed from.

``scripts/reproduce.py`` takes tens of minutes; an interrupted or repeated report reuses every part
whose inputs (weights, config, settings) are unchanged and recomputes only the rest.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable


def fingerprint(*paths: Path) -> str:
    """Short content hash of files (weights, configs): the identity of what a result was computed from."""
    h = hashlib.sha1()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.hexdigest()[:16]


class ResultCache:
    """``key -> JSON value`` in one file, written after every new entry."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def get_or_compute(self, key: str, compute: Callable[[], Any], log: Callable[[str], None] = print) -> Any:
        if key in self.data:
            log(f"[reproduce] reusing {key.split('/')[0]}/{key.split('/')[1]} from {self.path.name}")
            return self.data[key]
        return self.put(key, compute())

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` (replacing any) and write the file."""
        self.data[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=float))
        tmp.replace(self.path)
        return value
