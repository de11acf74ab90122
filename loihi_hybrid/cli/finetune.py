"""``finetune.py NETWORK``: ANN -> converted SNN -> hybrid SNN on the same weights, with a results table."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import config_from_dict
from ..errors import InputError
from ..tasks import Task, get_task, task_names
from .common import run_cli

if TYPE_CHECKING:
    import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="finetune.py", description=__doc__)
    p.add_argument("network", help="; ".join(get_task(t).description or t for t in task_names()))
    p.add_argument("--data", help="data folder (Caltech airplanes / hippocampus NIfTI); default: the network's "
                                  "embedded data set (a deterministic synthetic stand-in, or a bundled set)")
    p.add_argument("--config", help="JSON file merged over the packaged defaults")
    p.add_argument("--out", help="output folder (default runs/<network>-<timestamp>)")
    p.add_argument("--steps", type=int, help="time steps T per sample (sets readout_warmup to T // 2: the readout "
                   "averages the second half, unless the config has readout_warmup_auto)")
    p.add_argument("--epochs-ann", type=int)
    p.add_argument("--epochs-hybrid", type=int)
    p.add_argument("--method", choices=["hybrid", "bptt"], help="fine-tuning method (default hybrid)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out (with the same --data)")
    p.add_argument("--force", action="store_true",
                   help="--out holds a run: remove its files and start afresh (without this, an existing run "
                        "is only continued with --resume)")
    p.add_argument("--init", help="start from the weights of an earlier run's stage checkpoint (RUN/ann.pt, "
                                  "RUN/hybrid.pt, ...; same layers and sizes) instead of training the ANN: e.g. "
                                  "a T = 32 hybrid SNN fine-tuned again with --steps 16")
    p.add_argument("--export-converted", action="store_true",
                   help="also export the converted SNN (the hybrid SNN is always exported) to NetX HDF5")
    return p.parse_args(argv)


def _overrides(a: argparse.Namespace) -> dict:
    o: dict = {}
    if a.steps is not None:
        o["steps"] = a.steps
        o["readout_warmup"] = a.steps // 2
    if a.seed is not None:
        o["seed"] = a.seed
    if a.init is not None:
        o["init_from"] = a.init
    train = {k: v for k, v in (("epochs_ann", a.epochs_ann), ("epochs_hybrid", a.epochs_hybrid),
                               ("method", a.method)) if v is not None}
    if train:
        o["train"] = train
    return o


def steps_note(cfg) -> str:
    """What ``--steps`` did to the readout window, for the log (it replaces a config file's warm-up)."""
    if cfg.readout_warmup_auto:
        return f"--steps {cfg.steps}: the readout warm-up is measured after conversion (readout_warmup_auto)"
    return (f"--steps {cfg.steps}: readout_warmup {cfg.readout_warmup} (T // 2, replacing any config file's), "
            f"the readout averages steps {cfg.readout_warmup}-{cfg.steps - 1}")


def _saved_config(out: Path):
    """The config of the run in ``out``: ``config.json``, or if that is damaged the copy in ``run.json``."""
    from ..workflows import runfolder

    cfg_file = out / "config.json"
    if cfg_file.is_file():
        try:
            return config_from_dict(json.loads(cfg_file.read_text()), str(cfg_file))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            rec = runfolder.read_record(out)
            if rec is None or not isinstance(rec.get("config"), dict):
                raise InputError(cfg_file, f"cannot read the run's config ({str(err).splitlines()[0]}) and "
                                           f"run.json holds no copy") from None
            print(f"warning: {cfg_file} is unreadable; using the config recorded in run.json", file=sys.stderr)
            return config_from_dict(rec["config"], str(out / "run.json"))
    rec = runfolder.read_record(out)
    if rec is not None and isinstance(rec.get("config"), dict):
        return config_from_dict(rec["config"], str(out / "run.json"))
    return None


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    out_holder: list[Path] = []

    def body() -> int:
        net = get_task(a.network)
        if a.data is not None and not Path(a.data).is_dir():
            raise InputError(a.data, "data folder not found")
        if a.resume and not a.out:
            raise InputError(None, "--resume needs --out DIR of the run to continue")
        if a.init is not None and a.resume:
            raise InputError(None, "--init starts a run; a resumed run keeps the init_from of its config")
        if a.init is not None and not Path(a.init).is_file():
            raise InputError(a.init, "checkpoint not found")
        from ..training import distributed
        from ..workflows import runfolder

        device = runfolder.resolve_device(a.device)
        with distributed.process_group(device) as device:  # under torchrun: one rank of its group
            try:
                return train(net, device, distributed.is_main())
            except distributed.FailedOnMain:  # rank 0 failed a check and reports it
                return 2

    def train(net: type[Task], device: torch.device, main: bool) -> int:
        """The run, as one process or as one rank (rank 0: ``main``, prints)."""
        import torch

        from ..training import distributed
        from ..workflows import runfolder

        say = print if main else (lambda *_: None)
        # rank 0 names the folder (a default name holds the time) and checks it and the data source
        out = Path(distributed.on_main(lambda: a.out or f"runs/{a.network}-{time.strftime('%Y%m%d-%H%M%S')}"))
        # a file, read-only, a run without --resume/--force
        distributed.on_main(lambda: runfolder.check_out(out, a.resume, a.force))
        if a.resume:
            distributed.on_main(lambda: runfolder.check_resume_source(out, a.data))
        out_holder.append(out)
        saved = distributed.on_main(lambda: _saved_config(out)) if a.resume else None
        if saved is not None:
            cfg = saved
            say(f"resuming {out} with its saved config")
        else:
            cfg = net.config(synthetic=a.data is None, user_file=a.config, overrides=_overrides(a))
            if a.steps is not None:
                say(steps_note(cfg))
        from ..reports.table import results_table  # bad input fails before these imports
        from ..workflows.train import run_pipeline

        torch.set_num_threads(max(1, torch.get_num_threads()))
        data = net(cfg).load_data(a.data)
        say(f"data: {data.source} — train {len(data.train)}, val {len(data.val)}, test {len(data.test)}"
            + (f"; {len(data.skipped)} samples left out" if data.skipped else ""))
        stages = ("converted", "hybrid") if a.export_converted else ("hybrid",)
        summary = run_pipeline(cfg, data, out, resume=a.resume, device=str(device), export=stages, force=a.force)
        if not main:
            return 0
        print()
        print(f"{a.network} on {data.source}, T = {cfg.steps} steps (test split, n = {len(data.test)})")
        print(results_table(summary))
        print(f"\nwritten to {out}/ (summary.json, training_curves.png, checkpoints, "
              f"{', '.join(Path(p).name for p in summary['exports'].values())})")
        return 0

    def hint() -> str:
        return (f"Progress is saved in {out_holder[0]}; continue with: "
                f"python scripts/finetune.py {a.network} --resume --out {out_holder[0]}"
                + (f" --data {a.data}" if a.data else "")) if out_holder else ""

    return run_cli(body, hint)


if __name__ == "__main__":
    sys.exit(main())
