"""Blame the primitive: which derivative rule is wrong, and which line of the user's code applied it.

When a backend disagrees with finite differences, its worker replays the computation at primitive
granularity and checks every rule alone, at the operands it saw, against finite differences of
that primitive alone (``local``): the jaxpr's equations (``jax``), autograd's recorded trace
(``autograd``), the dispatched aten ops and ``torch.autograd.Function`` calls (``torch``).

Tapenade's debug mode compares a tangent with divided differences at each debug point and, after a
mismatch, resets the tangent to the divided difference so that later points report only their own
error. Here every rule is judged at the values of the undifferentiated program and along the
directions the program itself moves its operands (a small step either side of the input), never
along a tangent some earlier rule computed: a wrong rule upstream cannot leak into any later check,
which is the Tapenade rule taken at every primitive. Checks run in program order; every wrong rule
is reported, once per rule and calling line. Units (custom rules, jitted functions, Functions,
loops) are checked whole first and looked inside only when wrong.

The budget (``task.job``: a ``task.Blame``) bounds the checks; when it runs out
the result says how far it got.
"""

from __future__ import annotations

import ast
import time
from dataclasses import dataclass

from ...model import BlameResult, BlameRun, Finding, Status, display_path
from . import local
from .findings import finding
from .program import Application, Site

def replay_of(rules: str):
    """The per-primitive replay of a framework's rules (the module with ``record(task)``)."""
    if rules == "jax":
        from . import jax as replay
    elif rules == "torch":
        from . import torch as replay
    elif rules == "autograd":
        from . import autograd as replay
    else:
        raise LookupError(f"no per-primitive replay of {rules}'s rules")
    return replay


def blame(task) -> BlameRun:
    """Check ``task.backend``'s rules one by one; the wrong ones as findings (``BlameRun.blame``)."""
    from ...backends import REGISTRY, Capability

    start = time.perf_counter()
    backend = REGISTRY.get(task.backend)
    if backend is None or Capability.BLAME not in backend.capabilities:
        return BlameRun(task.backend, Status.COMPUTED, 0.0,
                        blame=BlameResult(stopped=f"{task.backend} has no per-primitive replay"))
    replay = replay_of(backend.rules)
    budget = Budget(task.job.primitives, task.job.seconds, start)
    applications = replay.record(task)
    walk = Walk(task, budget, _fallback_site(task))
    walk.run(applications)
    return BlameRun(task.backend, Status.COMPUTED, time.perf_counter() - start, blame=walk.result())


@dataclass(frozen=True)
class Budget:
    primitives: int  # 0: no limit
    seconds: float  # 0: no limit
    start: float

    def spent(self, checked: int) -> str:
        """Why no more checks may run ("" while some may)."""
        if self.primitives and checked >= self.primitives:
            return f"the budget of {self.primitives} primitives (--blame-primitives) was used up"
        if self.seconds and time.perf_counter() - self.start >= self.seconds:
            return f"the budget of {self.seconds:g} s (--blame-seconds) was used up"
        return ""


class Walk:
    """Visit applications in program order, descending into wrong units; collect the findings."""

    def __init__(self, task, budget: Budget, fallback: Site):
        self.task = task
        self.budget = budget
        self.fallback = fallback
        self.checked = 0
        self.total = 0
        self.stopped = ""
        self.findings: dict[tuple, Finding] = {}
        self.last: Site | None = None

    def run(self, applications: list[Application]) -> bool:
        self.total += len(applications)
        for application in applications:
            if not self.visit(application):
                return False
        return True

    def visit(self, application: Application) -> bool:
        """Check one application; False once the budget is spent."""
        reason = self.budget.spent(self.checked)
        if reason:
            where = f", last at {display_path(self.last.path)}:{self.last.line}" if self.last else ""
            self.stopped = reason + where
            return False
        self.checked += 1
        self.last = application.site or self.last
        if self._already_reported(application):
            return True
        verdict, problem = _check(application.problem, application)
        if verdict.wrong:
            return self._wrong(application, verdict, problem, 1)
        if self.task.order == 2 and verdict.judged:
            second, second_problem = _check(application.second, application)
            if second.wrong:
                return self._wrong(application, second, second_problem, 2)
        return True

    def _wrong(self, application: Application, verdict: local.Verdict, problem, order: int) -> bool:
        if application.children is not None:
            before = len(self.findings)
            try:
                children = application.children()
            except Exception:  # noqa: BLE001 - the inside cannot be replayed: the unit stands for it
                children = []
            if not self.run(children):
                return False
            if len(self.findings) > before or not application.report_unit:
                return True
        if verdict.evidence is None:
            return True
        made = finding(application, verdict.evidence, problem, order, self.task.backend, self.fallback)
        self.findings.setdefault(self._key(application, made.code), made)
        return True

    def _key(self, application: Application, code: str) -> tuple:
        site = application.site
        return (code, application.rule.key, (site.path, site.line) if site else None)

    def _already_reported(self, application: Application) -> bool:
        return any(self._key(application, code) in self.findings for code in ("ADC501", "ADC502", "ADC604"))

    def result(self) -> BlameResult:
        return BlameResult(tuple(self.findings.values()), self.checked, self.total, self.stopped)


def _check(build, application: Application) -> tuple[local.Verdict, object]:
    try:
        problem = build()
        if problem is None:
            return local.NOT_JUDGED, None
        return local.check(problem, application.directions()), problem
    except Exception:  # noqa: BLE001 - a primitive that cannot be replayed alone is not judged
        return local.NOT_JUDGED, None


def _fallback_site(task) -> Site:
    """Where a finding goes when no frame of the user's code called the rule: the target's own
    ``def`` line (line 1 of its file when it cannot be found)."""
    path = getattr(task.target, "path", None)
    if path is None:
        return Site(task.target.text, 1)
    name = str(getattr(task.target, "attribute", "")).split(".")[-1]
    return Site(str(path), _def_line_of(str(path), name) or 1)


def _def_line_of(path: str, name: str) -> int:
    from ..probes import parse_user_file

    tree = parse_user_file(path) if name else None
    for node in getattr(tree, "body", ()):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno
    return 0
