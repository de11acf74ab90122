"""Run configuration as plain dataclasses, built from one JSON file per network.

``loihi_hybrid/configs/<network>.json`` holds the paper's settings for the real data and, under
``"synthetic"``, the overrides used for the embedded default (smaller, so that it runs in minutes on
2 CPU cores). A user ``--config FILE`` is merged on top, then command-line options. Which file belongs
to which network is the network's business (``loihi_hybrid.tasks``); this module only merges and checks.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InputError
from .neurons import NeuronParams
from .neurons.params import NEURON_KINDS

@dataclass
class DataConfig:
    input_size: tuple[int, int] = (48, 72)
    slice_axis: int = 2
    test_frac: float = 0.1
    val_frac: float = 0.1
    augment: bool = True
    synthetic_samples: int = 240  # images (LocNet) or volumes (CAE) of the embedded default
    protocol: str = "paper"       # LocNet: validation/test photos as they are ("paper") or "placed"
    placed_fraction: float = 0.0  # LocNet: share of each training batch placed on another training photo


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
    rate_penalty: str = "toward"        # "toward" (two-sided pull to the target, paper) or "above" (only above it)
    synops_reg_weight: float = 0.0      # weight of the SynOps-weighted activity term (rate x fan-out), 0: off
    hybrid_steps: tuple[int, ...] = ()  # T of each hybrid epoch (curriculum, the last repeats); (): steps
    bce_weight: float = 0.5             # CAE loss = bce_weight*BCE + dice_weight*soft Dice
    dice_weight: float = 0.5
    box_loss: str = "mse"               # LocNet: "mse" (paper), "smooth_l1" (Huber, beta 0.1, standardised units), "giou"
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
    readout_warmup_auto: bool = False   # measure the converted SNN's latency and set readout_warmup from it
    input_once: bool = False            # the image is sent once per sample, held by the first layer's current
    init_from: str | None = None        # a stage checkpoint (.pt) of an earlier run: its weights replace ANN training
    dt_s: float = 1e-3
    seed: int = 0
    channels: tuple[int, ...] = (16, 32, 64)
    hidden: tuple[int, ...] = (256, 128, 64)
    pool_convs: bool = True             # each stage: conv + stride-2 "pooling" conv (paper); false: one stride-2 conv
    neuron: NeuronParams = field(default_factory=NeuronParams)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    conversion: ConversionConfig = field(default_factory=ConversionConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: LocNet's box losses (``train.box_loss``): on the standardised corners, or GIoU on the decoded boxes
BOX_LOSSES = ("mse", "smooth_l1", "giou")
#: firing-rate penalties (``train.rate_penalty``): two-sided pull toward the target, or only above it
RATE_PENALTIES = ("toward", "above")
#: the most time steps per sample a config may ask for (Loihi runs are short; more only burns time)
MAX_STEPS = 4096
_SUBSECTIONS = {"neuron": NeuronParams, "data": DataConfig, "train": TrainConfig,
                "conversion": ConversionConfig}


def _shown(val: Any) -> str:
    """A value as the user wrote it in JSON (``2.5``, ``"abc"``, ``true``, ``Infinity``)."""
    try:
        return json.dumps(val)
    except (TypeError, ValueError):
        return repr(val)


#: the range a key must lie in, added to its type error (the full range checks are in :func:`validate`)
_RANGE_HINTS = {"steps": f"in [1, {MAX_STEPS}]", "readout_warmup": "in [0, steps)", "seed": ">= 0",
                "dt_s": "> 0", "train.epochs_ann": ">= 0", "train.epochs_hybrid": ">= 0", "train.lr_ann": "> 0",
                "train.lr_hybrid": "> 0", "train.batch_size": ">= 1", "train.patience": ">= 1",
                "train.max_train_batches": ">= 1", "train.hybrid_steps": f"in [1, {MAX_STEPS}]", "data.synthetic_samples": ">= 10",
                "neuron.threshold": "> 0", "conversion.firing_rate_scale": "> 0"}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_type(key: str, annotation: str, val: Any, where: str) -> Any:
    """``val`` checked against the field's annotation (a string, as ``from __future__ import annotations``
    leaves it); lists become tuples. A wrong type is an :class:`InputError` naming ``key``."""
    ann = annotation.replace(" ", "")
    optional = ann.endswith("|None")
    if optional:
        if val is None:
            return None
        ann = ann[: -len("|None")]

    def bad(what: str) -> InputError:
        what += f" {_RANGE_HINTS[key]}" if key in _RANGE_HINTS else ""
        return InputError(where, f"{key} must be {what}{' or null' if optional else ''}, got {_shown(val)}")

    if ann == "bool":
        if not isinstance(val, bool):
            raise bad("true or false")
        return val
    if ann == "int":
        if not _is_int(val):
            raise bad("a whole number")
        return val
    if ann == "float":
        if not _is_number(val) or not math.isfinite(val):
            raise bad("a finite number")
        return float(val)
    if ann == "str":
        if not isinstance(val, str):
            raise bad("a string")
        return val
    if ann.startswith("tuple[int"):
        if not isinstance(val, (list, tuple)) or not all(_is_int(v) for v in val):
            raise bad("a list of whole numbers")
        return tuple(val)
    return val


def _build(cls: type, values: Any, where: str, prefix: str = "") -> Any:
    if not isinstance(values, dict):
        raise InputError(where, f"{prefix.rstrip('.') or 'config'} must be an object, got {_shown(values)}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, val in values.items():
        if key not in names:
            raise InputError(where, f"unknown setting {prefix + key!r} (known: {', '.join(names)})")
        sub = _SUBSECTIONS.get(key) if cls is RunConfig else None
        if sub is not None:
            val = _build(sub, val, where, f"{key}.")
        else:
            val = _check_type(prefix + key, str(names[key].type), val, where)
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
    """Reject values of the wrong type or range with one line naming the key (checked field by field, so a
    config built in Python, not only one read from JSON, gets the same checks)."""
    sections = {"": cfg, "neuron.": cfg.neuron, "data.": cfg.data, "train.": cfg.train,
                "conversion.": cfg.conversion}
    for prefix, obj in sections.items():
        for f in dataclasses.fields(obj):
            if prefix == "" and f.name in _SUBSECTIONS:
                continue
            _check_type(prefix + f.name, str(f.type), getattr(obj, f.name), where)

    def fail(key: str, what: str, val: Any) -> None:
        raise InputError(where, f"{key} must be {what}, got {_shown(val)}")

    def whole(key: str, val: int, lo: int, hi: int | None = None, what: str | None = None) -> None:
        if val < lo or (hi is not None and val > hi):
            fail(key, what or (f"a whole number >= {lo}" if hi is None else f"a whole number in [{lo}, {hi}]"), val)

    def number(key: str, val: float, lo: float, lo_open: bool, hi: float | None = None,
               hi_open: bool = False) -> None:
        ok = (val > lo if lo_open else val >= lo) and (hi is None or (val < hi if hi_open else val <= hi))
        if not ok:
            if hi is None:
                what = f"a finite number {'>' if lo_open else '>='} {lo:g}"
            else:
                what = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
            fail(key, what, val)

    def sizes(key: str, val: tuple[int, ...]) -> None:
        if len(val) == 0 or min(val) < 1:
            fail(key, "a non-empty list of whole numbers >= 1", list(val))

    t, c, d, n = cfg.train, cfg.conversion, cfg.data, cfg.neuron
    if cfg.steps < 1 or cfg.steps > MAX_STEPS:
        fail("steps", f">= 1 and <= {MAX_STEPS} (the cap on time steps per sample)", cfg.steps)
    if not 0 <= cfg.readout_warmup < cfg.steps:
        fail("readout_warmup", f"a whole number in [0, steps) = [0, {cfg.steps})", cfg.readout_warmup)
    number("dt_s", cfg.dt_s, 0, True)
    if cfg.init_from is not None and (not isinstance(cfg.init_from, str) or not cfg.init_from.strip()):
        fail("init_from", "null or the path of a stage checkpoint (.pt) of an earlier run", cfg.init_from)
    whole("seed", cfg.seed, 0, 2**32 - 2)
    sizes("channels", cfg.channels)
    sizes("hidden", cfg.hidden)
    # neuron (kind and threshold are also checked by NeuronParams itself)
    if n.kind not in NEURON_KINDS:
        fail("neuron.kind", "'lif', 'if' or 'sd'", n.kind)
    if n.kind == "sd" and not cfg.input_once:  # a sigma-delta neuron sums its input: an image sent every step adds up
        fail("input_once", "true for sigma-delta neurons (neuron.kind 'sd': the image is one delta, sent once)",
             cfg.input_once)
    if n.kind == "sd" and cfg.readout_warmup_auto:
        fail("readout_warmup_auto", "false for sigma-delta neurons (their latency is one step per layer: set "
             "readout_warmup to the number of layers)", cfg.readout_warmup_auto)
    number("neuron.threshold", n.threshold, 0, True)
    for key in ("tau_syn", "tau_rc", "gamma", "t_ref"):
        number(f"neuron.{key}", getattr(n, key), 0, False)
    number("neuron.tau_grad", n.tau_grad, 0, True)
    number("neuron.scale_grad", n.scale_grad, 0, True)
    # data
    if len(d.input_size) != 2 or min(d.input_size) < 8:
        fail("data.input_size", "two sizes >= 8 ([height, width])", list(d.input_size))
    whole("data.slice_axis", d.slice_axis, 0, 2, "0, 1 or 2")
    number("data.test_frac", d.test_frac, 0, False, 1, True)
    number("data.val_frac", d.val_frac, 0, False, 1, True)
    if d.test_frac + d.val_frac >= 1:
        fail("data.test_frac + data.val_frac", "< 1 (something must be left to train on)", d.test_frac + d.val_frac)
    whole("data.synthetic_samples", d.synthetic_samples, 10)
    if d.protocol not in ("paper", "placed"):
        fail("data.protocol", "'paper' or 'placed'", d.protocol)
    number("data.placed_fraction", d.placed_fraction, 0, False, 1)
    # train
    whole("train.epochs_ann", t.epochs_ann, 0)
    whole("train.epochs_hybrid", t.epochs_hybrid, 0)
    number("train.lr_ann", t.lr_ann, 0, True)
    number("train.lr_hybrid", t.lr_hybrid, 0, True)
    whole("train.batch_size", t.batch_size, 1)
    whole("train.patience", t.patience, 1)
    for key in ("rate_target_hz", "rate_reg_weight", "synops_reg_weight", "bce_weight", "dice_weight"):
        number(f"train.{key}", getattr(t, key), 0, False)
    if t.rate_penalty not in RATE_PENALTIES:
        fail("train.rate_penalty", " or ".join(repr(p) for p in RATE_PENALTIES), t.rate_penalty)
    if any(not 1 <= s <= MAX_STEPS for s in t.hybrid_steps):
        fail("train.hybrid_steps", f"a list of whole numbers in [1, {MAX_STEPS}] (T per hybrid epoch)",
             list(t.hybrid_steps))
    if t.box_loss not in BOX_LOSSES:
        fail("train.box_loss", ", ".join(repr(b) for b in BOX_LOSSES[:-1]) + f" or {BOX_LOSSES[-1]!r}", t.box_loss)
    if t.method not in ("hybrid", "bptt"):
        fail("train.method", "'hybrid' or 'bptt'", t.method)
    if t.max_train_batches is not None:
        whole("train.max_train_batches", t.max_train_batches, 1, what="null (all batches) or a whole number >= 1")
    # conversion
    if c.method not in ("global", "normalised"):
        fail("conversion.method", "'global' or 'normalised'", c.method)
    number("conversion.firing_rate_scale", c.firing_rate_scale, 0, True)
    number("conversion.percentile", c.percentile, 0, True, 100)
    number("conversion.norm_rate", c.norm_rate, 0, True, 1)
