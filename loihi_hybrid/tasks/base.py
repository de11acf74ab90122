"""What a network is to the rest of the package: one :class:`Task` subclass per network, in a registry.

A task owns everything that differs between networks: its packaged config, data loading, building the
model, the loss, decoding readouts (torch at training time, numpy from an export's metadata), metrics
and baseline, the export metadata, and its figures. Workflows, export and deploy ask the registry
(:func:`get_task`, :func:`make_task`) and never switch on a network's name.

New networks register themselves with :func:`register`; every module of this package is imported on
first use of the registry, and so is every ``loihi_hybrid.tasks`` entry point of installed packages.
"""
from __future__ import annotations

import importlib
import pkgutil
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import torch

from ..config import RunConfig, packaged_config, resolve_config
from ..data import ArraySplit, DataSplits
from ..errors import InputError
from ..models import SpikingNetwork
from ..models.init import calibrate

_REGISTRY: dict[str, type[Task]] = {}
_DISCOVERED = False


class Task:
    """Base class of a network. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]                 # CLI name, config file name, ``task`` in summaries and exports
    metric_name: ClassVar[str]          # "iou", "dice", "accuracy", ... (higher is better)
    label: ClassVar[str]                # for tables, e.g. "LocNet (IoU)"
    description: ClassVar[str] = ""     # one line for ``--help``
    order: ClassVar[int] = 100          # position in listings (the paper's networks first)
    protocols: ClassVar[tuple[str, ...]] = ("paper",)  # evaluation protocols (``data.protocol``)
    in_channels: ClassVar[int] = 1      # input channels the loaders produce
    #: what the data is when no ``--data`` folder is given (``DataSplits.source`` of the default set)
    default_source: ClassVar[str] = "synthetic"
    #: sub-folder of a ``reproduce.py --data`` root that holds this network's data (None: not reproduced)
    data_dir_name: ClassVar[str | None] = None
    #: packaged config used by ``reproduce.py`` when it trains this network on real data
    reproduce_config: ClassVar[str | None] = None
    #: the paper's figures per stage: (metric, average firing rate in Hz or None)
    paper: ClassVar[dict[str, tuple[float, float | None]]] = {}
    #: the project's quality target for the hybrid SNN on the real test split (None: none)
    target: ClassVar[float | None] = None
    #: the reproduction report's section title, and its method comparison's default budget
    report_title: ClassVar[str | None] = None
    reproduce_method_epochs: ClassVar[int] = 1
    reproduce_method_batches: ClassVar[int | None] = None
    #: config keys (``section.key``) that this network reads and some others do not: another network refuses a
    #: value other than the default for them, so that a setting is never silently ignored
    own_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: RunConfig | None = None) -> None:
        self.cfg = cfg

    # configuration -------------------------------------------------------------------------------------
    @classmethod
    def default_config(cls, synthetic: bool) -> dict[str, Any]:
        return packaged_config(cls.name, synthetic)

    @classmethod
    def config(cls, synthetic: bool, user_file: Path | str | None = None,
               overrides: dict[str, Any] | None = None) -> RunConfig:
        """Packaged defaults <- user config file <- overrides, validated."""
        cfg = resolve_config(cls.name, cls.default_config(synthetic), user_file, overrides)
        _refuse_foreign_keys(cls, cfg, "config" if user_file is None else str(user_file))
        return cfg

    # data and model ------------------------------------------------------------------------------------
    def load_data(self, data_dir: str | Path | None) -> DataSplits:
        """Splits from ``data_dir`` (``None``: the embedded default set)."""
        raise NotImplementedError

    def make_model(self, in_channels: int) -> SpikingNetwork:
        raise NotImplementedError

    def build(self, in_channels: int | None = None) -> SpikingNetwork:
        """The network for this config, with the readout window set."""
        model = self.make_model(self.in_channels if in_channels is None else in_channels)
        model.readout_warmup = self.cfg.readout_warmup
        model.set_input_once(self.cfg.input_once)
        return model

    def fit_targets(self, model: torch.nn.Module, data: DataSplits) -> None:
        """Fit target normalisation buffers on the training split (none by default)."""

    def prepare(self, model: SpikingNetwork, data: DataSplits, n: int = 64) -> None:
        """Before training: target normalisation, then data-driven initialisation on ``n`` training samples."""
        self.fit_targets(model, data)
        device = next(model.parameters()).device
        calibrate(model, torch.as_tensor(data.train.x[:n], dtype=torch.float32, device=device))

    # training -------------------------------------------------------------------------------------------
    def loss(self, model: torch.nn.Module, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def augment(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return x, y

    # decoding -------------------------------------------------------------------------------------------
    def decode(self, out: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
        """Readout of ``model`` -> prediction (boxes, probabilities, ...)."""
        return self.decode_values(out, self.decoding_params(model))

    def predict(self, model: torch.nn.Module, out: torch.Tensor) -> torch.Tensor:
        return self.decode(out, model)

    def decode_readout(self, y: np.ndarray, decoding: dict[str, Any]) -> np.ndarray:
        """Readout values decoded by an exported network's metadata -> predictions (numpy)."""
        params = {k: np.asarray(decoding[k]) for k in self.decoding_params_keys}
        return self.decode_values(np.asarray(y, np.float64), params)

    #: metadata keys that :meth:`decode_values` needs (model buffers at training time)
    decoding_params_keys: ClassVar[tuple[str, ...]] = ()

    def decoding_params(self, model: torch.nn.Module) -> dict[str, Any]:
        return {k: getattr(model, k) for k in self.decoding_params_keys}

    def decode_values(self, y: Any, params: dict[str, Any]) -> Any:
        """The decoding itself, written once for torch tensors and numpy arrays."""
        raise NotImplementedError

    # metrics ----------------------------------------------------------------------------------------------
    def score(self, pred: np.ndarray, split: ArraySplit) -> tuple[float, dict[str, Any]]:
        raise NotImplementedError

    def baseline(self, data: DataSplits) -> tuple[float, dict[str, Any]]:
        """The best trivial predictor on the test split, fitted on the training split."""
        raise NotImplementedError

    def deploy_extra(self, data: DataSplits, part: ArraySplit) -> dict[str, Any]:
        """Extra figures for a deployment summary on ``part`` (e.g. a baseline on the same samples)."""
        return {}

    # export metadata ----------------------------------------------------------------------------------------
    def preprocessing(self, source: str) -> dict[str, Any]:
        """How raw data becomes the network's input (written into exports)."""
        return {}

    def decoding(self, model: torch.nn.Module) -> dict[str, Any]:
        """What the readout means (written into exports): ``output`` plus :attr:`decoding_params_keys`."""
        return {k: torch.as_tensor(v).tolist() for k, v in self.decoding_params(model).items()}

    # figures ----------------------------------------------------------------------------------------------
    def plot_predictions(self, part: ArraySplit, pred: np.ndarray, path_stem: Path, label: str) -> Path | None:
        """A figure of predictions on the first samples of ``part`` (``path_stem`` + suffix); None: none."""
        return None

    def report_figure(self, load: Callable[[str], SpikingNetwork], data: DataSplits, folder: Path) -> Path | None:
        """The reproduction report's qualitative figure; ``load(stage)`` gives a stage's model."""
        return None


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two networks named {cls.name!r}: {_REGISTRY[cls.name]} and {cls}")
    _REGISTRY[cls.name] = cls
    return cls


def _refuse_foreign_keys(cls: type[Task], cfg: RunConfig, where: str) -> None:
    """One line naming the key where ``cfg`` sets a key that only other networks read."""
    _discover()
    defaults = RunConfig()
    for other in _REGISTRY.values():
        for key in (k for k in other.own_keys if k not in cls.own_keys):
            section, name = key.split(".")
            value = getattr(getattr(cfg, section), name)
            if value != getattr(getattr(defaults, section), name):
                raise InputError(where, f"{key} is read by the {other.name} network only, not by {cls.name} "
                                        f"(got {value!r}): remove it")


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    pkg = importlib.import_module(__package__)
    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name != "base":
            importlib.import_module(f"{__package__}.{mod.name}")
    for ep in importlib_metadata.entry_points(group="loihi_hybrid.tasks"):
        ep.load()


def task_names() -> tuple[str, ...]:
    """Registered networks, by their ``order`` (the paper's first), then by name."""
    _discover()
    return tuple(sorted(_REGISTRY, key=lambda n: (_REGISTRY[n].order, n)))


def get_task(name: str) -> type[Task]:
    """The :class:`Task` class registered as ``name``; an unknown name is an :class:`InputError`."""
    _discover()
    if name not in _REGISTRY:
        raise InputError(None, f"unknown network {name!r}: choose one of {', '.join(task_names())}")
    return _REGISTRY[name]


def make_task(cfg: RunConfig) -> Task:
    """The task of ``cfg.task``, bound to ``cfg``."""
    return get_task(cfg.task)(cfg)


def load_config(task: str, synthetic: bool, user_file: Path | str | None = None,
                overrides: dict[str, Any] | None = None) -> RunConfig:
    """Packaged defaults of network ``task`` <- user config file <- overrides, validated."""
    return get_task(task).config(synthetic, user_file, overrides)
