"""``parity.py FILE.net [--data DIR] [-n N] [--max-samples K] [--json FILE]``: Lava simulator = bit-exact emulator, spike for
spike in every layer, on the first N test images or volumes (each LocNet protocol); exit 1 on a mismatch."""
from __future__ import annotations

import argparse
import json

from ..errors import InputError
from .common import run_cli


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="parity.py", description=__doc__)
    p.add_argument("model", help="a NetX export of this project")
    p.add_argument("--data", help="the data folder it was trained on (default: its embedded set)")
    p.add_argument("-n", type=int, default=2, help="test images (LocNet: per protocol) or volumes (CAE)")
    p.add_argument("--max-samples", type=int, help="at most this many samples of each protocol (a CAE volume "
                                                   "is dozens of slices; the simulator takes seconds for each)")
    p.add_argument("--json", help="write the result to this file")
    a = p.parse_args(argv)

    def body() -> int:
        if a.n < 1 or (a.max_samples is not None and a.max_samples < 1):
            raise InputError(None, f"-n and --max-samples must be >= 1, got {a.n} and {a.max_samples}")
        from ..workflows.parity import parity

        r = parity(a.model, a.data, a.n, a.max_samples)
        print(json.dumps(r, indent=1))
        if a.json:
            from ..fsio import atomic_write_json

            atomic_write_json(a.json, r)
        return 0 if r["equal"] and r["readout_voltage_equal"] else 1

    return run_cli(body)

