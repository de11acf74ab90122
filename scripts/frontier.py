#!/usr/bin/env python
"""Accuracy-energy-latency frontier of run folders and exports: see ``python scripts/frontier.py --help``."""
import sys

from loihi_hybrid.cli.frontier import main

if __name__ == "__main__":
    sys.exit(main())
