#!/usr/bin/env python
"""The reproduction report on ../shared/data: see ``python scripts/reproduce.py --help``."""
import sys

from loihi_hybrid.cli.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
