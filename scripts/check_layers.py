#!/usr/bin/env python
"""Check the package's layering: ``python scripts/check_layers.py`` prints each violation and exits 1.

Rules (every import counts, also those inside functions):
1. A sub-package imports only sub-packages of a lower layer (or itself): nothing imports upward, and
   sub-packages of one layer do not import each other.
2. No import cycle between modules.
3. Lava (``lava.*``) is imported only in the adapter modules listed in ``LAVA_ADAPTERS``.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "loihi_hybrid"
PACKAGE = "loihi_hybrid"
#: lowest first; a name is a sub-package or a top-level module of ``loihi_hybrid``
LAYERS = (
    ("errors",),
    ("fsio", "compat"),
    ("neurons", "metrics", "plots"),
    ("config", "data"),
    ("models",),
    ("fixedpoint",),
    ("backends", "interop"),
    ("tasks",),
    ("training", "reports"),
    ("workflows",),
    ("api", "cli"),
    ("__init__",),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
LAVA_ADAPTERS = ("compat/lava_py311.py", "compat/slayer_ops.py", "backends/lava/", "training/lava_bootstrap.py")


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"] if rel.parts != ("__init__",) else []
    return ".".join([PACKAGE, *parts])


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """``(line, absolute module)`` for every import in ``path`` (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path, root)
    pkg = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from . import x`` may name a sub-module: count it as one
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names] if not node.module else [(node.lineno, mod)]
    return out


def top(module: str) -> str | None:
    """The layer key of an internal module (``loihi_hybrid.x.y`` -> ``x``; the package itself -> ``__init__``)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def check(root: Path = ROOT) -> list[str]:
    files = sorted(root.rglob("*.py"))
    known = {module_name(f, root): f for f in files}
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in known}
    for f in files:
        me = module_name(f, root)
        mine = top(me) if f.relative_to(root).parts[0] != "__init__.py" else "__init__"
        rel = f.relative_to(root).as_posix()
        for line, mod in imports(f, root):
            if (mod == "lava" or mod.startswith("lava.")) and not rel.startswith(LAVA_ADAPTERS):
                problems.append(f"{rel}:{line}: imports {mod} (Lava belongs in {', '.join(LAVA_ADAPTERS)})")
            target = next((m for m in (mod, mod.rpartition(".")[0]) if m in known), None)
            if target is None or target == me:
                continue
            graph[me].add(target)
            theirs = top(target)
            if theirs == mine or theirs is None:
                continue
            if mine not in RANK or theirs not in RANK:
                problems.append(f"{rel}:{line}: {mine!r} or {theirs!r} has no layer in LAYERS")
            elif RANK[theirs] >= RANK[mine]:
                how = "upward" if RANK[theirs] > RANK[mine] else "sideways (same layer)"
                problems.append(f"{rel}:{line}: {mine} imports {theirs} {how}")
    problems += [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp) + [sorted(comp)[0]])

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    print(f"{len(problems)} layering problem(s) in {ROOT}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
