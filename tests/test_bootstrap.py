"""lava-dl bootstrap as a peer method: our network shapes from bootstrap blocks, its modes, its training."""
import numpy as np
import pytest
import torch

from loihi_hybrid.tasks import load_config, make_task
from loihi_hybrid.training.lava_bootstrap import BootstrapNet, bootstrap, neuron_params, train_bootstrap

TINY = {"locnet": {"steps": 6, "readout_warmup": 3, "channels": [4, 4, 4], "hidden": [8, 8, 8],
                   "data": {"input_size": [12, 16], "synthetic_samples": 24}, "train": {"batch_size": 8}},
        "cae": {"steps": 6, "readout_warmup": 3, "channels": [2, 4, 4],
                "data": {"input_size": [12, 12], "synthetic_samples": 10}, "train": {"batch_size": 8}}}


@pytest.fixture(params=["locnet", "cae"])
def tiny(request, tmp_path):
    import json

    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY[request.param]))
    cfg = load_config(request.param, synthetic=True, user_file=path)
    return cfg, make_task(cfg).load_data(None)


def _mode(m):
    return bootstrap.routine.LayerMode(0, m)


def test_neuron_params_are_ours():
    cfg = load_config("locnet", synthetic=False)
    p = neuron_params(cfg)
    assert p["threshold"] == cfg.neuron.threshold
    assert p["current_decay"] * 4096 == cfg.neuron.current_decay == 742      # tau_syn = 5 steps
    assert p["voltage_decay"] * 4096 == cfg.neuron.voltage_decay == 200      # tau_rc = 20 steps


def test_shapes_modes_and_readout_window(tiny):
    cfg, data = tiny
    torch.manual_seed(0)
    net = BootstrapNet(cfg, in_channels=data.train.x.shape[1])
    x = torch.as_tensor(data.train.x[:4])
    want = (4, 4) if cfg.task == "locnet" else (4, 1, *cfg.data.input_size)
    with torch.no_grad():
        out = net(x, _mode(bootstrap.Mode.SAMPLE))
    assert out.shape == want and len(net.rates) == 9
    assert all(((r >= 0) & (r <= 1)).all() for r in net.rates) and sum(float(r.sum()) for r in net.rates) > 0
    # the readout averages steps warmup..T-1 of the last block's output
    last = {}
    net.blocks[-1].register_forward_hook(lambda m, i, o: last.update(o=o))
    with torch.no_grad():
        out = net(x, _mode(bootstrap.Mode.SNN))
    assert last["o"].shape[-1] == cfg.steps
    torch.testing.assert_close(out, last["o"][..., cfg.readout_warmup:].mean(-1))
    # after SAMPLE, FIT fits every block's rate model and the ANN runs in one step
    with torch.no_grad():
        out_ann = net(x, _mode(bootstrap.Mode.FIT))
    assert out_ann.shape == want and torch.isfinite(out_ann).all() and net.rates == []


def test_training_runs_and_reports(tiny):
    cfg, data = tiny
    res = train_bootstrap(cfg, data, epochs=2, lr=1e-3, max_batches=2, sample_period=1, num_sample_iter=1,
                          val_limit=3, log=lambda m: None)
    assert res["method"] == "bootstrap" and res["epochs"] == 2 and len(res["history"]) == 2
    assert res["val_samples"] == min(3, len(data.val))
    assert 0.0 <= res["metric"] <= 1.0 and np.isfinite(res["firing_rate_hz"]) and res["train_seconds"] > 0
