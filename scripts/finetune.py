#!/usr/bin/env python
"""Hybrid ANN-SNN co-training of a registered network: see ``python scripts/finetune.py --help``."""
import sys

from loihi_hybrid.cli.finetune import main

if __name__ == "__main__":
    sys.exit(main())
