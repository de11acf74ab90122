"""lava-dl's own ANN-SNN co-training (``lava.lib.dl.bootstrap``) as a peer method for the comparison.

The network has the shape of the task's own model (layer by layer: conv, transposed conv, flatten,
dense, readout) built from bootstrap CUBA blocks, with our neuron's SLAYER parameters, data, loss, T
and readout window, trained from scratch with bootstrap's ``Scheduler``:
every ``sample_period`` epochs the first ``num_sample_iter`` batches run the SNN and sample each block's
(input, rate) pairs (SAMPLE), the next batch fits each block's piecewise-linear rate model (FIT), and
all other batches train the ANN that uses those fitted models (ANN). It is evaluated as the SNN.

This module is the only place that imports ``lava.lib.dl.bootstrap`` (see the README's list of Lava
adapter modules).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..compat import slayer_ops
from ..compat.lava_py311 import slayer as _slayer
from ..config import RunConfig
from ..data import ArraySplit, DataSplits
from ..metrics import RateMeter
from ..models.layers import Flatten, Readout, he_init_
from ..neurons.params import DECAY_SCALE
from ..tasks import make_task
from .loop import batches, to_tensor

slayer = _slayer()
import lava.lib.dl.bootstrap as bootstrap  # noqa: E402  (after the Python 3.11 fixes)


class ConvT(slayer.block.cuba.ConvT, bootstrap.block.base.AbstractBlock):
    """Bootstrap has no transposed-convolution block; this one joins SLAYER's to bootstrap's modes the
    way ``bootstrap.block.cuba.Conv`` does for convolutions."""

    def forward(self, x: torch.Tensor, mode: Any = bootstrap.Mode.ANN) -> torch.Tensor:
        return bootstrap.block.base.AbstractBlock.forward(self, x, mode)


class ConvReadout(nn.Module):
    """The CAE's non-spiking conv readout: a SLAYER synapse plus bias, whatever the mode."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, padding: int = 1) -> None:
        super().__init__()
        self.synapse = slayer.synapse.Conv(cin, cout, kernel, padding=padding)
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor, mode: Any = None) -> torch.Tensor:
        return self.synapse(x) + self.bias.view(1, -1, 1, 1, 1)


def _fan_in(syn: nn.Module) -> float:
    """Inputs per output neuron of a SLAYER synapse (a transposed convolution's are fewer by its stride's area)."""
    n = syn.in_channels * int(np.prod(syn.kernel_size))
    return n / int(np.prod(syn.stride)) if isinstance(syn, slayer.synapse.ConvTranspose) else n


def neuron_params(cfg: RunConfig) -> dict[str, float]:
    """Our neuron as SLAYER CUBA parameters (decays as fractions of 4096)."""
    n = cfg.neuron
    return {"threshold": n.threshold, "current_decay": n.current_decay / DECAY_SCALE,
            "voltage_decay": n.voltage_decay / DECAY_SCALE, "tau_grad": n.tau_grad, "scale_grad": n.scale_grad}


def bootstrap_blocks(template: nn.Module, p: dict[str, float]) -> list[nn.Module]:
    """Bootstrap blocks with the geometry of each layer of our ``template`` network, in order."""
    b, blocks = bootstrap.block.cuba, []
    for m in template.layers:
        if isinstance(m, Flatten):
            blocks.append(b.Flatten())
            continue
        kind, w, stride, pad = slayer_ops.synapse_geometry(m.synapse)
        k = int(w.shape[-1])
        if kind == "convT":  # weight (Ci, Co, kh, kw)
            blocks.append(ConvT(p, w.shape[0], w.shape[1], k, stride=stride))
        elif isinstance(m, Readout):
            blocks.append(b.Affine(p, w.shape[1], w.shape[0]) if kind == "dense"
                          else ConvReadout(w.shape[1], w.shape[0], k, pad))
        elif kind == "conv":
            blocks.append(b.Conv(p, w.shape[1], w.shape[0], k, padding=pad, stride=stride))
        else:
            blocks.append(b.Dense(p, w.shape[1], w.shape[0]))
    return blocks


class BootstrapNet(nn.Module):
    """The task's network of bootstrap blocks; ``forward`` returns the readout averaged over the readout window."""

    def __init__(self, cfg: RunConfig, in_channels: int) -> None:
        super().__init__()
        self.task = make_task(cfg)
        with torch.random.fork_rng(devices=[]):  # the template's own initialisation must not shift ours
            template = self.task.build(in_channels)
        self.blocks = nn.ModuleList(bootstrap_blocks(template, neuron_params(cfg)))
        for m in self.blocks:  # He initialisation, as our networks (SLAYER's default leaves them silent)
            syn = getattr(m, "synapse", None)
            if syn is not None:
                he_init_(syn.weight, _fan_in(syn))
        self.steps, self.warmup = cfg.steps, cfg.readout_warmup
        for key in self.task.decoding_params_keys:  # e.g. LocNet's target normalisation
            self.register_buffer(key, getattr(template, key).detach().clone())
        #: spikes per step of each spiking block in the last SNN-mode pass, (N, ...) each
        self.rates: list[torch.Tensor] = []

    def spiking_blocks(self) -> list[nn.Module]:
        return [m for m in self.blocks if isinstance(m, bootstrap.block.base.AbstractBlock)
                and not isinstance(m, (bootstrap.block.cuba.Flatten, bootstrap.block.cuba.Affine))]

    def forward(self, x: torch.Tensor, mode: bootstrap.routine.LayerMode) -> torch.Tensor:
        ann = mode.base_mode == bootstrap.Mode.ANN or mode.base_mode == bootstrap.Mode.FIT
        # the image is a constant input current: one step for the ANN, T equal steps for the SNN
        x = x.unsqueeze(-1) if ann else x.unsqueeze(-1).expand(*x.shape, self.steps).contiguous()
        spiking = set(map(id, self.spiking_blocks()))
        self.rates = []
        for block, m in zip(self.blocks, mode):
            x = block(x, mode=m)
            if id(block) in spiking and m in (bootstrap.Mode.SNN, bootstrap.Mode.SAMPLE):
                self.rates.append(x.detach().mean(-1))
        late = x if ann else x[..., min(self.warmup, x.shape[-1] - 1):]
        return late.mean(-1)

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        return self.task.decode(out, self)


@torch.no_grad()
def evaluate_snn(net: BootstrapNet, task: Any, split: ArraySplit, batch_size: int, dt_s: float,
                 desc: str = "test bootstrap SNN") -> dict[str, Any]:
    """Test metric and firing rates of the bootstrap network run as an SNN."""
    net.eval()
    meter: RateMeter | None = None
    preds = []
    n_batches = (len(split) + batch_size - 1) // batch_size
    for x, _ in tqdm(batches(split, batch_size), total=n_batches, desc=desc, leave=False, disable=None):
        out = net(to_tensor(x, torch.device("cpu")), bootstrap.routine.LayerMode(0, bootstrap.Mode.SNN))
        preds.append(net.decode(out).numpy())
        meter = meter or RateMeter([f"block{i}" for i in range(len(net.rates))], dt_s)
        meter.add(net.rates)
    metric, extra = task.score(np.concatenate(preds), split)
    return {"metric": metric, "extra": extra, "firing_rate_hz": meter.network_hz(),
            "per_layer_rate_hz": meter.per_layer_hz()}


def train_bootstrap(cfg: RunConfig, data: DataSplits, epochs: int, lr: float, max_batches: int | None = None,
                    sample_period: int = 5, num_sample_iter: int = 4, val_limit: int | None = 256,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train a bootstrap network from scratch for ``epochs`` with bootstrap's scheduler; keep the weights
    of the best SNN validation metric (measured on sampling epochs, as bootstrap's tutorials do).

    The SNN runs through SLAYER's Python loop over time steps, so validation uses at most the first
    ``val_limit`` validation samples (whole CAE volumes come first in the split's order)."""
    torch.manual_seed(cfg.seed)
    task = make_task(cfg)
    net = BootstrapNet(cfg, in_channels=data.train.x.shape[1])
    task.fit_targets(net, data)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = bootstrap.routine.Scheduler(num_sample_iter=num_sample_iter, sample_period=sample_period)
    rng = np.random.default_rng(cfg.seed)
    aug = task.augment if cfg.data.augment else None
    bs = cfg.train.batch_size
    n_batches = (len(data.train) + bs - 1) // bs if max_batches is None else max_batches
    val = data.val if val_limit is None or len(data.val) <= val_limit else data.val.subset(np.arange(val_limit))
    best, best_state, history, t0 = -np.inf, None, [], time.perf_counter()
    for epoch in tqdm(range(epochs), desc="bootstrap", disable=None):
        net.train()
        for i, (x, yb) in enumerate(tqdm(batches(data.train, bs, rng, aug, max_batches), total=n_batches,
                                         leave=False, desc=f"epoch {epoch + 1}", disable=None)):
            out = net(to_tensor(x, torch.device("cpu")), sched.mode(epoch, i, True))
            loss = task.loss(net, out, to_tensor(yb, torch.device("cpu")))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if epoch % sample_period == 0 or epoch == epochs - 1:
            ev = evaluate_snn(net, task, val, bs, cfg.dt_s, desc="validate bootstrap SNN")
            history.append({"epoch": epoch + 1, "val_metric": ev["metric"], "val_rate_hz": ev["firing_rate_hz"]})
            log(f"[bootstrap] epoch {epoch + 1}: val {task.metric_name} {ev['metric']:.4f} (SNN), "
                f"{ev['firing_rate_hz']:.1f} Hz")
            if ev["metric"] > best:
                best = ev["metric"]
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    seconds = time.perf_counter() - t0
    if best_state is not None:
        net.load_state_dict(best_state)
    ev = evaluate_snn(net, task, data.test, bs, cfg.dt_s)
    return {"method": "bootstrap", "epochs": epochs, "metric": ev["metric"], "firing_rate_hz": ev["firing_rate_hz"],
            "train_seconds": seconds, "history": history, "sample_period": sample_period,
            "num_sample_iter": num_sample_iter, "lr": lr, "val_samples": len(val)}
