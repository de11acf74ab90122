"""Shared CLI plumbing: one clear line and exit code 2 for bad input, 130 for Ctrl-C."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Callable, NoReturn

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


def exit_process(code: int) -> NoReturn:
    """End a script with ``code``. A torchrun worker leaves without interpreter finalization, as
    multiprocessing's children do: in torch 2.13, DDP keeps the gloo group's worker threads alive past
    ``destroy_process_group``, and one that releases a Python-held tensor while the interpreter finalizes
    aborts the process (``terminate called without an active exception``, SIGABRT; about 1 run in 15 on a
    busy machine), failing a run that had finished and written everything."""
    if "TORCHELASTIC_RUN_ID" in os.environ:  # set by torchrun for its workers only
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
