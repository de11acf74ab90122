"""Shared pytest fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder with the real data sets (``$LOIHI_HYBRID_DATA`` or ``<repo>/../shared/data``); skips if absent."""
    env = os.environ.get("LOIHI_HYBRID_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"real data folder not found: {path}")
    return path
