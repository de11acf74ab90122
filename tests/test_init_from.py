"""``finetune.py --init CKPT`` (config ``init_from``): a run starts from an earlier run's stage checkpoint
instead of training its ANN (e.g. a T = 32 hybrid SNN fine-tuned again at a shorter T)."""
from __future__ import annotations

import json

import pytest
import torch

from loihi_hybrid.cli import finetune

MINI = {"steps": 4, "readout_warmup": 2, "channels": [2, 2, 2], "hidden": [4, 4, 4],
        "data": {"input_size": [8, 8], "synthetic_samples": 60},
        "train": {"epochs_ann": 2, "epochs_hybrid": 1, "batch_size": 8, "max_train_batches": 2}}


def weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    cfg = root / "mini.json"
    cfg.write_text(json.dumps(MINI))
    assert finetune.main(["locnet", "--config", str(cfg), "--out", str(root / "src"), "--device", "cpu"]) == 0
    return root, cfg


def test_a_run_starts_from_the_checkpoint_at_another_T(source, capsys):
    root, cfg = source
    ckpt = root / "src" / "hybrid.pt"
    out = root / "again"
    assert finetune.main(["locnet", "--config", str(cfg), "--init", str(ckpt), "--steps", "6",
                          "--out", str(out), "--device", "cpu"]) == 0
    out_text = capsys.readouterr().out
    assert f"| initial weights as ANN (hybrid stage of {ckpt}) |" in out_text  # not "pure ANN"
    assert "; this run changes readout_warmup, steps\n" in out_text  # what differs from the source's config
    got, src = weights(out / "ann.pt"), weights(ckpt)
    assert got.keys() == src.keys() and all(torch.equal(got[k], src[k]) for k in src)  # not trained
    s = json.loads((out / "summary.json").read_text())
    assert s["ann"]["epochs"] == 0 and s["ann"]["extra"]["init_from"] == str(ckpt)
    assert s["ann"]["extra"]["init_stage"] == "hybrid"
    c = json.loads((out / "config.json").read_text())
    assert c["init_from"] == str(ckpt) and c["steps"] == 6 and s["hybrid"]["epochs"] == 1
    h = weights(out / "hybrid.pt")
    assert any(not torch.equal(h[k], src[k]) for k in src)  # the hybrid stage did train


@pytest.mark.parametrize("extra, needle", [
    (["--init", "nowhere.pt"], "nowhere.pt: checkpoint not found"),
    (["--init", "{src}/hybrid.pt", "--resume"], "--init starts a run"),
    (["--init", "{src}/hybrid.pt", "--config", "{wide}"], "init_from: its network differs from this run's"),
    (["--init", "{src}/config.json"], "cannot load checkpoint"),
])
def test_bad_init_is_one_line_and_exit_2(source, extra, needle, capsys, tmp_path):
    root, cfg = source
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({**MINI, "hidden": [5, 4, 4]}))
    args = [x.format(src=root / "src", wide=wide) for x in extra]
    if "--config" not in args:
        args += ["--config", str(cfg)]
    assert finetune.main(["locnet", *args, "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err


def test_init_refuses_a_network_with_the_same_shapes_but_other_strides(source, capsys, tmp_path, monkeypatch):
    """Shapes alone do not fix the function: a checkpoint whose first conv has another stride (as a
    checkpoint of another code version could) is refused in one line naming the layer."""
    from loihi_hybrid.workflows import train as workflow

    real = workflow.load_model

    def other_stride(path, device=None):
        model, cfg, stage = real(path, device=device)
        model.spiking_layers()[0].synapse.stride = (2, 2, 1)
        return model, cfg, stage

    monkeypatch.setattr(workflow, "load_model", other_stride)
    root, cfg = source
    args = ["locnet", "--config", str(cfg), "--init", str(root / "src" / "hybrid.pt"), "--out", str(tmp_path / "o"),
            "--device", "cpu"]
    assert finetune.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "its layer 1 is conv stride 2 padding 1, this run's is conv stride 1 padding 1" in err[0], err


def test_init_refuses_biased_weights_for_sigma_delta_layers(source, capsys, tmp_path):
    """A sigma-delta layer has no bias (it would send a transient before the image arrives): a CUBA run's
    checkpoint, whose layers have biases, is refused in one line naming the first such layer."""
    root, _ = source
    sd = tmp_path / "sd.json"
    sd.write_text(json.dumps({**MINI, "neuron": {"kind": "sd"}, "input_once": True, "steps": 12, "readout_warmup": 10}))
    assert finetune.main(["locnet", "--config", str(sd), "--init", str(root / "src" / "hybrid.pt"),
                          "--out", str(tmp_path / "o"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "init_from: its layer conv1 has a bias" in err[0], err
