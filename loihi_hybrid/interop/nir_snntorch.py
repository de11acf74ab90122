"""Run a NIR file in snnTorch, an outside consumer: ``snntorch.import_nir.import_from_nir`` builds the network
(``Synaptic`` neurons for CubaLIF, torch ``Conv2d``/``Linear``/``Flatten``), and this module only feeds it:
each sample's image every step for T steps, from zero state, and the mean readout over the window that the
graph's metadata names. snnTorch's importer discretises with dt = 1e-4 s, so the graph must have been written
for that step (``export.py --format nir --nir-dt 1e-4``); any other dt is refused here.

snnTorch's importer maps NIR's ``Flatten(start_dim=0)`` to ``torch.nn.Flatten(0, -1)``, so the network takes one
unbatched sample ``(C, H, W)`` per call.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InputError
from .nir import read_nir

SNNTORCH_DT = 1e-4  # the step snntorch.import_nir assumes for every time constant


def _snntorch() -> tuple[Any, Any]:
    try:
        import snntorch  # noqa: PLC0415 (optional extra)
        from snntorch.import_nir import import_from_nir  # noqa: PLC0415
    except ImportError:
        raise InputError(None, "the snnTorch check needs snntorch, nir and nirtorch: pip install -r "
                               "requirements/nir.txt (or pip install 'loihi-hybrid[nir]')") from None
    return snntorch, import_from_nir


def run_snntorch(path: str | Path, x: np.ndarray, progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Readout values ``(N, *readout shape)`` of the NIR file at ``path`` run in snnTorch on images ``x``
    (N, C, H, W) in [0, 1]: the mean graph output over steps ``warmup .. T-1`` (metadata) of each sample."""
    import torch  # noqa: PLC0415

    snntorch, import_from_nir = _snntorch()
    graph, meta = read_nir(path)
    if not np.isclose(meta["dt_s"], SNNTORCH_DT, rtol=1e-9):
        raise InputError(path, f"written for dt = {meta['dt_s']} s, but snnTorch's NIR import assumes "
                               f"{SNNTORCH_DT} s: export with --nir-dt {SNNTORCH_DT}")
    module = import_from_nir(graph)
    neurons = [m for m in module.modules() if isinstance(m, snntorch.SpikingNeuron)]
    steps, warmup = int(meta["steps"]), int(meta["warmup"])
    out = []
    with torch.no_grad():
        for i, image in enumerate(np.asarray(x, np.float32)):
            for m in neurons:
                m.reset_mem()
            frame = torch.as_tensor(image)
            total = None
            for t in range(steps):
                y, _ = module(frame)
                if t >= warmup:
                    total = y.double() if total is None else total + y.double()
            out.append((total / (steps - warmup)).numpy())
            if progress is not None:
                progress(i + 1)
    return np.stack(out)
