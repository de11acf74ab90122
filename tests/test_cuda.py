"""The GPU path (skipped without CUDA): SLAYER's CUDA spiking forward equals the CPU numba forward spike for
spike on the same weights and inputs, and one hybrid training step is timed on both (``-s`` prints the
speed-up). Weights and inputs lie on a 1/256 grid, so that every synaptic sum is exact in float32 on both
devices whatever the summation order: what is compared is the neuron dynamics, not rounding."""
from __future__ import annotations

import time

import pytest
import torch

from loihi_hybrid.models import LocNet, LocNetSpec, Mode
from loihi_hybrid.models.init import calibrate
from loihi_hybrid.neurons import NeuronParams

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (none on this machine)")


def grid(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t * 256) / 256


def locnet(size: tuple[int, int] = (24, 32), channels=(8, 16, 16), hidden=(64, 32, 16), n: int = 8, seed: int = 0):
    """A calibrated LocNet and inputs, both on the 1/256 grid."""
    torch.manual_seed(seed)
    model = LocNet(LocNetSpec(in_channels=3, input_size=size, channels=channels, hidden=hidden,
                              neuron=NeuronParams(kind="lif", gamma=0.1)))
    x = grid(torch.rand(n, 3, *size))
    calibrate(model, x)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(grid(p))
    model.readout_warmup = 16
    return model, x


@pytest.fixture(autouse=True)
def exact_cuda_float():
    """No TF32 (10-bit mantissa products) in CUDA convolutions and matrix products."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("mode", [Mode.SNN, Mode.HYBRID])
def test_cuda_spikes_equal_cpu_numba_spikes(mode):
    cpu, x = locnet()
    gpu, _ = locnet()
    gpu = gpu.cuda()
    for m in (cpu, gpu):
        for layer in m.spiking_layers():
            layer.record = True
    with torch.no_grad():
        y_cpu = cpu(x, mode, 32)
        y_gpu = gpu(x.cuda(), mode, 32)
    total = 0
    for a, b in zip(cpu.spiking_layers(), gpu.spiking_layers(), strict=True):
        sa, sb = a.last_spikes, b.last_spikes.cpu()
        assert sa.shape == sb.shape, a.name
        mismatches = int((sa != sb).sum())
        assert mismatches == 0, f"{a.name}: {mismatches} of {sa.numel()} spikes differ"
        total += int(sa.sum())
    assert total > 0  # the comparison saw spikes
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_hybrid_step_speedup_on_cuda():
    """One hybrid step (forward, backward, Adam) at the real-data LocNet size, batch 32, T = 32."""
    def step_seconds(device: str, repeats: int = 3) -> float:
        model, _ = locnet(size=(48, 72), channels=(16, 32, 64), hidden=(256, 128, 64), n=32)
        model = model.to(device)
        x = torch.rand(32, 3, 48, 72, device=device)
        y = torch.randn(32, 4, device=device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(model(x, Mode.HYBRID, 32), y).backward()
            opt.step()
            if device == "cuda":
                torch.cuda.synchronize()

        step()  # warm-up (kernel compilation, allocator)
        t0 = time.perf_counter()
        for _ in range(repeats):
            step()
        return (time.perf_counter() - t0) / repeats

    cpu, gpu = step_seconds("cpu", 1), step_seconds("cuda")
    print(f"\nhybrid step, LocNet 48x72, batch 32, T=32: CPU {cpu:.3f} s, CUDA {gpu:.4f} s, "
          f"speed-up {cpu / gpu:.1f}x")
    assert gpu > 0
