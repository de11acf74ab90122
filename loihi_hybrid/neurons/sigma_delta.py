"""Loihi 2's sigma-delta neuron with a ReLU (``SigmaDelta`` in Lava, ``SDNN`` in NetX), in training units.

Each step the neuron adds its input messages to ``sigma`` (so ``sigma`` is the synaptic sum of the inputs'
reconstructed values), computes ``act = relu(sigma + b)`` and sends the change ``delta = act - ref`` as one
graded message where ``|delta| >= theta`` (``ref`` is what it has sent so far; a smaller change waits as the
residue). The receiver's ``sigma`` adds the messages up, so it sees ``ref``::

    act[t]  = relu(z[t] + b)
    sent[t] = delta[t] if |delta[t]| >= theta else 0,   delta[t] = act[t] - ref[t-1]
    ref[t]  = ref[t-1] + sent[t]

Under a static input (an image, sent once) a layer's input arrives in one step: the first layer's image at
once, and every later layer's from a layer that sent all its messages in one step. So each neuron sends at
most one message, its whole activation where that reaches ``theta``, and then only residues below ``theta``
remain: :func:`static_response` is that fixed point, which :func:`sigma_delta` reaches after one step
(``tests/test_sigma_delta.py``). On Lava each synapse delays by one step, which shifts each layer's single
message by one step per layer and changes nothing else.
"""
from __future__ import annotations

import torch


def sigma_delta(z_seq: torch.Tensor, bias: torch.Tensor | float, theta: float) -> torch.Tensor:
    """Messages (..., T) of sigma-delta ReLU neurons for synaptic sums ``z_seq`` (..., T) (float, no gradient)."""
    ref = torch.zeros_like(z_seq[..., 0])
    out = torch.zeros_like(z_seq)
    for t in range(z_seq.shape[-1]):
        delta = torch.relu(z_seq[..., t] + bias) - ref
        sent = torch.where(delta.abs() >= theta, delta, torch.zeros_like(delta))
        ref = ref + sent
        out[..., t] = sent
    return out


def static_response(act: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value, messages)`` per neuron for a static activation ``act``: what the receivers reconstruct
    (``act`` where it reaches ``theta``, else 0) and the messages sent (1 or 0)."""
    fired = (act >= theta) & (act > 0)
    return torch.where(fired, act, torch.zeros_like(act)), fired.to(act.dtype)
