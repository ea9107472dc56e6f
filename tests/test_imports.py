"""The package's import graph: no module imports itself through others (imports inside
functions count too), no subpackage either, and every module imports in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "fmlpipe").rglob("*.py")):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package modules it imports (the longest known prefix of each name)."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The graph collapsed to ``fmlpipe.<subpackage>``: the packages must import downward too."""
    def top(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for m, targets in graph.items():
        out.setdefault(top(m), set()).update(top(t) for t in targets if top(t) != top(m))
    for targets in list(out.values()):
        for t in targets:
            out.setdefault(t, set())
    return out


def test_cycles_are_found_in_a_made_up_graph() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert packages({"fmlpipe.x.a": {"fmlpipe.y.b"}, "fmlpipe.y.b": {"fmlpipe.x.c"}, "fmlpipe.x.c": set()}) == {
        "fmlpipe.x": {"fmlpipe.y"}, "fmlpipe.y": {"fmlpipe.x"}}


def test_no_module_or_subpackage_imports_itself() -> None:
    graph = edges(modules())
    assert cycles(graph) == []
    assert cycles(packages(graph)) == []


def test_the_simulation_imports_no_tracking_and_no_stage() -> None:
    """``fmlpipe.train`` is the one place that joins the simulation with MLflow tracking."""
    graph = edges(modules())
    for name, targets in graph.items():
        if name.startswith("fmlpipe.fl"):
            assert not [t for t in targets if t.startswith(("fmlpipe.tracking", "fmlpipe.train"))], name


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    code = f"import importlib\nfor name in {sorted(modules())!r}:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
