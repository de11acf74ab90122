"""``export.py RUN_DIR``: export a finetune.py checkpoint (hybrid or converted SNN) to NetX HDF5."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..fsio import check_writable
from .common import run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="export.py", description=__doc__)
    p.add_argument("run", help="a finetune.py output folder (config.json and <stage>.pt)")
    p.add_argument("--stage", choices=["hybrid", "converted"], default="hybrid")
    p.add_argument("--out", help="output file (default RUN/<task>_<stage>.net)")
    p.add_argument("--data", help="the data folder the run was trained on (default: the embedded data set)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)

    def body() -> int:
        import json

        from ..workflows.export import export_run

        run = Path(a.run)
        if not (run / "config.json").is_file():
            raise InputError(run / "config.json", "not a finetune.py run folder (config.json missing)")
        try:
            task = json.loads((run / "config.json").read_text()).get("task", "net")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError) as err:
            raise InputError(run / "config.json", f"unreadable run config ({type(err).__name__})") from None
        out = check_writable(a.out or run / f"{task}_{a.stage}.net")  # before loading data or quantising
        if a.data is not None and not Path(a.data).is_dir():
            raise InputError(a.data, "data folder not found")
        export_run(run, a.stage, out, a.data)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
