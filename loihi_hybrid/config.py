"""Run configuration as plain dataclasses, built from one JSON file per network.

``loihi_hybrid/configs/<network>.json`` holds the paper's settings for the real data and, under
``"synthetic"``, the overrides used for the embedded default (smaller, so that it runs in minutes on
2 CPU cores). A user ``--config FILE`` is merged on top, then command-line options. Which file belongs
to which network is the network's business (``loihi_hybrid.tasks``); this module only merges and checks.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InputError
from .neurons import NeuronParams

@dataclass
class DataConfig:
    input_size: tuple[int, int] = (48, 72)
    slice_axis: int = 2
    test_frac: float = 0.1
    val_frac: float = 0.1
    augment: bool = True
    synthetic_samples: int = 240  # images (LocNet) or volumes (CAE) of the embedded default


@dataclass
class TrainConfig:
    epochs_ann: int = 50
    epochs_hybrid: int = 7
    lr_ann: float = 0.01
    lr_hybrid: float = 0.001
    batch_size: int = 32
    patience: int = 3                   # hybrid early stopping on the validation metric
    rate_target_hz: float = 250.0       # firing-rate regularisation target
    rate_reg_weight: float = 0.01       # weight of the rate term (the task loss has weight 1.0)
    bce_weight: float = 0.5             # CAE loss = bce_weight*BCE + dice_weight*soft Dice
    dice_weight: float = 0.5
    method: str = "hybrid"              # fine-tuning method: "hybrid" (rate backward) or "bptt" (SLAYER)
    max_train_batches: int | None = None  # cap per spiking epoch (None: all)


@dataclass
class ConversionConfig:
    firing_rate_scale: float = 1000.0   # NengoDL's scale_firing_rates (x dt = per-layer alpha)
    method: str = "global"              # "global" (paper) or "normalised" (data-based, per layer)
    percentile: float = 99.9            # of each layer's ANN activations on training data
    norm_rate: float = 0.5              # spikes/step the percentile activation is mapped to


@dataclass
class RunConfig:
    task: str = "locnet"
    steps: int = 32
    readout_warmup: int = 16            # first steps of a sample the readout ignores (deep-layer latency)
    dt_s: float = 1e-3
    seed: int = 0
    channels: tuple[int, ...] = (16, 32, 64)
    hidden: tuple[int, ...] = (256, 128, 64)
    neuron: NeuronParams = field(default_factory=NeuronParams)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, val in values.items():
        if key not in names:
            raise InputError(where, f"unknown setting {key!r} (known: {', '.join(names)})")
        sub = {"neuron": NeuronParams, "data": DataConfig, "train": TrainConfig,
               "conversion": ConversionConfig}.get(key) if cls is RunConfig else None
        if sub is not None:
            val = _build(sub, val, where)
        elif isinstance(val, list):
            val = tuple(val)
        kwargs[key] = val
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise InputError(where, str(err)) from None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_json(path: Path | str, text: str | None = None) -> dict[str, Any]:
    try:
        data = json.loads(text if text is not None else Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read config file ({err})") from None
    except json.JSONDecodeError as err:
        raise InputError(path, f"invalid JSON at line {err.lineno}: {err.msg}") from None
    if not isinstance(data, dict):
        raise InputError(path, "config must be a JSON object")
    return data


def packaged_config(name: str, synthetic: bool) -> dict[str, Any]:
    """``configs/<name>.json`` with its ``"synthetic"`` overrides applied when ``synthetic``."""
    res = resources.files("loihi_hybrid.configs") / f"{name}.json"
    raw = _read_json(str(res), res.read_text())
    over = raw.pop("synthetic", {})
    return _merge(raw, over) if synthetic else raw


def resolve_config(task: str, defaults: dict[str, Any], user_file: Path | str | None = None,
                   overrides: dict[str, Any] | None = None) -> RunConfig:
    """``defaults`` <- user config file <- command-line overrides, validated, for network ``task``."""
    values = dict(defaults)
    where = "config"
    if user_file is not None:
        user = _read_json(user_file)
        user.pop("synthetic", None)
        values, where = _merge(values, user), str(user_file)
    values = _merge(values, overrides or {})
    values["task"] = task
    cfg = _build(RunConfig, values, where)
    validate(cfg, where)
    return cfg


def config_from_dict(values: dict[str, Any], where: str = "config") -> RunConfig:
    """Rebuild a saved config (e.g. ``config.json`` of a run directory)."""
    cfg = _build(RunConfig, values, where)
    validate(cfg, where)
    return cfg


def validate(cfg: RunConfig, where: str) -> None:
    """Reject nonsense numbers with one clear line."""
    t, c, d = cfg.train, cfg.conversion, cfg.data
    checks = [
        (cfg.steps >= 1, "steps must be >= 1"),
        (0 <= cfg.readout_warmup < cfg.steps, "readout_warmup must be in [0, steps)"),
        (cfg.dt_s > 0, "dt_s must be > 0"),
        (t.epochs_ann >= 0 and t.epochs_hybrid >= 0, "epochs must be >= 0"),
        (t.lr_ann > 0 and t.lr_hybrid > 0, "learning rates must be > 0"),
        (t.batch_size >= 1, "batch_size must be >= 1"),
        (t.patience >= 1, "patience must be >= 1"),
        (t.method in ("hybrid", "bptt"), "train.method must be 'hybrid' or 'bptt'"),
        (t.rate_target_hz >= 0 and t.rate_reg_weight >= 0, "rate regularisation must be >= 0"),
        (c.method in ("global", "normalised"), "conversion.method must be 'global' or 'normalised'"),
        (c.firing_rate_scale > 0, "conversion.firing_rate_scale must be > 0"),
        (0 < c.percentile <= 100, "conversion.percentile must be in (0, 100]"),
        (0 < c.norm_rate <= 1, "conversion.norm_rate must be in (0, 1]"),
        (0 <= d.test_frac < 1 and 0 <= d.val_frac < 1, "test_frac/val_frac must be in [0, 1)"),
        (len(d.input_size) == 2 and min(d.input_size) >= 8, "data.input_size must be two sizes >= 8"),
        (d.slice_axis in (0, 1, 2), "data.slice_axis must be 0, 1 or 2"),
        (d.synthetic_samples >= 10, "data.synthetic_samples must be >= 10"),
    ]
    for ok, msg in checks:
        if not ok:
            raise InputError(where, msg)
