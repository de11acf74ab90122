"""``frontier.py SOURCE... [--steps 8,16,32] [--out DIR] [--data DIR] [--limit N]``: accuracy against energy
estimates and T for run folders and ``.net`` exports, on the bit-exact emulator."""
from __future__ import annotations

import argparse
import sys

from ..errors import InputError
from .common import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="frontier.py", description=__doc__)
    p.add_argument("sources", nargs="+", help="run folders or .net exports of one network")
    p.add_argument("--steps", default="8,16,32", help="T values to run each export at (besides its own)")
    p.add_argument("--out", default="frontier", help="folder for frontier.json, frontier.md, frontier.png")
    p.add_argument("--data", help="data folder the exports were trained on (default: the embedded synthetic set)")
    p.add_argument("--limit", type=int, help="first N test images (LocNet) or volumes (CAE)")
    a = p.parse_args(argv)

    def body() -> int:
        from ..workflows.frontier import frontier, table

        try:
            steps = [int(s) for s in a.steps.split(",") if s.strip()]
        except ValueError:
            raise InputError(None, f"--steps {a.steps}: a comma-separated list of whole numbers") from None
        if not steps or min(steps) < 1:
            raise InputError(None, f"--steps {a.steps}: whole numbers >= 1")
        rows = frontier(a.sources, steps, a.out, a.data, a.limit)
        print(table(rows, rows[0]["metric_name"]))
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
