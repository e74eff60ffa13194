"""The shape of the code: no import cycle among the modules of ``zoo`` and ``kernels``, and a light hub.

Imports inside functions count: a cycle hidden in a function still couples two modules both ways. An
import ``from package import name`` points at the submodule ``package.name`` when there is one, else at
the package itself (whose ``__init__`` runs).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("zoo", "kernels")
HEAVY = ("lightning", "pandas", "torchmetrics", "torch._dynamo")


def _module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def _imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports anywhere in its body, functions included."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                named.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source)
    resolved = set()
    for target in named:
        while target and target not in known:  # `import zoo.data.sources` -> the module zoo.data.sources
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def import_graph() -> dict[str, set[str]]:
    files = _module_files()
    return {name: _imported_modules(name, path, set(files)) for name, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_the_graph_sees_imports_inside_functions() -> None:
    graph = import_graph()
    assert "zoo.tasks.forecasting" in graph["zoo.conversion"]  # imported at the top
    assert "zoo.data.images" in graph["zoo.tasks.checkpoints"]  # imported inside preprocessing_of
    assert "zoo.data.sources" in graph["zoo.hub.store"] and "zoo.data" not in graph["zoo.hub.store"]


def test_cycles_are_detected() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_zoo_and_kernels() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (counting imports inside functions): " + "; ".join(
        " <-> ".join(cycle) for cycle in cycles
    )


def test_loading_a_shipped_forecaster_imports_nothing_heavy() -> None:
    code = (
        "import sys\n"
        "import zoo\n"
        "net = zoo.create_model('tcn.etth1', pretrained=True)\n"
        "import torch\n"
        "assert net(torch.zeros(1, 96, 7)).shape == (1, 96, 7)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"loading tcn.etth1 imported {result.stdout.strip()}"
