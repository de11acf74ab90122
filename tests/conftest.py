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


#: Slow tests in modules whose own markers are not set (yet): node-id prefixes relative to tests/.
#: A test is also slow when it uses the Lava-simulator fixture ``lava_vs_emu``.
SLOW_ELSEWHERE = (
    "test_api.py::test_readme_python_example_runs",            # trains the README's default LocNet
    "test_export.py::test_deploy_cli_bad_file_one_line_exit_2",  # a deploy.py subprocess
    "test_digits.py::test_tiny_pipeline_export_and_emulator",    # the whole pipeline in-process
)
SLOW_FIXTURES = {"lava_vs_emu"}  # test_lava_parity.py: the exported networks on Lava's simulator


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests of other modules (``-m "not slow"`` is the quick loop; CI runs everything)."""
    for item in items:
        node = item.nodeid.split("tests/", 1)[-1]
        if node.startswith(SLOW_ELSEWHERE) or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
