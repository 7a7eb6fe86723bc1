"""Link findings to the disagreements they may explain.

Three sources: the runtime probes (sent back by the reference worker), ADC604 (an AD Jacobian
with NaN/inf where finite differences are finite, read off the runs here) and the static lint of
the target's file (the tree the run already parsed). Each finding's ``explains`` names the
backends whose failure it may cause; ``executed`` says whether its line ran in the plain-numpy
call.
"""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..lint import make_finding
from ..model import FAILING, BackendRun, Comparison, Finding, Status
from .probes import parse_user_file

# Runtime findings that mean "the function is not a function": when every AD backend agrees
# with the others and only FD is off, these explain FD.
IMPURITY_CODES = frozenset({"ADC601", "ADC603"})
RUNTIME_ERROR_CODES = frozenset({"ADC601", "ADC602", "ADC603", "ADC604", "ADC403"})
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
BLAME_CODES = frozenset({"ADC501", "ADC502", "ADC604"})  # what adcheck.explain.blame reports


def explain(target, summary, runs, comparison: Comparison, findings, entry_name=None) -> tuple[Finding, ...]:
    """Every finding, with ``explains`` and ``executed`` set, runtime first, then by relevance.

    ``entry_name(row, col)`` names a Jacobian entry (``d f[0] / d x[1]``) in the findings' messages.
    """
    reference = next((r for r in runs if r.status == Status.REFERENCE), None)
    executed_lines = reference.probes.executed_lines if reference is not None and reference.probes else None
    failing = tuple(v.name for v in comparison.verdicts if v.status in FAILING)
    kinked = tuple(v.name for v in comparison.verdicts if v.status == Status.KINK)

    runtime = [_link_runtime(f, failing, comparison) for f in findings]
    # Where the per-primitive check named the wrong rule, the static "has a custom rule" finding
    # explains nothing more for that backend (it stays in the list, linked to no row).
    blamed = {name for f in findings if f.code in BLAME_CODES and f.explains for name in f.explains}
    # A backend whose NaN the per-primitive check traced to a rule needs no generic ADC604.
    traced = {name for f in findings if f.code == "ADC604" for name in f.explains}
    # Nor does a backend the verdict set aside: autograd code rebound to jax.numpy whose NaN is the
    # rebinding's (jnp.std at zero variance), where autograd itself agrees; its row says so.
    set_aside = {v.name for v in comparison.verdicts if v.status == Status.NOT_APPLICABLE}
    runtime += [f for f in nan_findings(summary, runs, reference, entry_name)
                if not set(f.explains) & (traced | set_aside)]

    static = []
    executed_record = _ExecutedRecord(executed_lines) if executed_lines is not None else None
    for finding in lint(target, summary):
        executed = executed_record.ran(finding) if executed_record is not None else None
        if executed is False:
            static.append(replace(finding, explains=(), executed=False))
            continue
        if finding.code == "ADC501":
            explains = tuple(name for name in failing if name in finding.explains) if finding.explains else failing
            explains = tuple(name for name in explains if name not in blamed)
            static.append(replace(finding, explains=explains, executed=executed,
                                  message=_rule_message(finding, explains, comparison)))
        elif finding.code == "ADC301":
            static.append(replace(finding, explains=kinked, executed=executed))
        elif finding.severity == "info":
            static.append(replace(finding, explains=(), executed=executed))
        else:
            static.append(replace(finding, explains=failing, executed=executed))

    if executed_record is not None and failing:  # causes, for a run that needs one
        static += _helper_traps(summary, executed_lines, executed_record, failing)
    runtime = [_named_trap(f, static) for f in runtime]

    def order(item):
        group, finding = item
        return group, SEVERITY_ORDER.get(finding.severity, 3), finding.line, finding.code

    ranked = [(0, f) for f in runtime] + [(1 if f.executed else 2, f) for f in static]
    return tuple(f for _, f in sorted(ranked, key=order))


def lint(target, summary) -> list[Finding]:
    """The static findings for the target, from the tree the run already parsed.

    None when the lint cannot see the function: a name re-exported from another module
    (``scipy.optimize:rosen``), built by a factory, or assigned from a call. The backends have
    already run it; a static view the lint does not have must not cost the user the report.
    """
    from ..errors import TargetError
    from ..lint import lint_tree

    key = (id(summary.tree), str(summary.path), target.attribute)
    cached = _LINTED.get(key)
    if cached is not None and cached[0] is summary.tree:  # the same parse of the same file: the same findings
        return list(cached[1])
    try:
        findings = tuple(lint_tree(summary.tree, summary.source, str(summary.path), target.attribute,
                                   summary.framework))
    except TargetError:
        findings = ()
    if len(_LINTED) >= 256:
        _LINTED.clear()
    _LINTED[key] = (summary.tree, findings)
    return list(findings)


# (id of the parsed tree, path, target) -> (that tree, its findings): adcheck check lints a
# function once for all its cases. The tree is kept so its id cannot be reused by another.
_LINTED: dict[tuple, tuple] = {}


def _link_runtime(finding: Finding, failing: tuple[str, ...], comparison: Comparison) -> Finding:
    if finding.code in BLAME_CODES and finding.explains:
        return replace(finding, executed=True)  # the per-primitive check names the backend it explains
    if finding.code in IMPURITY_CODES and comparison.odd_one_out == ("fd",):
        # FD sampled a function that changed under it: the reference is unusable, and that is the
        # run's failure (the fd row is listed among the failing ones).
        return replace(finding, explains=("fd", *(name for name in failing if name != "fd")), executed=True)
    if finding.code in RUNTIME_ERROR_CODES or finding.code == "ADC606":
        return replace(finding, explains=failing, executed=True)
    return replace(finding, explains=(), executed=True)


def nan_findings(summary, runs, reference: BackendRun | None, entry_name=None) -> list[Finding]:
    """ADC604: a backend's Jacobian or value is NaN/inf where the plain-numpy reference is finite."""
    if reference is None or reference.jacobian is None:
        return []
    path = str(Path(summary.path).resolve())
    line = summary.definition_line or 1
    found = []
    for run in runs:
        if run.status != Status.COMPUTED or run.jacobian is None or run.jacobian.shape != reference.jacobian.shape:
            continue
        bad_values = 0
        if run.value is not None and reference.value is not None and run.value.shape == reference.value.shape:
            bad_values = int(np.sum(~np.isfinite(run.value) & np.isfinite(reference.value)))
        bad = ~np.isfinite(run.jacobian) & np.isfinite(reference.jacobian)
        if not bad.any() and not bad_values:
            continue
        parts = []
        if bad.any():
            i, j = (int(k) for k in np.argwhere(bad)[0])
            kind = "NaN" if np.isnan(run.jacobian[i, j]) else "inf"
            entry = entry_name(i, j) if entry_name is not None else f"entry ({i}, {j})"
            parts.append(f"{int(bad.sum())} of {bad.size} Jacobian entries are NaN/inf (first: {entry} is "
                         f"{kind}, fd {reference.jacobian[i, j]:.6g})")
        if bad_values:
            parts.append(f"{bad_values} output values are NaN/inf")
        found.append(make_finding("ADC604", path, line, 1,
                                  f"{run.name}: " + "; ".join(parts) + " where finite differences are finite"
                                  + GENERIC_NAN_HINT,
                                  explains=(run.name,), executed=True))
    return found


# The lint findings that make a NaN derivative out of finite code: a `where` that differentiates the
# branch it masks out, and a root, norm or log at exactly zero. Followed into the user's other files.
NAN_TRAP_CODES = ("ADC302", "ADC303")
TRAP_FIX = {
    "ADC302": "give the masked-out branch a safe input too: where(c, sqrt(where(c, x, 1.0)), 0.0)",
    "ADC303": "keep the quantity away from zero (sqrt(s + tiny)) or handle the zero case apart",
}
TRAP_WHAT = {"ADC302": "which differentiates the branch it masks out", "ADC303": "at a quantity that can be zero"}
RULES_DOCS = "docs/rules.md"
# What ADC604 says when no line of the user's is known to make the NaN.
GENERIC_NAN_HINT = " (a NaN in an unused branch, e.g. where(x > 0, sqrt(x), 0), reaches the derivative)"


def _helper_traps(summary, executed_lines: dict, executed_record, failing: tuple[str, ...]) -> list[Finding]:
    """The NaN traps (``NAN_TRAP_CODES``) on lines that ran in the user's other files, as ``adcheck
    lint`` finds them there: the target's own file is linted already, and a helper's ``where``
    is as much a cause as one in the target."""
    from ..lint import lint_file

    own = str(Path(summary.path).resolve())
    found = []
    for path in sorted(executed_lines):
        if str(Path(path).resolve()) == own or not path.endswith(".py"):
            continue
        try:
            findings = lint_file(path)
        except Exception:  # noqa: BLE001 - a helper the lint cannot read is no cause it can name
            continue
        found += [replace(f, explains=failing, executed=True) for f in findings
                  if f.code in NAN_TRAP_CODES and executed_record.ran(f)]
    return found


def _named_trap(finding: Finding, static: list[Finding]) -> Finding:
    """ADC604 (NaN where FD is finite), led by the user's line that most likely made the NaN: a
    trap the lint found on a line that ran, for the same backend. Without one it stays as it is
    (the NaN may come from a library's rule)."""
    if finding.code != "ADC604" or not finding.explains:
        return finding
    traps = [f for f in static if f.code in NAN_TRAP_CODES and f.executed and set(f.explains) & set(finding.explains)]
    if not traps:
        return finding
    trap = min(traps, key=lambda f: (NAN_TRAP_CODES.index(f.code), f.path, f.line))
    from ..model import display_path

    backend, _, rest = finding.message.partition(": ")
    kind = "`where`" if trap.code == "ADC302" else "code"
    rest = rest.removesuffix(GENERIC_NAN_HINT)
    cause = (f"your {kind} at {display_path(trap.path)}:{trap.line}:{trap.col} ({trap.code}), {TRAP_WHAT[trap.code]}, makes "
             f"this NaN; fix: {TRAP_FIX[trap.code]} ({RULES_DOCS}#{trap.code.lower()})")
    return replace(finding, message=f"{backend}: {cause}. What was seen: {rest}")


def _rule_message(finding: Finding, explains: tuple[str, ...], comparison: Comparison) -> str:
    """Add "only X, which uses this rule, disagrees" when every failing backend uses the rule."""
    failing = {v.name for v in comparison.verdicts if v.status in FAILING}
    if not finding.explains or not explains or set(explains) != failing:
        return finding.message
    names = " and ".join(explains) if len(explains) <= 2 else ", ".join(explains[:-1]) + " and " + explains[-1]
    verb = "uses this rule, disagrees" if len(explains) == 1 else "use this rule, disagree"
    return f"{finding.message} (only {names}, which {verb})"


class _ExecutedRecord:
    """Whether a finding's line ran in the plain-numpy call.

    A line counts as run when it is in the trace, when it belongs to a statement that started on
    a traced line, when it is the header (decorators, def line) of a function whose body ran, or
    when it is module-level code (run at import). Derivative rules (ADC501) never run in the
    plain-numpy call, so for them "did not run" means "unknown".
    """

    def __init__(self, executed_lines: dict[str, list[int]]):
        self.lines = {str(Path(path).resolve()): set(numbers) for path, numbers in executed_lines.items()}

    def ran(self, finding: Finding) -> bool | None:
        path = str(Path(finding.path).resolve())
        tree = self._tree(path)
        if tree is None:
            return None
        lines = self.lines.get(path, set())
        if finding.line in lines:
            return True
        function, statement = _enclosing(tree, finding.line)
        if function is None:
            return True  # module or class level: it ran when the module was imported
        if statement is function:
            result = any(n in lines for n in range(function.body[0].lineno, function.end_lineno + 1))
        else:
            start, end = _header_span(statement)
            result = any(n in lines for n in range(start, end + 1))
        if not result and finding.code == "ADC501":
            return None
        return result

    def _tree(self, path: str) -> ast.Module | None:
        return parse_user_file(path)


def _header_span(node: ast.stmt) -> tuple[int, int]:
    """The lines of a statement up to its body (all of it for a simple statement)."""
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    body = getattr(node, "body", None)
    if isinstance(body, list) and body:
        return start, max(start, body[0].lineno - 1)
    return start, node.end_lineno or node.lineno


def _enclosing(tree: ast.Module, line: int):
    """(innermost function containing ``line``, innermost statement containing it)."""
    function = statement = None
    nodes = list(tree.body)
    while nodes:
        inner = None
        for node in nodes:
            if not isinstance(node, ast.stmt):
                continue
            start, _ = _header_span(node)
            if start <= line <= (node.end_lineno or node.lineno):
                inner = node
                break
        if inner is None:
            break
        statement = inner
        start, header_end = _header_span(inner)
        if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if line <= header_end:
                # A decorator or def line: it belongs to the function; judged by whether its body ran.
                return inner, inner
            function = inner
        if line <= header_end:
            break
        nodes = []
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            for child in getattr(inner, field, None) or []:
                # except/case clauses are not statements: their bodies are.
                nodes.extend(child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child])
    return function, statement
