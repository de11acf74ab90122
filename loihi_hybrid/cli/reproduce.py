"""``reproduce.py --data ../shared/data``: the reproduction report (paper tables, methods, T sweep, figures)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import InputError
from ..fsio import check_writable
from .common import run_cli


def _networks() -> tuple[str, ...]:
    from ..workflows.reproduce import reproducible_tasks  # noqa: PLC0415

    return reproducible_tasks()


def _pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in _networks():
            nets = _networks()
            raise InputError(None, f"{what} must look like {nets[0]}=VALUE (NETWORK=VALUE, NETWORK one of "
                                   f"{', '.join(nets)}), not {item!r}")
        out[key] = value
    return out


def _ints(items: list[str] | None, what: str) -> dict[str, int]:
    out = {}
    for key, value in _pairs(items, what).items():
        if not value.isdigit():
            raise InputError(None, f"{what} needs a whole number >= 0, not {value!r}")
        out[key] = int(value)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="reproduce.py", description=__doc__)
    p.add_argument("--data", required=True, help="folder holding caltech_airplanes/ and hippocampus/")
    p.add_argument("--out", help="report folder (default reports/<date>)")
    p.add_argument("--run", action="append", help="reuse a finetune.py run: locnet=DIR or cae=DIR "
                                                  "(default: train into OUT/runs/<network>)")
    p.add_argument("--sim-json", action="append", help="deploy.py --backend sim --json summary: locnet=FILE")
    p.add_argument("--tasks", help="comma-separated networks (default: every network with real data)")
    p.add_argument("--steps", default="4,8,16,32,64", help="T values of the sweep")
    p.add_argument("--method-epochs", action="append", help="fine-tuning epochs per method, e.g. cae=0 to skip")
    p.add_argument("--method-batches", action="append", help="cap on batches per method epoch, e.g. cae=20")
    p.add_argument("--bench-json", help="a scripts/bench.py --json output to include")
    p.add_argument("--readme", help="README whose generated results block is replaced (e.g. README.md)")
    a = p.parse_args(argv)
    command = "python scripts/reproduce.py " + " ".join(argv if argv is not None else sys.argv[1:])

    def body() -> int:
        from ..workflows.reproduce import reproduce

        if not Path(a.data).is_dir():
            raise InputError(a.data, "data folder not found")
        tasks = tuple(t for t in (a.tasks or ",".join(_networks())).split(",") if t)
        if not set(tasks) <= set(_networks()):
            raise InputError(None, f"--tasks: unknown network in {a.tasks!r}")
        runs = {k: Path(v) for k, v in _pairs(a.run, "--run").items()}
        for k, v in runs.items():
            if not (v / "config.json").is_file():
                raise InputError(v, f"not a finetune.py run folder for {k}")
        epochs = _ints(a.method_epochs, "--method-epochs")
        capped = {k: v or None for k, v in _ints(a.method_batches, "--method-batches").items()}
        for path in (a.bench_json, a.readme):
            if path is not None and not Path(path).is_file():
                raise InputError(path, "file not found")
        out = check_writable(a.out or f"reports/{time.strftime('%Y-%m-%d')}", folder=True)
        if a.readme is not None:
            check_writable(a.readme)
        steps = [s.strip() for s in a.steps.split(",") if s.strip()]
        if not steps or not all(s.isdigit() and int(s) > 0 for s in steps):
            raise InputError(None, f"--steps needs comma-separated whole numbers > 0, not {a.steps!r}")
        reproduce(a.data, out, runs=runs, sim_json={k: Path(v) for k, v in _pairs(a.sim_json, "--sim-json").items()},
                  tasks=tasks, steps=tuple(int(s) for s in steps), method_epochs=epochs,
                  method_batches=capped, bench_json=a.bench_json, readme=a.readme, command=command)
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
