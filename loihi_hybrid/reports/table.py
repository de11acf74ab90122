"""The paper-style results table (Tables 1 and 2: model, metric, average firing rate, wall time)."""
from __future__ import annotations

from typing import Any

ROWS = (("ann", "pure ANN"), ("converted", "converted SNN"), ("hybrid", "hybrid SNN"),
        ("baseline", "baseline"))


def results_table(summary: dict[str, Any]) -> str:
    m = summary["metric_name"]
    lines = [f"| model | {m} | avg firing rate (Hz) | wall time (s) | epochs |", "| --- | --- | --- | --- | --- |"]
    for key, label in ROWS:
        row = summary[key]
        if key == "baseline":
            label = f"baseline ({row['extra'].get('predictor', '')})"
        elif key == "ann" and row["extra"].get("init_from"):  # not trained here: say whose weights these are
            label = f"initial weights as ANN ({row['extra'].get('init_stage') or 'a'} stage of {row['extra']['init_from']})"
        rate = "–" if row["firing_rate_hz"] is None else f"{row['firing_rate_hz']:.1f}"
        lines.append(f"| {label} | {row['metric']:.4f} | {rate} | {row['seconds']:.1f} | {row['epochs']} |")
    others = sorted({name for key, _ in ROWS for name in summary[key]["extra"].get("protocols", {})})
    for name in others:  # the same models on another evaluation protocol's test split
        cells = []
        for key, label in ROWS:
            v = summary[key]["extra"].get("protocols", {}).get(name)
            if v is not None:
                cells.append(f"{key} {v if isinstance(v, float) else v['metric']:.4f}")
        lines.append(f"\n{name} protocol, {m}: " + ", ".join(cells))
    return "\n".join(lines)
