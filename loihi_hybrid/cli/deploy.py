"""``deploy.py --backend sim|loihi2|emu --model FILE.net``: run an exported network and report it."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..backends.registry import BACKENDS
from ..errors import InputError
from ..fsio import atomic_write_json, check_writable
from .common import run_cli


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="deploy.py", description=__doc__)
    p.add_argument("--backend", required=True, choices=list(BACKENDS),
                   help="; ".join(f"{name}: {b.help}" for name, b in BACKENDS.items()))
    p.add_argument("--model", required=True, help="exported network, e.g. netx_exports/locnet_hybrid.net")
    p.add_argument("--data", help="data folder in the layout the training loaders read "
                                  "(default: the network's embedded data set, if it was trained on it)")
    p.add_argument("--split", choices=["test", "all"], default="test",
                   help="test: the training run's test split; all: every sample in --data")
    p.add_argument("--protocol", help="LocNet: evaluate the test split as it is (paper) or with the photos "
                                      "placed anywhere on another photo (placed); default: as trained")
    p.add_argument("--limit", type=int, help="only the first N images (LocNet) or whole volumes (CAE)")
    p.add_argument("--json", help="write the summary to this file")
    p.add_argument("--plots", help="write firing-rate, raster and task figures into this folder")
    return p.parse_args(argv)


def _table(s: dict) -> str:
    lines = [f"{'layer':<12}{'neurons':>9}{'spikes/inf':>12}{'rate (Hz)':>11}{'SynOps/inf':>13}"]
    for r in s["layers"]:
        lines.append(f"{r['name']:<12}{r['neurons']:>9}{r['spikes']:>12.0f}{r['firing_rate_hz']:>11.1f}"
                     f"{r['synops']:>13.3g}")
    e = s["energy"]
    measured = "n/a (no hardware profiler)" if e["measured_uj_per_inference"] is None \
        else f"{e['measured_uj_per_inference']:.1f} uJ"
    lines += ["",
              f"{s['metric_name']} = {s['metric']:.4f} on {s['n_samples']} samples ({s['backend']}), "
              f"mean firing rate {s['mean_firing_rate_hz']:.1f} Hz, T = {s['steps_per_sample']}",
              f"energy per inference (estimates): Loihi {e['loihi_estimate_uj_per_inference']:.2f} uJ, "
              f"ANN {e['ann_estimate_uj_per_inference']:.2f} uJ; measured: {measured}",
              f"{s['seconds']:.1f} s, {s['seconds_per_sample']:.3f} s per sample"]
    at_export = s["extra"].get("test_metric_at_export")
    if at_export and s["extra"].get("split") == "test" and s["extra"].get("limit") is None:
        lines.append(f"at export: training-time SNN {at_export['training_snn']:.4f}, "
                     f"fixed-point emulation {at_export['fixed_point_emulation']:.4f}")
    for w in s["extra"]["fit"]["warnings"]:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)

    def body() -> int:
        from tqdm import tqdm

        from ..workflows.deploy import deploy, open_export, resolve_protocol

        if a.limit is not None and a.limit < 1:
            raise InputError(None, "--limit must be >= 1")
        if a.json:  # outputs first: a bad path must not cost the whole evaluation
            check_writable(a.json)
        if a.plots:
            check_writable(a.plots, folder=True)
        reason = BACKENDS[a.backend].unavailable_reason()  # fail before loading any data
        if reason:
            raise InputError(None, f"--backend {a.backend}: {reason}")
        _, meta, task = open_export(a.model)
        task = resolve_protocol(task, a.split, a.protocol)
        if a.data is not None and not Path(a.data).is_dir():
            raise InputError(a.data, "data folder not found")
        trained_on = meta["preprocessing"]["data_source"]
        if a.data is None and trained_on != task.default_source:
            raise InputError(a.model, f"trained on {trained_on}: pass --data DIR with that data")
        data = task.load_data(a.data)
        with tqdm(desc=f"{a.backend}", unit="sample", leave=False) as bar:
            def progress(done: int) -> None:
                bar.n = done
                bar.refresh()
            with warnings.catch_warnings():  # a plotting failure is reported once, below
                warnings.filterwarnings("ignore", "figures not written", RuntimeWarning)
                summary = deploy(a.model, data, backend=a.backend, split=a.split, limit=a.limit, plots=a.plots,
                                 progress=progress, protocol=a.protocol)
        print(_table(summary))  # printed before any file is written: a failed write loses nothing
        if a.json:
            atomic_write_json(a.json, summary)
            print(f"summary written to {a.json}")
        plots_error = summary["extra"].get("plots_error")
        if plots_error:
            raise InputError(None, f"figures not written: {plots_error}")
        return 0

    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
