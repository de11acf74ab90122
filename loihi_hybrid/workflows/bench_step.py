"""One measurement in this process: time per training step and memory of one mode at one T.

``python -m loihi_hybrid.workflows.bench_step --mode hybrid --steps 32 --batch 16 --repeats 3`` prints one JSON
line: median step seconds (forward + loss + backward + Adam), the bytes autograd saves for the backward
pass, and the process's peak resident memory. Run once per configuration, in a fresh process, so that
peak memory belongs to that configuration alone.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from ..models import Mode
from ..tasks import load_config, make_task
from ..training.regularization import rate_penalty
from .bench import peak_rss_mb


def saved_bytes(fn) -> tuple[object, int]:
    """Run ``fn()`` and count the bytes of distinct tensors autograd keeps for the backward pass."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


def measure(task: str, mode: str, steps: int, batch: int, repeats: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(task, synthetic=False, overrides={"steps": steps, "readout_warmup": steps // 2})
    net = make_task(cfg)
    model = net.build()
    h, w = cfg.data.input_size
    x = torch.rand(batch, net.in_channels, h, w)
    with torch.no_grad():
        y = torch.randn_like(model(x, Mode.ANN, steps))
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    m = Mode(mode)
    times, saved = [], 0
    for i in range(repeats + 1):  # the first step compiles kernels and warms caches
        t0 = time.perf_counter()
        out, saved = saved_bytes(lambda: model(x, m, steps))
        loss = F.mse_loss(out, y) + 0.01 * rate_penalty(model.layer_rates(), 0.25)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return {"task": task, "mode": mode, "steps": steps, "batch": batch, "step_s": statistics.median(times),
            "saved_bytes": saved, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--task", default="locnet")
    p.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    print(json.dumps(measure(a.task, a.mode, a.steps, a.batch, a.repeats, a.threads)))


if __name__ == "__main__":
    main()
