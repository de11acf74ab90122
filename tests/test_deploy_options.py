"""deploy.py options that only one kind of run reads are refused on the other kind (one line, exit 2), instead of
being ignored: an export run with a plain-NetX option, or --inputs with options that pick data samples."""
from pathlib import Path

import numpy as np
import pytest

from loihi_hybrid.cli.deploy import main

EXPORT = Path(__file__).resolve().parents[1] / "netx_exports" / "locnet_hybrid.net"


@pytest.fixture
def images(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).random((2, 3, 48, 72)).astype(np.float32))
    return str(path)


@pytest.mark.parametrize("extra, needle", [
    (["--limit", "3"], "--limit select or draw data samples"),
    (["--split", "all"], "--split select or draw data samples"),
    (["--protocol", "paper"], "--protocol select or draw data samples"),
    (["--data", "somewhere", "--plots", "p"], "--data, --plots select or draw data samples"),
    (["--workers", "2"], "--workers shards the samples of --data"),
    (["--steps", "16"], "--steps apply to plain NetX files only"),
    (["--layout", "xyc", "--spike-exp", "3"], "--layout, --spike-exp apply to plain NetX files only"),
])
def test_options_another_kind_of_run_reads_are_refused(images, extra, needle, capsys):
    assert main(["--backend", "emu", "--model", str(EXPORT), "--inputs", images, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_plain_option_on_an_export_run_on_data_is_refused(capsys):
    assert main(["--backend", "emu", "--model", str(EXPORT), "--save", "out.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--save apply to plain NetX files only" in err[0]


def test_export_on_images_still_runs(images, capsys):
    assert main(["--backend", "emu", "--model", str(EXPORT), "--inputs", images]) == 0
    assert "no task metric on 2 samples (emu)" in capsys.readouterr().out
