"""``deploy.py --backend sim|loihi2|emu --model FILE.net [--data DIR | --inputs FILE.npy]``: run a network and
report it. An export is evaluated on its data (``--data``) or run on images (``--inputs``, (N, C, H, W) in
[0, 1]); a plain NetX file (e.g. written by lava-dl) runs raw integer arrays (``--inputs``)."""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ..backends.registry import BACKENDS
from ..errors import InputError
from ..fsio import atomic_write_json, check_writable
from .common import run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="deploy.py", description=__doc__)
    p.add_argument("--backend", required=True, choices=list(BACKENDS),
                   help="; ".join(f"{name}: {b.help}" for name, b in BACKENDS.items()))
    p.add_argument("--model", required=True, help="exported network, e.g. netx_exports/locnet_hybrid.net, or a "
                                                   "plain NetX file")
    p.add_argument("--inputs", help=".npy inputs: images (N, C, H, W) in [0, 1] for an export; for a plain NetX "
                                    "file whole numbers (N, *input shape[, T]): the input layer's bias mantissas "
                                    "(CUBA input layer) or input messages")
    p.add_argument("--steps", type=int, help="plain NetX: steps per sample (default: the inputs' T, else the "
                                             "file's simulation/tSample)")
    p.add_argument("--layout", choices=["chw", "xyc"], default="chw",
                   help="plain NetX: order of each input sample, (C, H, W) or Lava's (x, y, c)")
    p.add_argument("--input-to", choices=["bias", "messages"],
                   help="plain NetX: where inputs enter a CUBA input layer (default bias, as lava-dl feeds it)")
    p.add_argument("--save", help="plain NetX: write every layer's output messages, counts and the last "
                                  "layer's final state to this .npz")
    p.add_argument("--num-layers", type=int, help="netx.hdf5.Network's num_layers: build only the first N entries")
    p.add_argument("--skip-layers", type=int, default=0, help="netx.hdf5.Network's skip_layers")
    p.add_argument("--spike-exp", type=int, default=6, help="netx.hdf5.Network's spike_exp (sigma-delta)")
    p.add_argument("--input-message-bits", type=int, help="netx.hdf5.Network's input_message_bits "
                                                          "(plain default 0: binary spikes)")
    p.add_argument("--data", help="data folder in the layout the training loaders read "
                                  "(default: the network's embedded data set, if it was trained on it)")
    p.add_argument("--split", choices=["test", "all"], default="test",
                   help="test: the training run's test split; all: every sample in --data")
    p.add_argument("--protocol", help="LocNet: evaluate the test split as it is (paper) or with the photos "
                                      "placed anywhere on another photo (placed); default: as trained")
    p.add_argument("--limit", type=int, help="only the first N images (LocNet) or whole volumes (CAE)")
    p.add_argument("--json", help="write the summary to this file")
    p.add_argument("--plots", help="write firing-rate, raster and task figures into this folder")
    p.add_argument("--workers", type=int, default=1, help="emu, sim: split the samples across N processes on "
                                                         "this host (under torchrun, across its ranks)")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def _table(s: dict) -> str:
    lines = [f"{'layer':<12}{'neurons':>9}{'spikes/inf':>12}{'rate (Hz)':>11}{'SynOps/inf':>13}"]
    for r in s["layers"]:
        lines.append(f"{r['name']:<12}{r['neurons']:>9}{r['spikes']:>12.0f}{r['firing_rate_hz']:>11.1f}"
                     f"{r['synops']:>13.3g}")
    e = s["energy"]
    measured = "n/a (no hardware profiler)" if e["measured_uj_per_inference"] is None \
        else f"{e['measured_uj_per_inference']:.1f} uJ"
    score = "no task metric" if s["metric"] is None else f"{s['metric_name']} = {s['metric']:.4f}"
    x = s["extra"]
    window = x.get("readout_window_steps")
    lines += ["",
              f"{score} on {s['n_samples']} samples ({s['backend']}), "
              f"mean firing rate {s['mean_firing_rate_hz']:.1f} Hz, T = {s['steps_per_sample']}"
              + (f", readout over steps {window[0]}-{window[1]}" if window else "")
              + (", image sent once" if x.get("input_once") else ""),
              f"energy per inference (estimates): Loihi {e['loihi_estimate_uj_per_inference']:.2f} uJ "
              f"(Loihi 1 dynamic), + {e['loihi2_static_uj_per_inference']:.2f} uJ Loihi 2 static = "
              f"{e['loihi_estimate_with_static_uj_per_inference']:.2f} uJ, "
              f"ANN {e['ann_estimate_uj_per_inference']:.2f} uJ; measured: {measured}",
              *([f"SNN / ANN energy: Loihi {x['loihi_vs_ann_energy_ratio']:.2f}x "
                 f"({x['loihi_with_static_vs_ann_energy_ratio']:.2f}x with static), paper-style "
                 f"{x['snn_horowitz_uj_per_inference']:.2f} uJ = {x['snn_vs_ann_energy_ratio_horowitz']:.2f}x"]
                if x.get("loihi_vs_ann_energy_ratio") is not None else []),
              f"{s['seconds']:.1f} s, {s['seconds_per_sample']:.3f} s per sample"]
    at_export = x.get("test_metric_at_export")
    if at_export and x.get("split") == "test" and x.get("limit") is None:
        lines.append(f"at export: training-time SNN {at_export['training_snn']:.4f}, "
                     f"fixed-point emulation {at_export['fixed_point_emulation']:.4f}")
    fit = x["fit"]["total"]
    lines.append(f"Loihi 2 fit: {fit['neurons']} neurons, {fit['synapses']} synapses, about {fit['cores']} cores")
    for w in x["fit"]["warnings"]:
        lines.append(f"warning: {w}")
    from ..workflows.deploy import overflow_phrase  # noqa: PLC0415 (workflows load on use: a fast --help)

    for name, o in (x.get("register_overflows") or {}).items():
        lines.append(f"warning: {name}: {overflow_phrase(o)}: on these inputs the chip leaves the trained network "
                     "(re-export with calibration images like them)")
    return "\n".join(lines)


def _load_npy(path: str):
    import numpy as np

    if not Path(path).is_file():
        raise InputError(path, "inputs file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"not a readable .npy array: {' '.join(str(err).split())[:120]}") from None


#: argparse destinations read only for plain NetX files, and only for runs on --data
PLAIN_ONLY = ("steps", "layout", "input_to", "save", "num_layers", "skip_layers", "spike_exp", "input_message_bits")
DATA_ONLY = ("data", "split", "protocol", "limit", "plots")


def _refuse(message: str) -> int:
    raise InputError(None, message)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    p = build_parser()
    from ..workflows import shard

    # options that only one kind of run reads: given to the other kind, they would be ignored without a word
    plain_only = [f"--{d.replace('_', '-')}" for d in PLAIN_ONLY if getattr(a, d) != p.get_default(d)]
    data_only = [f"--{d}" for d in DATA_ONLY if getattr(a, d) != p.get_default(d)]
    if a.inputs and data_only:
        return run_cli(lambda: _refuse(f"{', '.join(data_only)} select or draw data samples; with --inputs the "
                                       "samples are the array's: drop them, or drop --inputs"))
    if a.workers != 1 and a.inputs:
        return run_cli(lambda: _refuse("--workers shards the samples of --data; --inputs runs in one process"))
    if a.workers != 1:  # N processes of one torch.distributed group, each running this with --workers 1
        return run_cli(lambda: shard.run_workers(a.workers, main, [*(sys.argv[1:] if argv is None else argv),
                                                                     "--workers", "1"]))

    def body() -> int:
        from tqdm import tqdm

        from ..workflows.deploy import (deploy, deploy_arrays, deploy_raw, export_data, is_plain, open_export,
                                        resolve_protocol)

        if a.limit is not None and a.limit < 1:
            raise InputError(None, "--limit must be >= 1")
        if a.steps is not None and a.steps < 1:
            raise InputError(None, "--steps must be >= 1")
        if a.json:  # outputs first: a bad path must not cost the whole evaluation
            check_writable(a.json)
        if a.plots:
            check_writable(a.plots, folder=True)
        if a.save:
            check_writable(a.save)
        reason = BACKENDS[a.backend].unavailable_reason()  # fail before loading any data
        if reason:
            raise InputError(None, f"--backend {a.backend}: {reason}")
        plain = is_plain(a.model) if a.inputs or plain_only else False  # on --data, open_export refuses plain files
        if plain_only and not plain:
            raise InputError(a.model, f"{', '.join(plain_only)} apply to plain NetX files only; this is a "
                                      "loihi-hybrid export, which carries its own T, input encoding and layers")
        if a.inputs:  # (without --inputs, a plain NetX file is refused by open_export, pointing here)
            with tqdm(desc=f"{a.backend}", unit="sample", leave=False) as bar:
                def progress_raw(done: int) -> None:
                    bar.n = done
                    bar.refresh()
                if plain:
                    netx_args = {"num_layers": a.num_layers, "skip_layers": a.skip_layers, "spike_exp": a.spike_exp}
                    if a.input_message_bits is not None:
                        netx_args["input_message_bits"] = a.input_message_bits
                    bias = None if a.input_to is None else a.input_to == "bias"
                    summary = deploy_raw(a.model, a.inputs, backend=a.backend, steps=a.steps, layout=a.layout,
                                         bias_input=bias, save=a.save, progress=progress_raw, **netx_args)
                else:
                    summary = deploy_arrays(a.model, _load_npy(a.inputs), backend=a.backend, progress=progress_raw)
                    summary.pop("predictions")
            print(_table(summary))
            if a.json:
                atomic_write_json(a.json, summary)
                print(f"summary written to {a.json}")
            return 0
        _, meta, task = open_export(a.model)
        task = resolve_protocol(task, a.split, a.protocol)
        data = export_data(a.model, meta, task, a.data)
        with tqdm(desc=f"{a.backend}", unit="sample", leave=False, disable=None if shard.is_main() else True) as bar:
            def progress(done: int) -> None:
                bar.n = done
                bar.refresh()
            with warnings.catch_warnings():  # a plotting failure is reported once, below
                warnings.filterwarnings("ignore", "figures not written", RuntimeWarning)
                summary = deploy(a.model, data, backend=a.backend, split=a.split, limit=a.limit,
                                 plots=a.plots if shard.is_main() else None, progress=progress,
                                 protocol=a.protocol, runner=shard.runner())
        if not shard.is_main():  # rank 0 prints and writes the summary of all samples
            return 0
        print(_table(summary))  # printed before any file is written: a failed write loses nothing
        if a.json:
            atomic_write_json(a.json, summary)
            print(f"summary written to {a.json}")
        plots_error = summary["extra"].get("plots_error")
        if plots_error:
            raise InputError(None, f"figures not written: {plots_error}")
        return 0

    return run_cli(lambda: shard.run_sharded(a.backend, body))


if __name__ == "__main__":
    sys.exit(main())
