"""``export.py RUN_DIR | FILE.net``: export a finetune.py checkpoint (hybrid or converted SNN), or write an existing
export again, as NetX HDF5 (default: runs in plain lava-dl NetX where it can, else plain NetX refuses it) or
as a NIR graph (``--format nir``)."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import InputError
from ..fsio import check_writable
from .common import run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="export.py", description=__doc__)
    p.add_argument("run", help="a finetune.py output folder (config.json and <stage>.pt), or a .net export")
    p.add_argument("--stage", choices=["hybrid", "converted"], default="hybrid", help="checkpoint of a run folder")
    p.add_argument("--out", help="output file (default RUN/<task>_<stage>.net or .nir; required for a .net source)")
    p.add_argument("--data", help="the data folder the run was trained on (default: the embedded data set); for "
                                  "a .net source: measures a changed network, and --check-snntorch needs it")
    p.add_argument("--format", choices=["netx", "nir"], default="netx", dest="fmt")
    p.add_argument("--keep-exponent", action="store_true",
                   help="NetX: keep the first layer's weight exponent (the file then needs HybridNetwork; plain "
                        "lava-dl NetX refuses it) instead of folding it into the input levels")
    p.add_argument("--nir-dt", type=float, default=None,
                   help="NIR: the step in seconds that the time constants are written for (default: the network's "
                        "dt_s, 1 ms; snnTorch's importer assumes 1e-4)")
    p.add_argument("--check-snntorch", action="store_true",
                   help="NIR: load the written file in snnTorch, run the test split of --data and print its metric "
                        "beside the emulator's (needs --nir-dt 1e-4)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)

    def body() -> int:
        import json

        from ..workflows.export import export_file, export_run, nir_consumer_check

        src = Path(a.run)
        if a.nir_dt is not None and not (math.isfinite(a.nir_dt) and a.nir_dt > 0):
            raise InputError(None, f"--nir-dt must be a positive number of seconds, got {a.nir_dt}")
        if (a.nir_dt is not None or a.check_snntorch) and a.fmt != "nir":
            raise InputError(None, "--nir-dt and --check-snntorch go with --format nir")
        if a.keep_exponent and a.fmt != "netx":
            raise InputError(None, "--keep-exponent goes with --format netx")
        if a.check_snntorch and (a.data is None or not src.is_file()):
            raise InputError(None, "--check-snntorch needs a .net source (the emulator's side) and --data (the "
                                   "test split to run)")
        if a.data is not None and not Path(a.data).is_dir():
            raise InputError(a.data, "data folder not found")
        ext = ".nir" if a.fmt == "nir" else ".net"
        if src.is_file():
            if a.out is None:
                raise InputError(None, "--out is required when the source is an export file")
            out = check_writable(a.out)
            export_file(src, out, a.fmt, a.data, keep_exponent=a.keep_exponent, nir_dt=a.nir_dt)
        else:
            if not (src / "config.json").is_file():
                raise InputError(src / "config.json", "not a finetune.py run folder (config.json missing) nor an "
                                                      "export file")
            try:
                task = json.loads((src / "config.json").read_text()).get("task", "net")
            except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
                raise InputError(src / "config.json", f"unreadable run config ({type(err).__name__})") from None
            out = check_writable(a.out or src / f"{task}_{a.stage}{ext}")  # before loading data or quantising
            export_run(src, a.stage, out, a.data, fmt=a.fmt, keep_exponent=a.keep_exponent, nir_dt=a.nir_dt)
        if a.check_snntorch:
            nir_consumer_check(out, src, a.data)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
