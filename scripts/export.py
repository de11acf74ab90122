#!/usr/bin/env python
"""Export a finetune.py checkpoint to NetX HDF5: see ``python scripts/export.py --help``."""
import sys

from loihi_hybrid.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
