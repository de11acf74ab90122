"""Configuration: packaged defaults per network, overrides, one-line errors for nonsense."""
import json

import pytest

from loihi_hybrid.tasks import load_config
from loihi_hybrid.errors import InputError


@pytest.mark.parametrize("task", ["locnet", "cae"])
def test_packaged_defaults_are_the_paper_settings(task):
    cfg = load_config(task, synthetic=False)
    assert cfg.train.rate_target_hz == 250.0 and cfg.train.rate_reg_weight == 0.01
    assert cfg.conversion.firing_rate_scale == 1000.0
    if task == "locnet":
        assert cfg.neuron.kind == "lif" and cfg.train.epochs_ann == 50 and cfg.train.epochs_hybrid == 7
        assert cfg.neuron.tau_syn == 5.0
    else:
        assert cfg.neuron.kind == "if" and cfg.train.bce_weight == cfg.train.dice_weight == 0.5


def test_synthetic_overrides_and_cli_overrides(tmp_path):
    user = tmp_path / "c.json"
    user.write_text(json.dumps({"train": {"batch_size": 3}}))
    cfg = load_config("locnet", synthetic=True, user_file=user, overrides={"steps": 7, "readout_warmup": 3})
    assert cfg.steps == 7 and cfg.train.batch_size == 3
    assert cfg.train.epochs_ann != load_config("locnet", synthetic=False).train.epochs_ann


@pytest.mark.parametrize("content, needle", [
    ('{"train": {"epochs_ann": -1}}', "train.epochs_ann must be a whole number >= 0, got -1"),
    ('{"train": 5}', "train must be an object, got 5"),
    ('{"train": {"lr_ann": Infinity}}', "train.lr_ann must be a finite number > 0, got Infinity"),
    ('{"steps": 0}', "steps must be >= 1"),
    ('{"trian": {}}', "unknown setting 'trian'"),
    ('{"neuron": {"kind": "alif"}}', "neuron kind"),
    ('{"train": ', "invalid JSON"),
])
def test_bad_config_is_one_clear_line(tmp_path, content, needle):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(InputError) as e:
        load_config("cae", synthetic=True, user_file=f)
    assert needle in str(e.value) and str(f) in str(e.value) and "\n" not in str(e.value)


def test_unknown_network():
    with pytest.raises(InputError, match="unknown network"):
        load_config("resnet", synthetic=True)


def test_readout_warmup_must_leave_steps(tmp_path):
    f = tmp_path / "c.json"
    f.write_text('{"steps": 8, "readout_warmup": 8}')
    with pytest.raises(InputError, match="readout_warmup"):
        load_config("locnet", synthetic=True, user_file=f)


def test_steps_option_says_what_it_did_to_the_readout_window(tmp_path):
    """``finetune.py --steps 16`` replaces a config file's warm-up with T // 2 and says so; with
    ``readout_warmup_auto`` it says the warm-up will be measured."""
    from loihi_hybrid.cli.finetune import _overrides, parse_args, steps_note

    f = tmp_path / "c.json"
    f.write_text('{"steps": 32, "readout_warmup": 5}')
    a = parse_args(["locnet", "--config", str(f), "--steps", "16"])
    cfg = load_config("locnet", synthetic=True, user_file=f, overrides=_overrides(a))
    assert (cfg.steps, cfg.readout_warmup) == (16, 8)
    assert steps_note(cfg) == ("--steps 16: readout_warmup 8 (T // 2, replacing any config file's), "
                               "the readout averages steps 8-15")
    f.write_text('{"steps": 32, "readout_warmup": 5, "readout_warmup_auto": true}')
    cfg = load_config("locnet", synthetic=True, user_file=f, overrides=_overrides(a))
    assert "measured after conversion" in steps_note(cfg)
