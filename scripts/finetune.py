#!/usr/bin/env python
"""Hybrid ANN-SNN co-training of a registered network: see ``python scripts/finetune.py --help``."""
from loihi_hybrid.cli.common import exit_process
from loihi_hybrid.cli.finetune import main

if __name__ == "__main__":
    exit_process(main())
