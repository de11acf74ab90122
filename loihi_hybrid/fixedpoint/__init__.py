"""The fixed-point core: Loihi's register format (``format``), quantisation of a trained network
(``quantize``), the reference integer arithmetic (``emulator``) and the NetX HDF5 file (``netx``).

Export and deploy both build on this package; it depends on neither.
"""
from .emulator import EmuResult, emulate
from .format import INPUT_MESSAGE_BITS, FixedLayer, FixedNetwork
from .netx import read_netx, write_netx
from .quantize import EXPONENT_RANGE, quantize

__all__ = ["EXPONENT_RANGE", "INPUT_MESSAGE_BITS", "EmuResult", "FixedLayer", "FixedNetwork", "emulate",
           "quantize", "read_netx", "write_netx"]
