"""Measured per-layer latency, the readout warm-up set from it, and the hybrid curriculum over T (tiny nets)."""
from pathlib import Path

import torch

from loihi_hybrid.models import Mode
from loihi_hybrid.models.layers import dense_layer, dense_readout
from loihi_hybrid.models.network import SpikingNetwork, warmup_for
from loihi_hybrid.neurons import NeuronParams
from loihi_hybrid.training.loop import train_stage

from test_training_loop import ScriptedTask, TinyNet, _splits


def _chain(tau_syn: float, w1: float, w2: float) -> SpikingNetwork:
    """1 input -> 1 IF neuron -> 1 IF neuron -> readout; weights w1, w2, biases 0."""
    n = NeuronParams(kind="if", t_ref=0.0, tau_syn=tau_syn)
    net = SpikingNetwork([dense_layer("a", 1, 1, n), dense_layer("b", 1, 1, n), dense_readout(1, 1)])
    with torch.no_grad():
        for m, w in zip(net.spiking_layers(), (w1, w2)):
            m.synapse.weight.fill_(w)
            m.bias.zero_()
    return net


def test_latency_hand_case_without_filter():
    # no current filter: u = 0.4 from step 0, v = 0.4, 0.8, 1.2 -> first spike at step 2, then every 3rd step
    # (steady rate 1/3); layer b (weight 1.5) spikes in the step of each input spike: latency 2 as well
    net = _chain(0.0, 0.4, 1.5)
    assert net.layer_latencies(torch.ones(2, 1), probe_steps=64) == [2, 2]


def test_latency_grows_with_the_filter_and_with_depth():
    fast = _chain(0.0, 1.5, 1.5).layer_latencies(torch.ones(1, 1))
    slow = _chain(5.0, 1.5, 1.5).layer_latencies(torch.ones(1, 1))
    assert fast == [0, 0]                      # spikes every step from step 0
    assert slow[0] > 0 and slow[1] >= slow[0]  # the 5-step filter must fill first; never earlier than the layer before


def test_silent_layer_takes_the_latency_before_it():
    assert _chain(0.0, 0.4, -1.0).layer_latencies(torch.ones(1, 1)) == [2, 2]


def test_latency_restores_recording_state():
    net = _chain(5.0, 1.5, 1.5)
    net.layer_latencies(torch.ones(3, 1), probe_steps=16, batch_size=2)
    assert all(not m.record and m.last_spikes is None for m in net.spiking_layers())


def test_warmup_from_latency():
    assert warmup_for(3, 32) == 3 and warmup_for(11, 16) == 8 and warmup_for(0, 8) == 0 and warmup_for(5, 1) == 0


class StepsNet(TinyNet):
    """Records the T of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int]] = []

    def forward(self, x, mode, steps):
        self.calls.append((Mode(mode).value, steps))
        return super().forward(x, mode, steps)


def test_curriculum_trains_each_epoch_at_its_T_and_validates_at_the_deployment_T(tmp_path: Path):
    torch.manual_seed(0)
    model = StepsNet()
    task = ScriptedTask(model, [0.1, 0.2, 0.3, 0.4])
    train, val = _splits()          # 12 training samples, batch 4: 3 batches per epoch
    train_stage(model, task, train, val, mode=Mode.HYBRID, eval_mode=Mode.SNN, epochs=4, lr=0.01, steps=8,
                batch_size=4, rate_target=0.1, rate_weight=0.0, patience=None, augment=False, seed=0,
                ckpt_path=tmp_path / "c.pt", steps_schedule=(32, 16))
    trained = [s for m, s in model.calls if m == "hybrid"]
    validated = {s for m, s in model.calls if m == "snn"}
    assert trained == [32] * 3 + [16] * 3 + [16] * 3 + [16] * 3 and validated == {8}
