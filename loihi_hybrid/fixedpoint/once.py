"""The image sent once per sample: one graded event at the first step, held by the first layer's current.

A first layer without a synaptic filter (``iDecay = 4096``: ``u = a << 6`` every step) fed the image every step
and the same layer with ``iDecay = 0`` (``u[t] = u[t-1]``: nothing decays) fed the image at step 0 only hold
the same current ``u[t] = a << 6`` from step 0 on, so every spike is the same; the chip pays the first layer's
synaptic operations once instead of ``T`` times. :func:`send_once` turns the first form (what a model with
``input_once`` quantises to) into the second (what is exported and run).
"""
from __future__ import annotations

import dataclasses

from ..neurons.params import DECAY_SCALE
from .format import FixedNetwork


def send_once(net: FixedNetwork) -> FixedNetwork:
    """``net`` (first layer without a current filter, input every step) with its input sent once and held."""
    first = net.layers[0]
    if first.neuron != "cuba" or first.op == "input" or first.i_decay != DECAY_SCALE:
        raise ValueError(f"the first layer ({first.name}) must be a CUBA layer without a current filter "
                         f"(iDecay {DECAY_SCALE}) to hold an input sent once, got iDecay {first.i_decay}")
    return dataclasses.replace(net, layers=[dataclasses.replace(first, i_decay=0), *net.layers[1:]], input_once=True)
