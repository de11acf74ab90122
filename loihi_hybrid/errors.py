"""Errors that the command-line tools turn into one clear line and exit code 2."""
from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input: a missing/corrupt file, an inconsistent sample, a nonsense option.

    ``str(err)`` is the one line shown to the user: ``"<path>: <what is wrong>"``.
    """

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class DataError(InputError):
    """A data folder or data file that cannot be used."""
