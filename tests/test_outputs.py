"""Output paths are checked before any work; every write is atomic (a full disk keeps the old file).

A path whose parent is a file is the unwritable case (tests run as root, so chmod would not stop them);
a full disk is simulated by making the write of the temporary file fail with ENOSPC after half of it.
"""
from __future__ import annotations

import errno
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from loihi_hybrid.cli import bench as bench_cli
from loihi_hybrid.cli import deploy as deploy_cli
from loihi_hybrid.cli import export as export_cli
from loihi_hybrid.cli import reproduce as reproduce_cli
from loihi_hybrid.errors import InputError
from loihi_hybrid.reports.cache import ResultCache

REPO = Path(__file__).resolve().parents[1]
CAE_EXPORT = REPO / "netx_exports" / "cae_hybrid.net"


def _no_work(*_args, **_kwargs):
    raise AssertionError("work started before the output paths were checked")


@pytest.fixture
def blocked(tmp_path: Path) -> Path:
    """A file: any path under it cannot be created."""
    f = tmp_path / "a_file"
    f.write_text("x")
    return f


def _stderr(text: str) -> str:
    """stderr without a tqdm progress bar (it redraws with carriage returns and clears itself)."""
    return text.rsplit("\r", 1)[-1].strip()


def _one_line_exit_2(code: int, capsys, *needles: str) -> str:
    err = _stderr(capsys.readouterr().err)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def _disk_full(monkeypatch) -> None:
    """Writes of temporary files put half their text on disk, then fail as on a full disk."""
    real = Path.write_text

    def write_text(self, data, *args, **kwargs):
        if self.name.endswith(".tmp"):
            real(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --- checked before any work -------------------------------------------------------------------------------

@pytest.mark.parametrize("option", ["--json", "--plots"])
@pytest.mark.parametrize("case", ["under-a-file", "wrong-kind"])
def test_deploy_unwritable_outputs_fail_before_loading(option, case, blocked, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("loihi_hybrid.workflows.deploy.open_export", _no_work)
    monkeypatch.setattr("loihi_hybrid.workflows.deploy.deploy", _no_work)
    if case == "under-a-file":
        target = blocked / "out.json"
    else:  # --json names a folder, --plots names a file
        target = tmp_path if option == "--json" else blocked
    code = deploy_cli.main(["--backend", "emu", "--model", "missing.net", option, str(target)])
    _one_line_exit_2(code, capsys, str(target))


def test_export_out_unwritable_fails_before_loading(blocked, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "locnet"}))
    monkeypatch.setattr("loihi_hybrid.workflows.export.export_run", _no_work)
    for target, needle in ((tmp_path, "is a folder"), (blocked / "x.net", "not a folder")):
        code = export_cli.main([str(run), "--out", str(target)])
        _one_line_exit_2(code, capsys, str(target), needle)


def test_export_model_checks_the_path_before_quantising(blocked):
    with pytest.raises(InputError, match="not a folder"):
        from loihi_hybrid.workflows.export import export_model
        export_model(None, None, None, blocked / "x.net", "hybrid")  # model None: nothing may be touched


def test_reproduce_out_unwritable_fails_before_work(blocked, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("loihi_hybrid.workflows.reproduce.reproduce", _no_work)
    code = reproduce_cli.main(["--data", str(tmp_path), "--out", str(blocked / "report")])
    _one_line_exit_2(code, capsys, "report", "not a folder")
    code = reproduce_cli.main(["--data", str(tmp_path), "--out", str(blocked)])
    _one_line_exit_2(code, capsys, "exists and is not a folder")
    code = reproduce_cli.main(["--data", str(tmp_path), "--out", str(tmp_path / "r"), "--steps", "4,x"])
    _one_line_exit_2(code, capsys, "--steps")


def test_reproduce_reads_its_json_inputs_before_work(tmp_path, monkeypatch):
    from loihi_hybrid.workflows import reproduce as wf

    monkeypatch.setattr(wf, "network_results", _no_work)
    bad = tmp_path / "bench.json"
    bad.write_text('{"truncated": ')
    with pytest.raises(InputError, match="not a valid bench.py --json output"):
        wf.reproduce(tmp_path, tmp_path / "out", tasks=("locnet",), bench_json=bad)


def test_bench_json_unwritable_fails_before_measuring(blocked, monkeypatch, capsys):
    monkeypatch.setattr("loihi_hybrid.workflows.bench.run_suite", _no_work)
    code = bench_cli.main(["--quick", "--json", str(blocked / "bench.json")])
    _one_line_exit_2(code, capsys, "bench.json")


# --- atomic writes -----------------------------------------------------------------------------------------

class _FakeTask:
    default_source = "synthetic"

    @staticmethod
    def load_data(_folder):
        return None


def _fake_deploy(monkeypatch, summary: dict) -> None:
    monkeypatch.setattr("loihi_hybrid.workflows.deploy.open_export",
                        lambda _p: (None, {"preprocessing": {"data_source": "synthetic"}}, _FakeTask()))
    monkeypatch.setattr("loihi_hybrid.workflows.deploy.deploy", lambda *a, **k: summary)
    monkeypatch.setattr(deploy_cli, "_table", lambda s: "the table")


def test_deploy_json_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch, capsys):
    old = tmp_path / "summary.json"
    old.write_text('{"old": true}')
    _fake_deploy(monkeypatch, {"metric": 0.5, "extra": {}})
    _disk_full(monkeypatch)
    code = deploy_cli.main(["--backend", "emu", "--model", "m.net", "--json", str(old)])
    out = capsys.readouterr()
    assert code == 2 and "the table" in out.out  # the result was printed before the write
    err = _stderr(out.err)
    assert len(err.splitlines()) == 1 and "disk full" in err and str(old) in err, err
    assert json.loads(old.read_text()) == {"old": True}
    assert _leftovers(tmp_path) == []


def test_deploy_json_is_replaced_whole(tmp_path, monkeypatch, capsys):
    old = tmp_path / "summary.json"
    old.write_text('{"old": true}')
    _fake_deploy(monkeypatch, {"metric": 0.5, "extra": {}})
    assert deploy_cli.main(["--backend", "emu", "--model", "m.net", "--json", str(old)]) == 0
    assert json.loads(old.read_text()) == {"metric": 0.5, "extra": {}}
    assert _leftovers(tmp_path) == []


def test_deploy_cli_writes_the_json_even_when_the_figures_failed(tmp_path, monkeypatch, capsys):
    _fake_deploy(monkeypatch, {"metric": 0.5, "extra": {"plots": [], "plots_error": "x.png: cannot write: disk full"}})
    code = deploy_cli.main(["--backend", "emu", "--model", "m.net", "--json", str(tmp_path / "s.json"),
                            "--plots", str(tmp_path / "figs")])
    _one_line_exit_2(code, capsys, "figures not written", "disk full")
    assert json.loads((tmp_path / "s.json").read_text())["metric"] == 0.5


def test_figures_on_a_full_disk_keep_the_old_png_and_no_temp_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from loihi_hybrid.plots.deploy import plot_layer_rates

    layers = [{"name": "a", "firing_rate_hz": 3.0}, {"name": "b", "firing_rate_hz": 5.0}]
    png = plot_layer_rates(layers, tmp_path / "rates.png")
    assert png.read_bytes().startswith(b"\x89PNG")  # a PNG although the temporary file had another suffix
    before = png.read_bytes()
    real = Figure.savefig

    def savefig(self, fname, *args, **kwargs):
        real(self, fname, *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", savefig)
    with pytest.raises(InputError, match="disk full"):
        plot_layer_rates(layers[:1], png)
    assert png.read_bytes() == before
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(not CAE_EXPORT.is_file(), reason="committed CAE export missing")
def test_deploy_keeps_its_result_when_the_figures_cannot_be_written(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from loihi_hybrid.data import ArraySplit, DataSplits
    from loihi_hybrid.workflows.deploy import deploy, open_export

    net, meta, _ = open_export(CAE_EXPORT)
    x = np.random.default_rng(0).random((2, *net.input_shape)).astype(np.float32)
    part = ArraySplit(x=x, y=(x > 0.5).astype(np.float32), names=["a", "b"], groups=np.arange(2))
    data = DataSplits(train=part, val=part, test=part, source="synthetic", task=meta["task"])

    def savefig(self, *_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", savefig)
    with pytest.warns(RuntimeWarning, match="figures not written.*disk full"):
        summary = deploy(CAE_EXPORT, data, backend="emu", plots=tmp_path / "figs")
    assert summary["metric"] is not None and summary["extra"]["plots"] == []
    assert "disk full" in summary["extra"]["plots_error"]
    assert _leftovers(tmp_path / "figs") == []


def test_curves_png_is_written_atomically(tmp_path, monkeypatch):
    from loihi_hybrid.plots.curves import plot_curves

    history = {"ann": [{"epoch": 1, "train_loss": 1.0, "val_metric": 0.5}]}
    path = tmp_path / "training_curves.png"
    plot_curves(history, "IoU", path)
    assert path.read_bytes().startswith(b"\x89PNG") and _leftovers(tmp_path) == []


# --- the report cache and the report files -----------------------------------------------------------------

@pytest.mark.parametrize("content", ['{"a/b/c": 1, "trunc', "not json at all", "[1, 2]", b"\xff\xfe\x00"])
def test_corrupt_cache_is_moved_aside_and_recomputed(tmp_path, content):
    path = tmp_path / "cache.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.warns(RuntimeWarning, match=r"cache\.json: corrupt cache.*moved aside to cache\.json\.corrupt"):
        cache = ResultCache(path)
    assert cache.data == {}
    raw = content if isinstance(content, bytes) else content.encode()
    assert (tmp_path / "cache.json.corrupt").read_bytes() == raw and not path.exists()
    calls = []
    assert cache.get_or_compute("t/part/x", lambda: calls.append(1) or 42, log=lambda _m: None) == 42
    assert calls == [1]
    assert json.loads(path.read_text()) == {"t/part/x": 42}
    again = ResultCache(path)
    assert again.get_or_compute("t/part/x", lambda: calls.append(1) or 0, log=lambda _m: None) == 42
    assert calls == [1]


def test_cache_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "cache.json"
    cache = ResultCache(path)
    cache.put("t/a/1", 1)
    before = path.read_text()
    _disk_full(monkeypatch)
    with pytest.raises(InputError, match="disk full"):
        cache.put("t/b/2", [2] * 100)
    assert path.read_text() == before and _leftovers(tmp_path) == []


def test_report_files_and_readme_splice_are_atomic(tmp_path, monkeypatch):
    from loihi_hybrid.workflows import reproduce as wf

    monkeypatch.setattr(wf, "targets_table", lambda r: "TARGETS")
    monkeypatch.setattr(wf, "readme_block", lambda r, c, p: "<!-- results -->\nBLOCK\n")
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n## Results\n\nold text\n")
    readme.chmod(0o644)
    out = tmp_path / "report"
    out.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wf.write_report(out, {"bench": None}, ["SECTION"], "cmd", 1.0, readme, log=lambda _m: None)
    assert "TARGETS" in (out / "report.md").read_text() and "SECTION" in (out / "report.md").read_text()
    assert json.loads((out / "results.json").read_text()) == {"bench": None}
    assert "BLOCK" in (out / "readme_results.md").read_text() and "BLOCK" in readme.read_text()
    assert readme.read_text().startswith("# Title") and readme.stat().st_mode & 0o777 == 0o644
    assert _leftovers(out) == [] and _leftovers(tmp_path) == []

    before = {p.name: p.read_bytes() for p in (out / "report.md", out / "results.json", readme)}
    _disk_full(monkeypatch)
    with pytest.raises(InputError, match="disk full"):
        wf.write_report(out, {"bench": None, "new": 1}, ["NEW"], "cmd", 1.0, readme, log=lambda _m: None)
    assert {p.name: p.read_bytes() for p in (out / "report.md", out / "results.json", readme)} == before
    assert _leftovers(out) == []
