"""loihi-hybrid: hybrid ANN-SNN co-training on the Lava stack, from training to Loihi 2 deployment.

The public API (``train``, ``load_run``, ``load_checkpoint``, ``export``, ``deploy``, ``networks``) lives
in :mod:`loihi_hybrid.api` and is imported from there on first use, so that ``import loihi_hybrid.x``
stays light.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.2.0"
__all__ = ["Run", "__version__", "deploy", "export", "load_checkpoint", "load_run", "networks", "train"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import api  # noqa: PLC0415

        return getattr(api, name)
    raise AttributeError(f"module 'loihi_hybrid' has no attribute {name!r}")
