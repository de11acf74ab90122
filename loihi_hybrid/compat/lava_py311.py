"""Make lava-nc 0.10.0 / lava-dl 0.6.0 importable on Python 3.11 next to a CPU-only torch.

Two fixes, applied once, before the first Lava import (Lava forks its workers, so they inherit them):

1. ``lava.lib.dl.slayer`` imports torchvision at module level (object-detection helpers only). PyPI's
   torchvision is CUDA-linked and fails to import beside the CPU torch wheel, so an empty stand-in is
   registered when the real one cannot be imported.
2. lava-nc declares dataclass fields with instance defaults (``x: ByteEncoder = ByteEncoder()``), which
   Python >= 3.11 rejects. ``lava.magma`` is imported once under a ``dataclass`` decorator that turns such
   defaults into ``default_factory`` fields. The same import makes lava-nc's own
   ``multiprocessing.set_start_method('fork')`` forcing, so that it does not fail when something else
   (a tqdm lock) fixed the start method first.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import importlib
import io
import multiprocessing
import sys
import types
from typing import Any

_applied = False


def _stand_in_torchvision() -> bool:
    try:
        import torchvision  # noqa: F401
        return False
    except Exception:
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        tv = types.ModuleType("torchvision")
        tv.__path__ = []  # behave like a package
        for sub in ("ops", "transforms"):
            mod = types.ModuleType(f"torchvision.{sub}")
            setattr(tv, sub, mod)
            sys.modules[f"torchvision.{sub}"] = mod
        sys.modules["torchvision"] = tv
        return True


def _import_magma_with_default_factories() -> None:
    if "lava.magma.compiler.var_model" in sys.modules or sys.version_info < (3, 11):
        return
    original = dataclasses.dataclass

    def patched(cls: Any = None, /, **kwargs: Any) -> Any:
        def wrap(c: type) -> type:
            for name in list(c.__dict__.get("__annotations__", {})):
                value = c.__dict__.get(name, dataclasses.MISSING)
                if (value is not dataclasses.MISSING and not isinstance(value, type)
                        and dataclasses.is_dataclass(value) and type(value).__hash__ is None):
                    setattr(c, name, dataclasses.field(default_factory=lambda v=value: copy.deepcopy(v)))
            return original(c, **kwargs)
        return wrap if cls is None else wrap(cls)

    # lava-nc also calls multiprocessing.set_start_method('fork') at import, which raises once anything
    # (a tqdm lock, a torch DataLoader) has fixed the start method. Lava needs 'fork' (its workers
    # inherit these fixes), so its call is made with force=True.
    set_start_method = multiprocessing.set_start_method
    dataclasses.dataclass = patched
    multiprocessing.set_start_method = lambda method, force=False: set_start_method(method, force=True)
    try:
        importlib.import_module("lava.magma.core.decorator")  # pulls in var_model and the runtime
    finally:
        dataclasses.dataclass = original
        multiprocessing.set_start_method = set_start_method


def apply() -> None:
    """Apply both fixes (idempotent)."""
    global _applied
    if _applied:
        return
    _stand_in_torchvision()
    _import_magma_with_default_factories()
    _applied = True


def slayer() -> types.ModuleType:
    """``lava.lib.dl.slayer``, importable on Python 3.11."""
    apply()
    if "lava.lib.dl.slayer" not in sys.modules:
        # lava-dl prints an advert for an optional dataset toolbox on import; keep the CLI output clean
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module("lava.lib.dl.slayer")
    return sys.modules["lava.lib.dl.slayer"]


def check() -> None:
    """Import the parts of the stack the project uses; raise if any is missing."""
    slayer()
    for name in ( "lava.lib.dl.netx", "lava.magma.core.run_configs"):
        importlib.import_module(name)
    print("lava-nc and lava-dl import fine on Python", sys.version.split()[0])
