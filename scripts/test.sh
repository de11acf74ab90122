#!/usr/bin/env bash
# The test command (README): the whole pytest suite on the CPU, slow tests included, with the 15 slowest
# tests listed at the end. Run from the repository root so the project's tests/ wins over the `tests`
# packages that the Lava wheels install into site-packages. Extra arguments go to pytest
# (e.g. `-m "not slow"` for the quick loop while editing).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q --durations=15 "$@"
