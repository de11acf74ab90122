"""The report's target verdicts, the README block it generates, and the result cache."""
import json

import pytest

from loihi_hybrid.reports.cache import ResultCache, fingerprint
from loihi_hybrid.reports.summary import (BEGIN, END, bench_table, readme_block, splice_readme, sweep_table,
                                          targets_table)


def _row(metric, rate=None):
    return {"metric": metric, "firing_rate_hz": rate, "per_layer_rate_hz": None, "seconds": 1.0, "epochs": 1,
            "extra": {}}


def _task(ann, conv, conv_hz, hyb, hyb_hz, exported):
    return {"summary": {"ann": _row(ann), "converted": _row(conv, conv_hz), "hybrid": _row(hyb, hyb_hz),
                        "baseline": {**_row(0.5), "extra": {"predictor": "mean"}}},
            "deployed": {"hybrid": {"metric": exported, "mean_firing_rate_hz": hyb_hz}},
            "sweep": [{"stage": s, "steps": t, "metric": 0.1 * t, "rate_hz": 10.0 * t}
                      for s in ("converted", "hybrid") for t in (8, 16)],
            "methods": []}


@pytest.fixture
def results():
    # LocNet: 0.92 / 0.90 = 1.022 >= 0.98, 0.92 >= 0.91, 100 < 120 Hz, 100 < 137.52 Hz: all met.
    # CAE: 0.82 / 0.85 = 0.965 < 0.98, 0.82 < 0.83, 130 > 117 Hz: missed; 130 < 731.38 Hz: met.
    return {"locnet": _task(0.90, 0.89, 120.0, 0.92, 100.0, 0.918),
            "cae": _task(0.85, 0.38, 117.0, 0.82, 130.0, 0.819)}


def test_targets_verdicts_hand_computed(results):
    rows = targets_table(results).splitlines()
    ratio, metric, conv, paper = rows[2:6]
    assert ratio.startswith("| hybrid / ANN ≥ 0.98 | 1.022 met | 0.965 **missed** |")
    assert "0.9200 (export 0.9180) met" in metric and "0.8200 (export 0.8190) **missed**" in metric
    assert "100.0 vs 120.0 met" in conv and "130.0 vs 117.0 **missed**" in conv
    assert "100.0 vs 137.5 met" in paper and "130.0 vs 731.4 met" in paper


def test_sweep_table_cells(results):
    lines = sweep_table(results).splitlines()
    assert lines[0] == "| T | LocNet converted | LocNet hybrid | CAE converted | CAE hybrid |"
    assert lines[2] == "| 8 | 0.8000 (80 Hz) | 0.8000 (80 Hz) | 0.8000 (80 Hz) | 0.8000 (80 Hz) |"


def test_bench_targets():
    text = bench_table({"bptt_step_vs_hybrid_step": 2.5, "hybrid_mem_T64_vs_T16": 1.1, "emulation_vs_lava_sim": 0.02})
    assert "| `bptt_step_vs_hybrid_step` | 2.5 | ≥ 3.0: **missed** |" in text
    assert "| `hybrid_mem_T64_vs_T16` | 1.1 | ≤ 1.2: met |" in text
    assert "| `emulation_vs_lava_sim` | 0.02 | – |" in text and "lava_sim_s_per_sample" not in text


def test_readme_splice_replaces_only_the_block(results, tmp_path):
    from pathlib import Path

    readme = tmp_path / "README.md"
    readme.write_text("# X\n\n## Results\n\nhand-written intro\n\n## Development\n")
    block = readme_block(results, "python scripts/reproduce.py --data D", Path("reports/d/report.md"))
    splice_readme(readme, block)
    first = readme.read_text()
    assert first.count(BEGIN) == 1 and first.count(END) == 1 and "hand-written intro" in first
    assert first.index(BEGIN) > first.index("## Results") and first.index(END) < first.index("## Development")
    assert "python scripts/reproduce.py --data D" in first
    splice_readme(readme, block.replace("0.9200", "0.9300"))
    second = readme.read_text()
    assert second.count(BEGIN) == 1 and "0.9300" in second and "0.9200 (export" not in second
    assert second.replace("0.9300", "0.9200") == first


def test_cache_computes_once_and_survives_reload(tmp_path):
    calls = []
    cache = ResultCache(tmp_path / "cache.json")
    assert cache.get_or_compute("a/b/1", lambda: calls.append(1) or {"x": 1}, log=lambda m: None) == {"x": 1}
    again = ResultCache(tmp_path / "cache.json")
    assert again.get_or_compute("a/b/1", lambda: calls.append(1) or {"x": 2}, log=lambda m: None) == {"x": 1}
    assert calls == [1] and json.loads((tmp_path / "cache.json").read_text()) == {"a/b/1": {"x": 1}}


def test_fingerprint_follows_content(tmp_path):
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    a.write_bytes(b"weights")
    b.write_bytes(b"weights")
    assert fingerprint(a) == fingerprint(b)
    b.write_bytes(b"weightz")
    assert fingerprint(a) != fingerprint(b)


def test_bench_emulator_speed_target():
    text = bench_table({"lava_sim_vs_emulation_per_sample": 46.0, "emu_default_threads_vs_one_thread": 8.9})
    assert "| `lava_sim_vs_emulation_per_sample` | 46 | ≥ 20.0: met |" in text
    assert "| `emu_default_threads_vs_one_thread` | 8.9 | – |" in text
    assert "≥ 20.0: **missed**" in bench_table({"lava_sim_vs_emulation_per_sample": 5.5})
