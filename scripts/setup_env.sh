#!/usr/bin/env bash
# Create .venv with the pinned Lava stack on Python 3.11 (see README "Installation").
# lava-nc 0.10.0 / lava-dl 0.6.0 declare Python <3.11 and pin torch 2.3, so they are installed
# with --no-deps --ignore-requires-python next to the CPU torch 2.13.0 wheel; the two run-time
# compatibility fixes live in loihi_hybrid/compat/lava_py311.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip==24.3.1
python -m pip install -q -r requirements/base.txt
python -m pip install -q --no-deps --ignore-requires-python -r requirements/lava.txt
python -m pip install -q --no-deps -r requirements/nir.txt  # NIR export + snnTorch check (2 MB, no torch resolve)
python -m pip install -q --no-deps -e .
python -c "import loihi_hybrid.compat.lava_py311 as c; c.check()"
