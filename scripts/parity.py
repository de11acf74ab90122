#!/usr/bin/env python
"""Lava simulator against the bit-exact emulator, spike for spike: see ``python scripts/parity.py --help``."""
from loihi_hybrid.cli.common import exit_process
from loihi_hybrid.cli.parity import main

if __name__ == "__main__":
    exit_process(main())
