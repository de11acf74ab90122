"""LocNet and CAE built from SLAYER synapses and CUBA neurons with ann/snn/hybrid/bptt modes."""
from .cae import CAE, CAESpec
from .layers import Mode
from .locnet import LocNet, LocNetSpec
from .network import SpikingNetwork

__all__ = ["CAE", "CAESpec", "LocNet", "LocNetSpec", "Mode", "SpikingNetwork"]
