"""Accuracy-energy-latency frontier: the metric against the two energy estimates and against T."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fsio import atomic_write  # noqa: E402


def plot_frontier(rows: list[dict[str, Any]], metric_name: str, path: Path, title: str = "") -> None:
    """Three panels: metric vs Loihi estimate (with static share), vs paper-style estimate, vs T (log x)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = (("loihi_estimate_with_static_uj", "Loihi estimate, Loihi 1 dynamic + Loihi 2 static (µJ, estimate)"),
              ("snn_horowitz_uj", "paper-style estimate (µJ, Horowitz 2014)"), ("steps", "time steps T"))
    labels = list(dict.fromkeys(r["point"] for r in rows))
    for ax, (key, xlabel) in zip(axes, panels):
        for i, label in enumerate(labels):
            pts = sorted((r for r in rows if r["point"] == label and r.get(key) is not None), key=lambda r: r[key])
            if not pts:
                continue
            ax.plot([r[key] for r in pts], [r["metric"] for r in pts], "o-" if len(pts) > 1 else "*",
                    color=f"C{i}", label=label, markersize=6 if len(pts) > 1 else 12)
            for r in pts:
                if r.get("steps") is not None and key != "steps":
                    ax.annotate(f"T={r['steps']}", (r[key], r["metric"]), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
        ax.set(xscale="log", xlabel=xlabel, ylabel=metric_name)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title or f"{metric_name} against energy (estimates) and latency")
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)
