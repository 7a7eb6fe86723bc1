"""The house's shape: no import cycles in ``adcheck``, and the layers import only downwards.

Every import counts, at module level or inside a function: a lazy import is still a dependency
(it only moves the cost), and a cycle of lazy imports is still a knot a reader has to untie.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "adcheck"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The adcheck modules ``path`` imports (resolved to modules, not names in them)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            # ``from . import backends`` imports the submodule; the package itself runs before
            # any of its submodules whatever they import, so it is no dependency of its own.
            submodules = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules]
            candidates = submodules or [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            # "adcheck.compare.agreement_bound" -> the module "adcheck.compare"
            while candidate and candidate not in modules:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and candidate.startswith("adcheck"):
                found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if state.get(target) is None:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_import_graph_is_found():
    graph = import_graph()
    assert "adcheck.compare" in graph["adcheck.run"]
    assert "adcheck.finite_differences" in graph["adcheck.backends.fd"]


def test_adcheck_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(("lower", "upper"), [
    ("adcheck.backends", "adcheck.explain"),  # the probes run as their own step in adcheck.workers
    ("adcheck.backends", "adcheck.report"),
    ("adcheck.backends", "adcheck.run"),
    ("adcheck.verdict.tolerances", "adcheck"),  # numpy only: the numerics below every stage read it
    ("adcheck.compare", "adcheck.backends"),
    ("adcheck.verdict", "adcheck.backends"),
    ("adcheck.verdict", "adcheck.run"),
    ("adcheck.verdict", "adcheck.task"),  # fast mode's verdicts name rows to localise in fast's own type
    ("adcheck.verdict", "adcheck.workers"),
    ("adcheck.verdict", "adcheck.report"),
    ("adcheck.model", "adcheck"),
    ("adcheck.lint", "adcheck.explain"),
    ("adcheck.report", "adcheck.run"),
])
def test_lower_layers_do_not_import_upper_ones(lower, upper):
    graph = import_graph()
    offenders = sorted(f"{module} imports {target}" for module, targets in graph.items()
                       if module == lower or module.startswith(lower + ".")
                       for target in targets
                       if target == upper or target.startswith(upper + "."))
    assert offenders == []


def test_the_numerics_below_every_stage_read_nothing_of_adcheck_but_the_epsilon_table():
    graph = import_graph()
    own = sorted(t for t in graph["adcheck.finite_differences"] | graph["adcheck.verdict.tolerances"]
                 if t == "adcheck" or t.startswith("adcheck."))
    assert set(own) <= {"adcheck.verdict", "adcheck.verdict.tolerances"}, own
