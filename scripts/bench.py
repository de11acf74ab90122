#!/usr/bin/env python
"""Speed and memory ratios of the training modes and the deployment back ends: see ``python scripts/bench.py --help``."""
import sys

from loihi_hybrid.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
