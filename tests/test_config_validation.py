"""Every config value is type- and range-checked, with one line naming the key."""
import json
from pathlib import Path

import pytest

import loihi_hybrid
from loihi_hybrid.config import MAX_STEPS, RunConfig, validate
from loihi_hybrid.errors import InputError
from loihi_hybrid.tasks import load_config, task_names

BAD = [
    ({"train": 5}, "train must be an object, got 5"),
    ({"neuron": [1]}, "neuron must be an object, got [1]"),
    ({"train": {"epochs_ann": 2.5}}, "train.epochs_ann must be a whole number >= 0, got 2.5"),
    ({"train": {"epochs_hybrid": -1}}, "train.epochs_hybrid must be a whole number >= 0, got -1"),
    ({"train": {"epochs_ann": "3"}}, 'train.epochs_ann must be a whole number >= 0, got "3"'),
    ({"train": {"max_train_batches": 0}},
     "train.max_train_batches must be null (all batches) or a whole number >= 1, got 0"),
    ({"train": {"max_train_batches": 1.5}}, "train.max_train_batches must be a whole number >= 1 or null, got 1.5"),
    ({"train": {"lr_ann": float("inf")}}, "train.lr_ann must be a finite number > 0, got Infinity"),
    ({"train": {"lr_hybrid": float("nan")}}, "train.lr_hybrid must be a finite number > 0, got NaN"),
    ({"train": {"lr_ann": 0}}, "train.lr_ann must be a finite number > 0, got 0.0"),
    ({"train": {"lr_ann": "0.01"}}, 'train.lr_ann must be a finite number > 0, got "0.01"'),
    ({"train": {"batch_size": 0}}, "train.batch_size must be a whole number >= 1, got 0"),
    ({"train": {"patience": True}}, "train.patience must be a whole number >= 1, got true"),
    ({"train": {"method": "sgd"}}, "train.method must be 'hybrid' or 'bptt', got \"sgd\""),
    ({"train": {"rate_reg_weight": -0.1}}, "train.rate_reg_weight must be a finite number >= 0, got -0.1"),
    ({"channels": []}, "channels must be a non-empty list of whole numbers >= 1, got []"),
    ({"channels": [4, -1, 4]}, "channels must be a non-empty list of whole numbers >= 1, got [4, -1, 4]"),
    ({"channels": [4, "8", 4]}, "channels must be a list of whole numbers, got [4, \"8\", 4]"),
    ({"hidden": 8}, "hidden must be a list of whole numbers, got 8"),
    ({"steps": 100000}, f"steps must be >= 1 and <= {MAX_STEPS} (the cap on time steps per sample), got 100000"),
    ({"steps": 0}, "steps must be >= 1"),
    ({"steps": 8, "readout_warmup": 8}, "readout_warmup must be a whole number in [0, steps) = [0, 8), got 8"),
    ({"seed": -1}, "seed must be a whole number in [0, "),
    ({"seed": "1"}, 'seed must be a whole number >= 0, got "1"'),
    ({"dt_s": 0}, "dt_s must be a finite number > 0, got 0.0"),
    ({"data": {"augment": "true"}}, 'data.augment must be true or false, got "true"'),
    ({"data": {"augment": 1}}, "data.augment must be true or false, got 1"),
    ({"data": {"input_size": [4, 8]}}, "data.input_size must be two sizes >= 8"),
    ({"data": {"test_frac": 1.0}}, "data.test_frac must be a number in [0, 1), got 1.0"),
    ({"data": {"test_frac": 0.6, "val_frac": 0.5}}, "data.test_frac + data.val_frac must be < 1"),
    ({"data": {"slice_axis": 3}}, "data.slice_axis must be 0, 1 or 2, got 3"),
    ({"data": {"synthetic_samples": 5}}, "data.synthetic_samples must be a whole number >= 10, got 5"),
    ({"neuron": {"threshold": 0}}, "neuron threshold must be > 0"),
    ({"neuron": {"threshold": "x"}}, 'neuron.threshold must be a finite number > 0, got "x"'),
    ({"neuron": {"tau_syn": -1}}, "neuron.tau_syn must be a finite number >= 0, got -1.0"),
    ({"neuron": {"tau_grad": 0}}, "neuron.tau_grad must be a finite number > 0, got 0.0"),
    ({"neuron": {"kind": 3}}, "neuron.kind must be a string, got 3"),
    ({"conversion": {"percentile": 101}}, "conversion.percentile must be a number in (0, 100], got 101.0"),
    ({"conversion": {"norm_rate": 0}}, "conversion.norm_rate must be a number in (0, 1], got 0.0"),
    ({"conversion": {"method": "max"}}, "conversion.method must be 'global' or 'normalised'"),
]


@pytest.mark.parametrize("over, needle", BAD, ids=[json.dumps(o) for o, _ in BAD])
def test_bad_value_is_one_line_naming_the_key(tmp_path, over, needle):
    f = tmp_path / "c.json"
    f.write_text(json.dumps(over))
    with pytest.raises(InputError) as e:
        load_config("locnet", synthetic=True, user_file=f)
    msg = str(e.value)
    assert needle in msg and msg.startswith(f"{f}: ") and "\n" not in msg, msg


@pytest.mark.parametrize("task", task_names())
@pytest.mark.parametrize("synthetic", [True, False])
def test_packaged_configs_pass(task, synthetic):
    load_config(task, synthetic=synthetic)


def test_shipped_run_configs_pass():
    """Every ``configs/<network>_*.json`` (the README's commands pass them with ``--config``) loads over its
    network's real-data defaults."""
    folder = Path(loihi_hybrid.__file__).parent / "configs"
    files = [f for f in sorted(folder.glob("*_*.json")) if f.stem.split("_")[0] in task_names()]
    assert len(files) >= 4
    for f in files:
        load_config(f.stem.split("_")[0], synthetic=False, user_file=f)


def test_good_edge_values_pass():
    cfg = load_config("locnet", synthetic=True, overrides={
        "steps": MAX_STEPS, "readout_warmup": 0, "seed": 0, "train": {"epochs_ann": 0, "max_train_batches": None,
                                                                       "lr_ann": 1}})
    assert cfg.steps == MAX_STEPS and isinstance(cfg.train.lr_ann, float) and cfg.channels == (8, 16, 16)


def test_configs_built_in_python_are_checked_too():
    cfg = RunConfig()
    cfg.train.epochs_ann = 2.5
    with pytest.raises(InputError, match=r"train.epochs_ann must be a whole number >= 0, got 2.5"):
        validate(cfg, "config")


@pytest.mark.parametrize("task, over, key, owner", [
    ("cae", {"train": {"box_loss": "giou"}}, "train.box_loss", "locnet"),
    ("digits", {"data": {"protocol": "placed"}}, "data.protocol", "locnet"),
    ("locnet", {"train": {"dice_weight": 0.7}}, "train.dice_weight", "cae"),
])
def test_a_key_only_another_network_reads_is_refused(tmp_path, task, over, key, owner):
    """A setting meant for one network, given to another that would ignore it, is one line naming the key and
    the file, not a run that silently trains without it."""
    f = tmp_path / "c.json"
    f.write_text(json.dumps(over))
    with pytest.raises(InputError) as e:
        load_config(task, synthetic=True, user_file=f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: {key} is read by the {owner} network only, not by {task}") and "\n" not in msg
    load_config(owner, synthetic=True, user_file=f)  # the network that reads it takes it


def test_finetune_refuses_a_foreign_key_with_exit_code_2(tmp_path, capsys):
    from loihi_hybrid.cli.finetune import main

    f = tmp_path / "c.json"
    f.write_text(json.dumps({"train": {"box_loss": "giou"}}))
    assert main(["cae", "--config", str(f), "--out", str(tmp_path / "run")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "train.box_loss is read by the locnet network only" in err[0]
    assert not (tmp_path / "run").exists()
