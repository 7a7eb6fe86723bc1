"""The static lint: ADC rules that point at code automatic differentiation gets wrong.

Everything here is pure ``ast``: nothing of the user's code is imported or run.

- ``catalog``: every ADC code (static and runtime), one severity each; ``make_finding``.
- ``names``: what library names mean (array modules, mutating methods, random calls, jit...).
- ``facts``: what a module imports, defines and registers.
- ``dataflow``: where each name's object comes from (``Origin``) and whether it is input-derived.
- ``checkers``: one module per rule family; ``driver`` walks each function and dispatches to them.
- ``noqa``: ``# noqa`` comments; ``docs``: docs/rules.md.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from .. import syntax
from ..errors import TargetError
from ..model import Finding, Framework
from .catalog import RULES, Rule, Severity, Stage, make_finding
from .driver import Linter
from .facts import ModuleFacts
from .noqa import is_silenced, noqa_lines

__all__ = ["RULES", "Rule", "Severity", "Stage", "lint_file", "lint_paths", "lint_tree", "make_finding"]


def lint_tree(tree: ast.Module, source: str, path: str, function: str | None = None,
              written_for: Framework | None = None, skipped: list[str] | None = None) -> list[Finding]:
    """Findings for an already parsed module: for the code reachable from ``function`` or, without
    it, every function. ``source`` is the text ``tree`` was parsed from (for ``# noqa``); ``path``
    is reported as given. Each function's code is held to what it is written for, decided from
    what it reaches as ``adcheck run`` decides it (``source.summarize``); ``written_for``: that
    framework for ``function``, when the caller has it already. Raises TargetError when
    ``function`` is not something the lint can see."""
    module = syntax.MEMO.get(tree, "lint facts", lambda: ModuleFacts(tree))

    @functools.cache
    def judged_as(name: str) -> str | None:
        if written_for is not None:
            return _judged_as(module, written_for)
        from ..source import framework_of, reached_packages

        return _judged_as(module, framework_of(reached_packages(tree, name, Path(path))))

    linter = Linter(module, judged_as)
    if function is None:
        linter.lint_module()
    else:
        linter.lint_target(function, str(path))
    if skipped is not None:
        skipped.extend(linter.skipped)
    silenced = noqa_lines(source)
    findings = [
        make_finding(raw.code, str(path), raw.line, raw.col, raw.message, explains=raw.explains)
        for raw in linter.findings.values() if not is_silenced(silenced, raw.line, raw.code)
    ]
    return sorted(findings, key=lambda f: (f.line, f.col, f.code))


def lint_file(path: str | Path, function: str | None = None, skipped: list[str] | None = None) -> list[Finding]:
    """Findings for the file at ``path`` (see ``lint_tree``)."""
    source, tree = _read_and_parse(Path(path))
    return lint_tree(tree, source, str(path), function, skipped=skipped)


def _judged_as(module: ModuleFacts, written_for: Framework) -> str | None:
    """The framework the checks hold the code to: the target's, where a run has decided it.

    A plain-numpy function in a file that also has autograd (or JAX, torch) code is numpy code:
    adcheck rebinds its numpy under each backend, so its numpy calls are traced, and warning that
    "autograd cannot trace" them would contradict the run. Array-API code keeps the module's view.
    """
    if written_for == Framework.ARRAY_API:
        return module.framework
    return None if written_for == Framework.NUMPY else str(written_for)


def lint_paths(specs: list[str], skipped: list[str] | None = None) -> list[Finding]:
    """Lint each ``FILE`` or ``FILE:func`` (what ``adcheck lint`` takes); the findings of all of them,
    file by file. ``skipped`` gets ``path:function`` of each function nested too deeply to walk."""
    findings = []
    for spec in specs:
        location, sep, function = spec.rpartition(":")
        if not sep or not function or not all(p.isidentifier() for p in function.split(".")) or not location:
            location, function = spec, None
        path = Path(location)
        if not path.is_file():
            raise TargetError(f"{spec}: no such file {location}")
        deep: list[str] = []
        findings.extend(lint_file(path, function, deep))
        if skipped is not None:
            skipped.extend(f"{location}:{name}" for name in deep)
    return findings


def _read_and_parse(path: Path) -> tuple[str, ast.Module]:
    """The file's text and its tree, from one read (the tree and the noqa comments agree)."""
    try:
        source = syntax.read_python(path)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from None
    try:
        return source, syntax.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(f"{path}:{exc.lineno}: syntax error: {exc.msg}",
                          hint="fix the file; adcheck has not run any of it") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise TargetError(f"{path}: cannot parse: {exc}") from None
