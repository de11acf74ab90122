"""The third network, digits (scikit-learn's bundled 8x8 digits), through the task registry: data, metrics,
decoding, and a tiny run of the whole pipeline whose export the emulator back end reproduces."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from loihi_hybrid.data import ArraySplit, DataSplits
from loihi_hybrid.data.digits import shift_digits
from loihi_hybrid.errors import InputError
from loihi_hybrid.tasks import get_task, load_config, make_task, task_names


def _task(**overrides):
    return make_task(load_config("digits", synthetic=True, overrides=overrides or None))


def _split(y, x=None) -> ArraySplit:
    y = np.asarray(y, dtype=np.float32)
    x = np.zeros((len(y), 1, 8, 8), np.float32) if x is None else x
    return ArraySplit(x=x, y=y, names=[f"s{i}" for i in range(len(y))], groups=np.arange(len(y)))


def test_registered_with_its_packaged_config():
    assert "digits" in task_names() and {"locnet", "cae"} <= set(task_names())
    cls = get_task("digits")
    assert cls.metric_name == "accuracy" and cls.in_channels == 1
    cfg = load_config("digits", synthetic=True)
    assert cfg.task == "digits" and tuple(cfg.data.input_size) == (8, 8)
    assert 0 <= cfg.readout_warmup < cfg.steps
    assert load_config("digits", synthetic=False) == cfg  # no --data is the normal case: same settings


def test_data_deterministic_and_in_range():
    task = _task()
    a, b = task.load_data(None), task.load_data(None)
    assert a.task == "digits" and a.source == type(task).default_source and a.skipped == []
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    for part_a, part_b in zip((a.train, a.val, a.test), (b.train, b.val, b.test)):
        assert np.array_equal(part_a.x, part_b.x) and np.array_equal(part_a.y, part_b.y)
        assert part_a.x.dtype == np.float32 and part_a.x.shape[1:] == (1, 8, 8)
        assert part_a.x.min() >= 0.0 and part_a.x.max() <= 1.0
        assert set(np.unique(part_a.y)) <= set(range(10)) and np.all(part_a.y == np.round(part_a.y))
    assert a.train.x.max() == 1.0  # pixel value 16 -> 1
    groups = [set(p.groups.tolist()) for p in (a.train, a.val, a.test)]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert set(np.unique(a.train.y)) == set(range(10))
    other = _task(seed=1).load_data(None)
    assert not np.array_equal(other.test.groups, a.test.groups)


def test_bundled_set_takes_no_data_folder(tmp_path):
    with pytest.raises(InputError, match="no data folder"):
        _task().load_data(tmp_path)
    with pytest.raises(InputError, match="input_size"):
        _task(data={"input_size": [16, 16]}).load_data(None)


def test_score_hand_case():
    task = _task()
    pred = np.full((4, 10), 0.01)
    pred[0, 3] = pred[1, 5] = pred[2, 0] = 0.9  # right, right, right
    pred[3, 2], pred[3, 7] = 0.9, 0.5           # wrong (label 7), but 7 is second
    metric, extra = task.score(pred, _split([3, 5, 0, 7]))
    assert metric == pytest.approx(0.75) and isinstance(metric, float)
    assert extra["top2_accuracy"] == pytest.approx(1.0)
    assert extra["per_class_accuracy"] == {"0": 1.0, "3": 1.0, "5": 1.0, "7": 0.0}


def test_baseline_is_the_majority_training_class():
    task = _task()
    data = DataSplits(train=_split([1, 1, 2, 4, 1]), val=_split([2]), test=_split([1, 2, 1, 3]),
                      source="hand", task="digits")
    metric, extra = task.baseline(data)
    assert metric == pytest.approx(0.5) and extra["majority_class"] == 1
    assert task.deploy_extra(data, data.test.subset([0, 1]))["majority_class_baseline"] == pytest.approx(0.5)


def test_decode_same_for_torch_and_numpy():
    task = _task()
    y = np.random.default_rng(0).normal(scale=5.0, size=(6, 10))
    from_torch = task.decode_values(torch.as_tensor(y, dtype=torch.float64), {}).numpy()
    from_numpy = task.decode_values(y, {})
    from_export = task.decode_readout(y, {"output": "..."})
    assert isinstance(from_numpy, np.ndarray)
    np.testing.assert_allclose(from_torch, from_numpy, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(from_export, from_numpy, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(from_numpy.sum(-1), 1.0)
    assert np.array_equal(from_numpy.argmax(-1), y.argmax(-1))
    big = np.array([[1000.0, 0.0] + [0.0] * 8])  # no overflow
    assert np.isfinite(task.decode_values(big, {})).all()


def test_shift_augmentation_keeps_labels_and_range():
    x = np.random.default_rng(1).random((5, 1, 8, 8)).astype(np.float32)
    y = np.arange(5, dtype=np.float32)
    x2, y2 = shift_digits(x, y, np.random.default_rng(0))
    assert x2.shape == x.shape and x2.dtype == x.dtype and np.array_equal(y2, y)
    assert x2.min() >= 0 and x2.max() <= 1 and np.all(x2.sum((1, 2, 3)) <= x.sum((1, 2, 3)) + 1e-5)
    x0, _ = shift_digits(x, y, np.random.default_rng(0), max_shift=0)
    assert np.array_equal(x0, x)


def test_model_shape():
    task = _task()
    model = task.build()
    assert model.readout_warmup == task.cfg.readout_warmup
    out = model(torch.rand(3, 1, 8, 8), "ann")
    assert out.shape == (3, 10)
    assert [m.name for m in model.spiking_layers()] == ["conv1", "pool1", "fc1"]


def test_compact_stages_and_channel_count_checks():
    cfg = load_config("digits", synthetic=True, overrides={"pool_convs": False, "channels": [4, 8, 6]})
    model = make_task(cfg).build()
    assert [m.name for m in model.spiking_layers()] == ["conv1", "conv2", "conv3", "fc1"]
    assert model(torch.rand(2, 1, 8, 8), "ann").shape == (2, 10)  # 8x8 -> 4 -> 2 -> 1: 6 inputs to fc1
    assert model.spiking_layers()[-1].synapse.weight.shape[1] == 6
    with pytest.raises(InputError, match="channels must be pairs"):
        make_task(load_config("digits", synthetic=True, overrides={"channels": [4, 8, 6]})).build()


TINY = {"steps": 8, "readout_warmup": 4, "channels": [4, 8], "hidden": [16],
        "data": {"test_frac": 0.05, "val_frac": 0.05},
        "train": {"epochs_ann": 3, "epochs_hybrid": 1, "batch_size": 64, "lr_ann": 0.006,
                  "max_train_batches": 4}}


def test_tiny_pipeline_export_and_emulator(tmp_path):
    from loihi_hybrid.cli.deploy import main as deploy_main
    from loihi_hybrid.workflows.deploy import deploy
    from loihi_hybrid.workflows.train import run_pipeline

    cfg = load_config("digits", synthetic=True, overrides=TINY)
    data = make_task(cfg).load_data(None)
    summary = run_pipeline(cfg, data, tmp_path, export=("hybrid",), log=lambda _: None)
    assert summary["task"] == "digits" and summary["metric_name"] == "accuracy"
    # three epochs of a tiny ANN already beat chance (0.1) and the majority class by far (measured: 0.66)
    assert summary["ann"]["metric"] > 0.5 and summary["baseline"]["metric"] < 0.2
    for stage in ("converted", "hybrid"):  # T = 8 only (measured: about 0.6)
        assert 0.25 < summary[stage]["metric"] <= 1.0 and summary[stage]["firing_rate_hz"] > 0
    path = tmp_path / "digits_hybrid.net"
    assert summary["exports"] == {"hybrid": str(path)} and path.exists()

    out = deploy(path, data, backend="emu")
    at_export = out["extra"]["test_metric_at_export"]
    assert out["task"] == "digits" and out["n_samples"] == len(data.test) == at_export["n_samples"]
    assert out["metric"] == pytest.approx(at_export["fixed_point_emulation"], abs=1e-12)
    assert "majority_class_baseline" in out["extra"]
    # the CLI takes no --data for the bundled set (the export's data source is the task's default)
    assert deploy_main(["--backend", "emu", "--model", str(path), "--limit", "5"]) == 0


def test_prediction_figure(tmp_path):
    task = _task()
    part = task.load_data(None).test.subset(slice(0, 5))
    pred = np.eye(10)[part.y.astype(int)]
    pred[0] = np.roll(pred[0], 1)  # one wrong
    path = task.plot_predictions(part, pred, tmp_path / "emu", "emu")
    assert path == tmp_path / "emu_digits.png" and path.stat().st_size > 1000
