"""``bench.py [--quick] [--json OUT]``: speed and memory ratios, measured side by side in one run."""
from __future__ import annotations

import argparse
import sys

from ..fsio import atomic_write_json, check_writable
from .common import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.py", description=__doc__)
    p.add_argument("--quick", action="store_true", help="smaller batch and fewer repeats (under 5 min on 2 cores)")
    p.add_argument("--json", help="write the figures to this file")
    p.add_argument("--model", help="export for the Lava timings (default netx_exports/locnet_hybrid.net)")
    p.add_argument("--data", help="Caltech data folder for the Lava timings (default: random images)")
    a = p.parse_args(argv)

    def body() -> int:
        from ..workflows.bench import format_result, run_suite

        if a.json:  # before the minutes of measuring
            check_writable(a.json)
        r = run_suite(quick=a.quick, export=a.model, data=a.data)
        print(format_result(r))
        if a.json:
            atomic_write_json(a.json, r)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
