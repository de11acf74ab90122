"""Neuron math: the discrete-time CUBA neuron Loihi runs, its rate function, and the spiking dynamics."""
from .params import NeuronParams
from .rate import rate, rate_staircase

__all__ = ["NeuronParams", "rate", "rate_staircase"]
