"""The package's layering (``scripts/check_layers.py``): no upward imports, no cycles, Lava only in its adapters."""
import importlib.util
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_layers", REPO / "scripts" / "check_layers.py")
check_layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_layers)


def test_the_package_has_no_layering_problems():
    assert check_layers.check() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "loihi_hybrid"
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    for d in [root, *root.rglob("*")]:
        if d.is_dir() and not (d / "__init__.py").exists():
            (d / "__init__.py").write_text("")
    return root


def test_upward_sideways_cycle_and_lava_imports_are_reported(tmp_path):
    root = _tree(tmp_path, {
        "models/net.py": "from ..workflows import train\n",              # upward
        "training/meta.py": "def f():\n    from ..reports import table\n",  # sideways, inside a function
        "reports/table.py": "",
        "workflows/train.py": "from . import a\n",
        "workflows/a.py": "from .train import x\n",                      # cycle
        "tasks/t.py": "import lava.magma.core\n",                        # Lava outside its adapters
        "backends/lava/ok.py": "import lava.magma.core\n",                 # allowed
    })
    problems = check_layers.check(root)
    text = "\n".join(problems)
    assert "models/net.py:1: models imports workflows upward" in text
    assert "training/meta.py:2: training imports reports sideways (same layer)" in text
    assert "import cycle: loihi_hybrid.workflows.a -> loihi_hybrid.workflows.train -> loihi_hybrid.workflows.a" in text
    assert "tasks/t.py:1: imports lava.magma.core" in text
    assert "backends/lava/ok.py" not in text
    assert len(problems) == 4


def test_no_network_name_switches_outside_the_tasks():
    pattern = re.compile(r"""task\s*==|[!=]=\s*["'](locnet|cae|digits)["']""")
    hits = [f"{f.relative_to(REPO)}:{i}" for f in (REPO / "loihi_hybrid").rglob("*.py")
            for i, line in enumerate(f.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []
