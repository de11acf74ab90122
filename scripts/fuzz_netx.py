#!/usr/bin/env python
"""Mutation-fuzz a NetX export: ``python scripts/fuzz_netx.py --model FILE.net [--n 500] [--seed 0] [--data DIR]``.

Each mutant runs in-process through the code path of ``deploy.py --backend emu`` (``run_cli`` around
``deploy_arrays``) on the first two samples of the export's data (``--data``), or on random inputs of the
network's input shape without labels. Acceptable: exit 0 with finite output, or exit 2 with one stderr line.
Prints every failure, the counts per outcome and the time; exits 1 if any mutant failed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np


def deploy_check(model: str, data: str | None):
    """The check that ``fuzz`` runs on each mutant, with its inputs taken from the unmutated ``model``."""
    from loihi_hybrid.cli.common import run_cli
    from loihi_hybrid.workflows.deploy import deploy_arrays, open_export

    net, _, task = open_export(model)
    if data is not None:
        test = task.load_data(data).test
        x, y = test.x[:2], test.y[:2]
    else:
        x, y = np.random.default_rng(0).random((2, *net.input_shape), dtype=np.float32), None

    def check(path: Path) -> tuple[int, Any]:
        out: dict[str, Any] = {}

        def body() -> int:
            s = deploy_arrays(path, x, labels=y, backend="emu")
            out["result"] = [s["metric"], s["predictions"]] if y is not None else s["predictions"]
            return 0

        return run_cli(body), out.get("result")

    return check


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fuzz_netx.py", description=__doc__)
    p.add_argument("--model", required=True, help="a valid export, e.g. netx_exports/locnet_hybrid.net")
    p.add_argument("--n", type=int, default=500, help="number of mutants")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="data folder of the export (default: random inputs, no labels)")
    p.add_argument("--verbose", action="store_true", help="print every mutant's outcome")
    p.add_argument("--limit-s", type=int, default=20, help="time limit per mutant (a hang is a failure)")
    a = p.parse_args(argv)
    import torch

    from loihi_hybrid.fixedpoint.fuzz import fuzz

    torch.set_num_threads(1)  # two samples per run: threads only add overhead

    report = fuzz(Path(a.model), deploy_check(a.model, a.data), n=a.n, seed=a.seed, limit_s=a.limit_s)
    if a.verbose:
        for o in report.outcomes:
            print(f"{o.kind:<9}{o.seconds:6.2f} s  {o.name}  {o.detail[:160]}")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
    print(f"{len(report.outcomes)} runs of {a.model}: {counts}; {report.seconds:.1f} s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
