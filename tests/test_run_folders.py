"""Run folders protect themselves: one writer at a time, no run overwritten or resumed by accident, the
data source checked on resume, damaged files fall back with a warning, a diverging loss stops with one line.

``finetune.main`` runs in-process on a mini synthetic LocNet (a few seconds); one finished run per module
is copied into each test's own folder.
"""
import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from loihi_hybrid.cli import finetune
from loihi_hybrid.training.loop import RunWarning
from loihi_hybrid.workflows import runfolder

MINI = {"steps": 4, "readout_warmup": 2, "channels": [2, 2, 2], "hidden": [4, 4, 4],
        "data": {"input_size": [8, 8], "synthetic_samples": 12},
        "train": {"epochs_ann": 2, "epochs_hybrid": 1, "batch_size": 16, "max_train_batches": 1}}


def run(*args):
    return finetune.main(["locnet", *map(str, args)])


def one_error_line(capsys):
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory):
    f = tmp_path_factory.mktemp("cfg") / "mini.json"
    f.write_text(json.dumps(MINI))
    return f


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cfg_file):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert run("--config", cfg_file, "--out", out) == 0
    return out


@pytest.fixture
def copy(finished, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(finished, out)
    return out


def test_finished_run_records_its_data(finished):
    rec = json.loads((finished / "run.json").read_text())
    assert rec["data"]["source"] == "synthetic" and rec["data"]["path"] is None
    assert len(rec["data"]["fingerprint"]) == 64 and rec["config"]["steps"] == 4
    info = json.loads((finished / "run.lock").read_text())
    assert info["pid"] == os.getpid()


def test_second_writer_is_refused_naming_the_holder(tmp_path, cfg_file, capsys):
    out = tmp_path / "run"
    out.mkdir()
    with runfolder.locked(out):  # another writer holds the folder
        assert run("--config", cfg_file, "--out", out) == 2
    line = one_error_line(capsys)
    assert "in use by another run" in line and f"pid {os.getpid()}" in line
    assert not (out / "config.json").exists()


def test_lock_is_released_after_an_error(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with pytest.raises(RuntimeError):
        with runfolder.locked(out):
            raise RuntimeError("crash")
    with runfolder.locked(out):  # free again
        pass


def test_existing_run_needs_resume_or_force(copy, cfg_file, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    assert run("--config", cfg_file, "--out", copy) == 2
    assert "already holds a run" in one_error_line(capsys)
    after = {p.name: p.stat().st_mtime_ns for p in copy.iterdir()}
    assert before == after  # nothing deleted, nothing written


def test_force_starts_afresh(copy, cfg_file, capsys):
    (copy / "notes.txt").write_text("mine")
    (copy / "converted_last.pt").write_bytes(b"stale")
    old = json.loads((copy / "state.json").read_text())
    old["rows"]["hybrid"]["metric"] = 123.0
    (copy / "state.json").write_text(json.dumps(old))
    assert run("--config", cfg_file, "--out", copy, "--force") == 0
    out = capsys.readouterr().out
    assert "--force: removed" in out and "[ann] training" in out
    assert (copy / "notes.txt").read_text() == "mine" and not (copy / "converted_last.pt").exists()
    assert json.loads((copy / "summary.json").read_text())["hybrid"]["metric"] != 123.0


def test_resume_and_force_exclude_each_other(copy, capsys):
    assert run("--out", copy, "--resume", "--force") == 2
    assert "exclude each other" in one_error_line(capsys)


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run("--resume", "--out", tmp_path / "empty") == 2
    assert "not a run folder" in one_error_line(capsys)
    assert run("--resume", "--out", tmp_path / "typo") == 2
    assert "no run to resume here" in one_error_line(capsys)
    assert not (tmp_path / "typo").exists()


def test_out_that_is_a_file_or_read_only(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert run("--out", f) == 2
    assert "exists and is not a folder" in one_error_line(capsys)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        try:
            assert run("--out", ro / "run") == 2
            assert "cannot write" in one_error_line(capsys)
        finally:
            ro.chmod(0o755)


def _record(folder, **data):
    rec = json.loads((folder / "run.json").read_text())
    rec["data"].update(data)
    (folder / "run.json").write_text(json.dumps(rec))


def test_resume_without_the_data_it_was_trained_on(copy, tmp_path, capsys):
    trained_on = tmp_path / "caltech"
    trained_on.mkdir()
    _record(copy, source=str(trained_on), path=str(trained_on))
    assert run("--resume", "--out", copy) == 2
    assert f"was trained on {trained_on}; pass --data {trained_on}" in one_error_line(capsys)


def test_resume_with_data_of_a_synthetic_run(copy, tmp_path, capsys):
    (tmp_path / "other").mkdir()
    assert run("--resume", "--out", copy, "--data", tmp_path / "other") == 2
    assert "embedded default data set (synthetic); resume it without --data" in one_error_line(capsys)


def test_resume_on_different_data_content(copy, capsys):
    _record(copy, fingerprint="0" * 64)
    assert run("--resume", "--out", copy) == 2
    assert "differs from what this run was trained on" in one_error_line(capsys)


def _unfinished(folder):
    """The run as if stopped during the ANN stage, with its end-of-epoch checkpoint truncated."""
    last = folder / "ann_last.pt"
    last.write_bytes((folder / "ann.pt").read_bytes()[:200])
    for stage in ("ann", "converted", "hybrid"):
        (folder / f"{stage}.pt").unlink()
    (folder / "state.json").write_text(json.dumps({"rows": {}, "history": {}}))
    return last


def test_truncated_epoch_checkpoint_restarts_the_stage_with_a_warning(copy, capsys):
    last = _unfinished(copy)
    with pytest.warns(RunWarning, match=f"{last}: cannot resume from this checkpoint"):
        assert run("--resume", "--out", copy) == 0
    assert "[ann] training" in capsys.readouterr().out
    s = json.loads((copy / "summary.json").read_text())
    assert s["ann"]["epochs"] == MINI["train"]["epochs_ann"] and not last.exists()


def test_corrupt_state_recovers_finished_stages_from_checkpoints(copy, capsys):
    before = json.loads((copy / "summary.json").read_text())
    (copy / "state.json").write_text('{"rows": {"ann"')
    with pytest.warns(RunWarning, match="recovered the finished stages ann, converted, hybrid"):
        assert run("--resume", "--out", copy) == 0
    out = capsys.readouterr().out
    assert "] training" not in out and "fine-tuning" not in out
    after = json.loads((copy / "summary.json").read_text())
    assert after["hybrid"]["metric"] == before["hybrid"]["metric"]
    assert set(json.loads((copy / "state.json").read_text())["rows"]) == {"ann", "converted", "hybrid"}


def test_damaged_stage_checkpoint_is_redone(copy, capsys):
    (copy / "hybrid.pt").write_bytes(b"not a checkpoint")
    with pytest.warns(RunWarning, match="hybrid stage is done again"):
        assert run("--resume", "--out", copy) == 0
    out = capsys.readouterr().out
    assert "fine-tuning" in out and "] training" not in out


def test_non_finite_loss_stops_with_one_line(tmp_path, cfg_file, capsys, monkeypatch):
    from loihi_hybrid.tasks.locnet import LocNetTask

    real = LocNetTask.loss
    calls = {"n": 0}

    def loss(self, model, out, y):
        calls["n"] += 1  # epoch 1 is fine, epoch 2 diverges
        value = real(self, model, out, y)
        return value * float("nan") if calls["n"] > 1 else value

    monkeypatch.setattr(LocNetTask, "loss", loss)
    out = tmp_path / "run"
    assert run("--config", cfg_file, "--out", out) == 2
    line = one_error_line(capsys)
    assert "the ann stage diverged: loss is nan in epoch 2 (batch 1)" in line
    assert f"the checkpoint of epoch 1 is kept in {out / 'ann_last.pt'}" in line
    assert torch.load(out / "ann_last.pt", weights_only=True)["state"]["epoch"] == 1


@pytest.mark.parametrize("args, needle", [
    (["--seed", "-1"], "seed must be a whole number in [0, "),
    (["--device", "foo"], "--device must be cpu, cuda or cuda:N, got 'foo'"),
    (["--epochs-ann", "-2"], "train.epochs_ann must be a whole number >= 0, got -2"),
    (["--steps", "100000"], "steps must be >= 1 and <= 4096"),
])
def test_bad_options_exit_2(tmp_path, args, needle, capsys):
    assert run(*args, "--out", tmp_path / "run") == 2
    assert needle in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tmp_path, capsys):
    assert run("--device", "cuda", "--out", tmp_path / "run") == 2
    assert "CUDA is not available on this machine" in one_error_line(capsys)


def test_full_disk_while_saving_a_checkpoint_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    from loihi_hybrid.errors import InputError
    from loihi_hybrid.training.checkpoint import atomic_save

    target = tmp_path / "x.pt"
    atomic_save({"a": torch.zeros(2)}, target)

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(InputError, match="x.pt: cannot write: disk full"):
        atomic_save({"a": torch.ones(2)}, target)
    monkeypatch.undo()
    assert torch.equal(torch.load(target, weights_only=True)["a"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]
