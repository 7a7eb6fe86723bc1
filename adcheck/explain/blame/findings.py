"""A wrong rule as a finding: ADC502 (an installed library's rule), ADC501 (the user's own rule) or
ADC604 (a NaN or inf derivative where the rule's finite differences are finite), at the user's
line that applied the rule, with both numbers."""

from __future__ import annotations

import numpy as np

from ...lint import make_finding
from ...model import Finding, display_path
from .local import Evidence, LocalProblem, entry_name
from .program import Application, Rule, Site, definition_line, return_line


def finding(app: Application, evidence: Evidence, problem: LocalProblem, order: int, backend: str,
            fallback: Site) -> Finding:
    site = app.site or _rule_site(app.rule) or fallback
    code = "ADC604" if evidence.nonfinite else ("ADC501" if app.rule.user else "ADC502")
    # Where no line of the user's code applied the rule (the target is the rule-carrying function
    # itself), the finding stands at the rule's own definition, and "called at" would only repeat it.
    where = f", called at {display_path(site.path)}:{site.line}" if app.site is not None else ""
    numbers = describe_evidence(evidence, problem, order)
    rule = describe_rule(app.rule)
    slot = returned_slot(app.rule, evidence, problem, backend) if order == 1 else ""
    if code == "ADC604":
        kind = "NaN" if np.isnan(evidence.rule) else "inf"
        what = "the derivative of the derivative rule" if order == 2 else "the derivative rule"
        message = (f"{backend}: {what} of {rule} gives {kind} at the inputs it gets here, where finite "
                   f"differences of it are finite{slot}: {numbers}{where}")
    elif order == 2:
        message = (f"the derivative rule of {rule} is not differentiated correctly at the inputs it gets here "
                   f"(its own derivative, --order 2): {numbers}{where}")
    else:
        message = f"the derivative rule of {rule} is wrong at the inputs it gets here{slot}: {numbers}{where}"
    return make_finding(code, site.path, site.line, site.col, message, proven=True, explains=(backend,),
                        executed=True)


def _rule_site(rule: Rule) -> Site | None:
    """The ``def`` line of the user's own rule (jvp, fwd/bwd, backward), where one is known."""
    if not rule.user or rule.definition is None or not rule.definition[0]:
        return None
    path, line = rule.definition
    return Site(path, definition_line(path, line), 1, rule.function)


def returned_slot(rule: Rule, evidence: Evidence, problem: LocalProblem, backend: str) -> str:
    """For a torch.autograd.Function: which value its rule returns is wrong, named as forward names
    it, at the rule's ``return`` line: ``, in backward's returned gradient [1] (the one for scale)
    at m.py:20``. "" for other rules, or where the evidence is along a direction."""
    if not rule.operand_names or rule.definition is None:
        return ""
    path, first = rule.definition
    line = return_line(path, definition_line(path, first))
    at = f" at {display_path(path)}:{line}" if line else ""
    method = rule.function.rpartition(".")[2] or "the rule"
    if backend.endswith("-fwd"):  # jvp returns the outputs' tangents
        if evidence.output is None:
            return ""
        k = _operand_of(problem.outputs, evidence.output)
        return f", in {method}'s returned tangent [{k}]{at}"
    if evidence.input is None:
        return ""
    k = _operand_of(problem.inputs, evidence.input)
    if k is None or k >= len(rule.operand_slots):
        return ""
    return f", in {method}'s returned gradient [{rule.operand_slots[k]}] (the one for {rule.operand_names[k]}){at}"


def _operand_of(operands, index: int) -> int | None:
    """Which operand the flat entry ``index`` belongs to."""
    for k, operand in enumerate(operands):
        if index < operand.size:
            return k
        index -= operand.size
    return None


def describe_rule(rule: Rule) -> str:
    """``jax.numpy.sinc (jax 0.10.2)`` or ``my_sin (your custom_vjp, my_sin_bwd at m.py:16)``."""
    if rule.user:
        text = f"your {rule.kind}" if rule.kind else "your rule"
        if rule.definition is not None:
            path, line = rule.definition
            where = f"at {display_path(path)}:{definition_line(path, line)}"
            text += f", {rule.function} {where}" if rule.function and rule.function != rule.name else f" {where}"
        return f"{rule.name} ({text})"
    owner = " ".join(p for p in (rule.library, rule.version) if p)
    return f"{rule.name} ({owner})" if owner else rule.name


def describe_evidence(evidence: Evidence, problem: LocalProblem, order: int) -> str:
    """``d/dx = 0.41 vs 0.57 ± 1e-09 (FD)``, naming entries when the rule has more than one."""
    n_outputs = sum(o.size for o in problem.outputs)
    y = entry_name(problem.outputs, evidence.output) if n_outputs > 1 and evidence.output is not None else ""
    y = f" {y}" if y else ""
    if evidence.input is None:
        lhs = f"d{y}/dt along the direction the program moves its operands"
    else:
        x = entry_name(problem.inputs, evidence.input)
        lhs = f"d{y}/d{x}" if not y else f"d{y}/d {x}"
    if order == 2:
        method = f"{evidence.method} of the rule; y' is the rule's derivative"
    else:
        method = evidence.method
    return (f"{lhs} = {_number(evidence.rule)} vs {_number(evidence.reference)} ± {_error(evidence.error)} "
            f"({method})")


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "nan" if np.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.6g}"


def _error(value: float) -> str:
    return f"{value:.1g}" if np.isfinite(value) else "inf"
