"""Activity regularisers: exact gradients on hand cases, fan-outs as the energy model counts them, config keys,
and the curriculum's T per epoch."""
import pytest
import torch

from loihi_hybrid.config import RunConfig, validate
from loihi_hybrid.errors import InputError
from loihi_hybrid.models.layers import Flatten, conv_layer, dense_layer, dense_readout
from loihi_hybrid.models.network import SpikingNetwork
from loihi_hybrid.neurons import NeuronParams
from loihi_hybrid.tasks import load_config
from loihi_hybrid.training.loop import epoch_steps
from loihi_hybrid.training.regularization import (ActivityRegularizer, activity_regularizer, fan_outs,
                                                  rate_penalty, rate_penalty_above, synops_penalty)


def _grad(fn, *rates):
    rates = [r.clone().requires_grad_(True) for r in rates]
    loss = fn(rates)
    loss.backward()
    return float(loss.detach()), [r.grad for r in rates]


def test_above_penalty_gradient_only_above_the_target():
    r = torch.tensor([[0.10, 0.30, 0.25, 0.50]])   # one sample, 4 neurons; target 0.25
    loss, (g,) = _grad(lambda rs: rate_penalty_above(rs, 0.25), r)
    # mean of max(r - 0.25, 0)^2 = (0.05^2 + 0.25^2) / 4
    assert loss == pytest.approx((0.0025 + 0.0625) / 4)
    # d/dr = 2 (r - 0.25) / 4 above the target; exactly 0 below and at it
    torch.testing.assert_close(g, torch.tensor([[0.0, 0.025, 0.0, 0.125]]))
    assert g[0, 0] == 0 and g[0, 2] == 0


def test_above_penalty_is_a_mean_over_layers():
    r1 = torch.tensor([[0.5, 0.0], [0.0, 0.0]])    # 2 samples x 2 neurons: 4 entries
    r2 = torch.tensor([[0.2]])                      # below the target: no loss, no gradient
    loss, (g1, g2) = _grad(lambda rs: rate_penalty_above(rs, 0.25), r1, r2)
    assert loss == pytest.approx((0.25 ** 2 / 4 + 0.0) / 2)
    torch.testing.assert_close(g1, torch.tensor([[2 * 0.25 / 4 / 2, 0.0], [0.0, 0.0]]))
    torch.testing.assert_close(g2, torch.zeros(1, 1))


def test_toward_penalty_pulls_from_both_sides():
    r = torch.tensor([[0.10, 0.30, 0.25, 0.50]])
    loss, (g,) = _grad(lambda rs: rate_penalty(rs, 0.25), r)
    assert loss == pytest.approx((0.15 ** 2 + 0.05 ** 2 + 0 + 0.25 ** 2) / 4)
    torch.testing.assert_close(g, 2 * (r - 0.25) / 4)
    assert g[0, 0] < 0   # a neuron below the target is pushed up: the one-sided penalty does not do this


def test_synops_penalty_weights_each_layer_by_its_fan_out():
    r1 = torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.5, 0.1]])   # 2 samples x 3 neurons, fan-out 4
    r2 = torch.tensor([[0.4, 0.0], [0.2, 0.2]])             # 2 samples x 2 neurons, fan-out 1.5
    loss, (g1, g2) = _grad(lambda rs: synops_penalty(rs, [4.0, 1.5]), r1, r2)
    synapses = 4 * 3 + 1.5 * 2                              # 15 synapses
    ops = 4 * 1.2 + 1.5 * 0.8                               # synaptic operations per step, both samples
    assert loss == pytest.approx(ops / (2 * synapses))
    torch.testing.assert_close(g1, torch.full_like(r1, 4 / (2 * synapses)))
    torch.testing.assert_close(g2, torch.full_like(r2, 1.5 / (2 * synapses)))
    # every neuron firing every step: every synapse used every step
    assert float(synops_penalty([torch.ones(2, 3), torch.ones(2, 2)], [4.0, 1.5])) == pytest.approx(1.0)


def test_fan_outs_count_synapses_as_the_energy_model():
    # conv 3x3 (1 -> 2 channels, 4x4, padding 1) -> flatten -> dense 32 -> 3 -> readout 3 -> 1, as tests/test_energy.py:
    # the conv's 32 neurons feed 96 dense synapses (fan-out 3), the dense layer's 3 neurons feed 3 (fan-out 1)
    torch.manual_seed(0)
    n = NeuronParams()
    net = SpikingNetwork([conv_layer("conv", 1, 2, n), Flatten(), dense_layer("fc", 32, 3, n), dense_readout(3, 1)])
    assert fan_outs(net, (1, 4, 4)) == [3.0, 1.0]
    # stride 2 conv: 2 x 2 x 2 outputs x 18 taps = 144 synapses over the first conv's 2 x 4 x 4 = 32 neurons
    net = SpikingNetwork([conv_layer("c1", 1, 2, n), conv_layer("c2", 2, 2, n, stride=2), Flatten(),
                          dense_readout(8, 1)])
    assert fan_outs(net, (1, 4, 4)) == [144 / 32, 8 / 8]


def test_default_regulariser_is_the_paper_term_bit_for_bit():
    torch.manual_seed(1)
    rates = [torch.rand(4, 8), torch.rand(4, 3)]
    reg = ActivityRegularizer(0.01, 0.25)
    assert torch.equal(reg(rates), 0.01 * rate_penalty(rates, 0.25))
    assert not ActivityRegularizer(0.0, 0.25).active
    both = ActivityRegularizer(0.01, 0.25, "above", 0.5, [2.0, 1.0])
    assert torch.equal(both(rates), 0.01 * rate_penalty_above(rates, 0.25) + 0.5 * synops_penalty(rates, [2.0, 1.0]))


def test_regulariser_from_config():
    cfg = load_config("locnet", synthetic=True, overrides={"train": {"rate_penalty": "above", "synops_reg_weight": 0.1,
                                                                     "rate_target_hz": 100.0}})
    n = NeuronParams()
    net = SpikingNetwork([conv_layer("conv", 1, 2, n), Flatten(), dense_layer("fc", 32, 3, n), dense_readout(3, 1)])
    reg = activity_regularizer(cfg, net, (1, 4, 4))
    assert (reg.penalty, reg.target_per_step, reg.synops_weight, reg.fan_outs) == ("above", 0.1, 0.1, [3.0, 1.0])
    ann = activity_regularizer(cfg, net, (1, 4, 4), spiking=False)  # the ANN stage: the rate term only
    assert (ann.penalty, ann.rate_weight, ann.synops_weight, ann.fan_outs) == ("above", 0.01, 0.0, None)
    default = load_config("locnet", synthetic=True)
    assert (default.train.rate_penalty, default.train.synops_reg_weight, default.train.hybrid_steps) == ("toward", 0.0, ())


@pytest.mark.parametrize("over, msg", [
    ({"train": {"rate_penalty": "below"}}, "train.rate_penalty must be 'toward' or 'above', got \"below\""),
    ({"train": {"synops_reg_weight": -1}}, "train.synops_reg_weight must be a finite number >= 0, got -1"),
    ({"train": {"hybrid_steps": [32, 0]}}, "train.hybrid_steps must be a list of whole numbers in [1, 4096]"),
    ({"train": {"hybrid_steps": [32, 8.5]}}, "train.hybrid_steps must be a list of whole numbers in [1, 4096]"),
    ({"readout_warmup_auto": "yes"}, 'readout_warmup_auto must be true or false, got "yes"'),
    ({"input_once": 1}, "input_once must be true or false, got 1"),
])
def test_new_keys_are_checked(over, msg):
    with pytest.raises(InputError) as err:
        load_config("locnet", synthetic=True, overrides=over)
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_validate_checks_configs_built_in_python():
    cfg = RunConfig()
    cfg.train.rate_penalty = "sideways"
    with pytest.raises(InputError, match="train.rate_penalty"):
        validate(cfg, "config")


def test_epoch_steps_curriculum():
    assert [epoch_steps((32, 16, 8), e, 8) for e in range(5)] == [32, 16, 8, 8, 8]
    assert epoch_steps((), 3, 12) == 12


def test_ann_stage_says_the_synops_term_is_off_there(tmp_path):
    """The SynOps term is not applied in the ANN stage; a run that sets it is told so, not left to guess."""
    from loihi_hybrid.tasks import make_task
    from loihi_hybrid.workflows.train import run_pipeline

    tiny = {"steps": 6, "readout_warmup": 3, "channels": [4, 4, 4], "hidden": [8, 8, 8],
            "data": {"input_size": [12, 16], "synthetic_samples": 30},
            "train": {"epochs_ann": 1, "epochs_hybrid": 1, "batch_size": 16, "synops_reg_weight": 0.5}}
    cfg = load_config("locnet", synthetic=True, overrides=tiny)
    lines: list[str] = []
    run_pipeline(cfg, make_task(cfg).load_data(None), tmp_path, export=(), log=lines.append)
    ann = [ln for ln in lines if ln.startswith("[ann] training")]
    assert ann and "the SynOps term (train.synops_reg_weight) is off here" in ann[0]
