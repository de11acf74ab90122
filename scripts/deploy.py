#!/usr/bin/env python
"""Run an exported network on Lava (sim | loihi2) or the bit-exact emulator: see ``python scripts/deploy.py --help``."""
from loihi_hybrid.cli.common import exit_process
from loihi_hybrid.cli.deploy import main

if __name__ == "__main__":
    exit_process(main())
