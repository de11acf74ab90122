#!/usr/bin/env bash
# The test command (README): the whole pytest suite on the CPU. Run from the repository root so the
# project's tests/ wins over the `tests` packages that the Lava wheels install into site-packages.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -q "$@"
