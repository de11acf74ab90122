"""The frontier on a tiny run of the synthetic default: every export at several T on the emulator, its row at
the exported T equal to ``deploy`` on ``emu``, the ANN point, and the table, JSON and figure written."""
import json

import pytest

import loihi_hybrid as lh
from loihi_hybrid.cli import frontier as frontier_cli
from loihi_hybrid.workflows.frontier import frontier

TINY = {"steps": 8, "readout_warmup": 4, "channels": [2, 2, 2], "hidden": [4, 4, 4],
        "data": {"input_size": [8, 8], "synthetic_samples": 16},
        "train": {"epochs_ann": 1, "epochs_hybrid": 1, "batch_size": 16, "max_train_batches": 1}}


@pytest.mark.slow
def test_frontier_of_a_tiny_run(tmp_path, capsys):
    run = lh.train("locnet", out=tmp_path / "run", overrides=TINY)
    rows = frontier([run.folder], [4, 16], tmp_path / "f", log=lambda _: None)
    snn = [r for r in rows if r["steps"] is not None]
    assert sorted(r["steps"] for r in snn) == [4, 8, 16]
    own = next(r for r in snn if r["exported_T"])
    emu = lh.deploy(run.folder / "locnet_hybrid.net", backend="emu")
    assert own["metric"] == pytest.approx(emu["metric"])
    assert own["loihi_estimate_uj"] == pytest.approx(emu["energy"]["loihi_estimate_uj_per_inference"])
    by_t = {r["steps"]: r for r in snn}
    # static share proportional to T; warm-up at most T // 2 away from the exported T
    assert by_t[16]["loihi2_static_uj"] == pytest.approx(4 * by_t[4]["loihi2_static_uj"])
    assert by_t[4]["warmup"] == 2 and by_t[8]["warmup"] == 4 and by_t[16]["warmup"] == 4
    ann = next(r for r in rows if r["steps"] is None)
    assert ann["metric"] == pytest.approx(run.summary["ann"]["metric"])
    assert ann["ann_estimate_uj"] == pytest.approx(emu["energy"]["ann_estimate_uj_per_inference"])
    saved = json.loads((tmp_path / "f" / "frontier.json").read_text())
    assert len(saved["rows"]) == len(rows) and "Loihi 2" in saved["energy_labels"]["loihi2_static_uj_per_inference"]
    assert (tmp_path / "f" / "frontier.png").stat().st_size > 0
    assert (tmp_path / "f" / "frontier.md").read_text().count("\n") == len(rows) + 2
    # with --limit the exports see the first groups only: the ANN point says its figure is the whole split
    limited = frontier([run.folder], [], tmp_path / "h", limit=1, log=lambda _: None)
    assert [r["point"] for r in limited if r["steps"] is None] == ["run: ANN (full test split)"]
    # the command line: a bad --steps is one line, exit 2
    assert frontier_cli.main([str(run.folder), "--steps", "4,x", "--out", str(tmp_path / "g")]) == 2
    assert "--steps 4,x" in capsys.readouterr().err


@pytest.mark.slow
def test_frontier_of_a_sigma_delta_run(tmp_path):
    """A tiny sigma-delta run end to end (train, export, deploy on emu); the frontier runs its files only at T
    past the pipeline (10 layers) and up to their own T (12)."""
    sd = {**TINY, "steps": 12, "readout_warmup": 10, "input_once": True, "neuron": {"kind": "sd", "threshold": 0.01}}
    run = lh.train("locnet", out=tmp_path / "run", overrides=sd)
    said: list[str] = []
    rows = frontier([run.folder], [8, 11, 16], tmp_path / "f", log=said.append)
    assert sorted(r["steps"] for r in rows if r["steps"] is not None) == [11, 12]
    assert sum("skipped" in s for s in said) == 2
    own = next(r for r in rows if r["steps"] == 12)
    emu = lh.deploy(run.folder / "locnet_hybrid.net", backend="emu")
    assert own["metric"] == pytest.approx(emu["metric"])
    # the same messages at T = 11 and 12 (one per neuron at most): the same metric, more neuron updates at 12
    eleven = next(r for r in rows if r["steps"] == 11)
    assert eleven["metric"] == pytest.approx(own["metric"]) and eleven["snn_horowitz_uj"] == own["snn_horowitz_uj"]
    assert eleven["loihi_estimate_uj"] < own["loihi_estimate_uj"]
