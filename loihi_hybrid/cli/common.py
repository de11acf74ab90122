"""Shared CLI plumbing: one clear line and exit code 2 for bad input, 130 for Ctrl-C."""
from __future__ import annotations

import sys
import warnings
from typing import Callable

from ..errors import InputError


def _one_line(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001 (warnings' signature)
    return f"warning: {message}\n"


def run_cli(main: Callable[[], int], interrupted_hint: Callable[[], str] = lambda: "") -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.formatwarning = _one_line  # a skipped sample or a restarted stage: one line, no source echo
    try:
        return main()
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted. {interrupted_hint()}".rstrip(), file=sys.stderr)
        return 130
