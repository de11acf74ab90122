"""Training curves (loss and validation metric per epoch, one column per trained stage) as a PNG."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fsio import atomic_write  # noqa: E402


def plot_curves(history: dict[str, list[dict[str, float]]], metric_name: str, path: Path) -> None:
    stages = [s for s in ("ann", "hybrid") if history.get(s)]
    if not stages:
        return
    fig, axes = plt.subplots(2, len(stages), figsize=(5 * len(stages), 6), squeeze=False)
    for col, stage in enumerate(stages):
        ep = [h["epoch"] for h in history[stage]]
        axes[0, col].plot(ep, [h["train_loss"] for h in history[stage]], "o-")
        axes[0, col].set(title=f"{stage}: training loss", xlabel="epoch", ylabel="loss")
        axes[1, col].plot(ep, [h["val_metric"] for h in history[stage]], "o-", color="C1")
        axes[1, col].set(title=f"{stage}: validation {metric_name}", xlabel="epoch", ylabel=metric_name)
    fig.tight_layout()
    try:  # format given: the temporary file's suffix is not ``.png``
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
