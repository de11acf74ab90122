"""``train_stage``: early stopping on the validation metric, best weights restored, resume from the
end-of-epoch checkpoint at the right epoch (with the optimiser, the shuffling and the patience count)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from loihi_hybrid.data import ArraySplit
from loihi_hybrid.models import Mode
from loihi_hybrid.training.loop import train_stage


class TinyNet(nn.Module):
    """The part of ``SpikingNetwork`` that ``train_stage``/``evaluate`` use: ``forward(x, mode, steps)``,
    ``spiking_layers()`` (names) and ``layer_rates()``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 1)
        self._rate = None

    def forward(self, x, mode, steps):
        self._rate = torch.sigmoid(self.fc(x.reshape(len(x), -1)))
        return self._rate

    def spiking_layers(self):
        return [SimpleNamespace(name="fc")]

    def layer_rates(self):
        return [self._rate]


class ScriptedTask:
    """Validation metric of epoch ``e`` (1-based) is ``metrics[e - 1]``, whatever the weights; ``score``
    also snapshots the weights it was called with, per epoch. ``start``: epochs already done (resume)."""

    def __init__(self, model: nn.Module, metrics: list[float], start: int = 0) -> None:
        self.model, self.metrics, self.epoch = model, metrics, start
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.loss_calls = 0

    def loss(self, model, out, y):
        self.loss_calls += 1
        return ((out - y) ** 2).mean()

    def predict(self, model, out):
        return out.detach()

    def score(self, pred, split):
        self.epoch += 1
        self.weights[self.epoch] = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return self.metrics[self.epoch - 1], {}

    def augment(self, x, y, rng):
        # uses the loop's generator, so a resume must restore its state to reproduce the run
        return x + rng.normal(0.0, 0.1, size=x.shape).astype(np.float32), y


# patience 3: best at epoch 2 (0.6), then three epochs without improvement (0.4, 0.5, 0.3): stop after
# epoch 5; the 0.9 of epoch 6 is never reached
METRICS = [0.2, 0.6, 0.4, 0.5, 0.3, 0.9, 0.95, 0.97]
N_TRAIN, BATCH = 12, 4  # 3 batches per epoch


def _splits():
    rng = np.random.default_rng(0)

    def split(n):
        x = rng.random((n, 3, 1, 1)).astype(np.float32)
        return ArraySplit(x=x, y=rng.random((n, 1)).astype(np.float32), names=[str(i) for i in range(n)],
                          groups=np.arange(n))
    return split(N_TRAIN), split(4)


def _model():
    torch.manual_seed(0)
    return TinyNet()


def _train(model, task, ckpt, epochs, patience=3):
    train, val = _splits()
    return train_stage(model, task, train, val, mode=Mode.ANN, eval_mode=Mode.ANN, epochs=epochs, lr=0.05,
                       steps=1, batch_size=BATCH, rate_target=0.1, rate_weight=0.01, patience=patience,
                       augment=True, seed=3, ckpt_path=ckpt)


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_early_stopping_stops_after_patience_and_restores_best_weights(tmp_path):
    model = _model()
    task = ScriptedTask(model, METRICS)
    res = _train(model, task, tmp_path / "last.pt", epochs=8)
    assert res.epochs == 5 and task.epoch == 5
    assert [h["epoch"] for h in res.history] == [1, 2, 3, 4, 5]
    assert [h["val_metric"] for h in res.history] == METRICS[:5]
    assert res.best_metric == 0.6
    assert task.loss_calls == 5 * (N_TRAIN // BATCH)
    # the weights are those validated at epoch 2, not those of the last epoch
    assert not _equal(task.weights[2], task.weights[5])
    assert _equal(model.state_dict(), task.weights[2])


def test_no_patience_trains_all_epochs(tmp_path):
    model = _model()
    task = ScriptedTask(model, METRICS)
    res = _train(model, task, tmp_path / "last.pt", epochs=8, patience=None)
    assert res.epochs == 8 and res.best_metric == 0.97
    assert _equal(model.state_dict(), task.weights[8])


@pytest.mark.parametrize("stop_at", [1, 3, 4])
def test_resume_continues_at_the_right_epoch(tmp_path, stop_at):
    """Interrupted after ``stop_at`` epochs (its checkpoint left behind), then resumed: the same epochs,
    metrics, weights and early stop as an uninterrupted run, and the finished epochs are not redone."""
    ref_model = _model()
    ref = ScriptedTask(ref_model, METRICS)
    ref_res = _train(ref_model, ref, tmp_path / "ref.pt", epochs=8)

    ckpt = tmp_path / "last.pt"
    first = _model()
    _train(first, ScriptedTask(first, METRICS), ckpt, epochs=stop_at)
    assert torch.load(ckpt, weights_only=True)["state"]["epoch"] == stop_at

    model = _model()  # a fresh process: new model, weights come from the checkpoint
    task = ScriptedTask(model, METRICS, start=stop_at)
    res = _train(model, task, ckpt, epochs=8)
    assert res.epochs == ref_res.epochs == 5
    assert res.history == ref_res.history  # the finished epochs' history is kept from the checkpoint
    assert res.best_metric == 0.6
    assert sorted(task.weights) == list(range(stop_at + 1, 6))  # validated only the epochs left
    assert task.loss_calls == (5 - stop_at) * (N_TRAIN // BATCH)
    for epoch in task.weights:  # optimiser state and the shuffling/augmentation generator resumed
        assert _equal(task.weights[epoch], ref.weights[epoch]), epoch
    assert _equal(model.state_dict(), ref.weights[2])


def test_resume_after_early_stop_trains_nothing(tmp_path):
    ckpt = tmp_path / "last.pt"
    model = _model()
    task = ScriptedTask(model, METRICS)
    _train(model, task, ckpt, epochs=8)
    again_model = _model()
    again = ScriptedTask(again_model, METRICS, start=5)
    res = _train(again_model, again, ckpt, epochs=8)
    assert res.epochs == 5 and again.loss_calls == 0 and again.weights == {}
    assert _equal(again_model.state_dict(), task.weights[2])
