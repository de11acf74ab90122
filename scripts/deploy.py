#!/usr/bin/env python
"""Run an exported network on Lava (sim | loihi2) or the bit-exact emulator: see ``python scripts/deploy.py --help``."""
import sys

from loihi_hybrid.cli.deploy import main

if __name__ == "__main__":
    sys.exit(main())
