"""``--format sarif``: SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning and others).

Lint findings are results under their ADC rule (described from ``adcheck.lint.RULES``); a backend
that disagrees with finite differences (first or second derivative) is a result under the
``disagreement`` rule, a backend that fails under ``backend-error``, a function whose value changes
between calls under ``impure-function``, a case no AD backend could run under ``nothing-checked``
and unverified entries under ``inconclusive`` (a warning), all at the function's ``def`` line. A
kink is a valid answer, not a result.
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

from .. import __version__
from ..model import RunReport
from .common import Interruption, problems
from .formats import Document
from .text import printable

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}

# Rules that are not lint codes: what the comparison itself reports.
BUILTIN_RULES = {
    "disagreement": {
        "name": "JacobianDisagreement",
        "summary": "An automatic derivative disagrees with the finite-difference reference beyond its error bar.",
        "severity": "error",
    },
    "backend-error": {
        "name": "BackendError",
        "summary": "A backend failed to compute the Jacobian (an exception, a crash or a timeout).",
        "severity": "error",
    },
    "nothing-checked": {
        "name": "NothingChecked",
        "summary": "No automatic-differentiation backend could run the function, so nothing was checked.",
        "severity": "error",
    },
    "impure-function": {
        "name": "ImpureFunction",
        "summary": "The function's value changes between identical calls, so no derivative can be checked.",
        "severity": "error",
    },
    "inconclusive": {
        "name": "Inconclusive",
        "summary": "Some Jacobian entries could be verified neither by a reference nor by other AD backends.",
        "severity": "warning",
    },
}
RULE_OF_PROBLEM = {"disagree": "disagreement", "error": "backend-error", "nothing-checked": "nothing-checked",
                   "unusable": "impure-function", "inconclusive": "inconclusive"}


def _lint_rules() -> dict:
    from ..lint import RULES

    return RULES


def _rule_descriptor(rule_id: str, lint_rules: dict) -> dict:
    if rule_id in BUILTIN_RULES:
        info = BUILTIN_RULES[rule_id]
        name, summary, severity, description, help_markdown = (
            info["name"], info["summary"], info["severity"], "", "")
    else:
        rule = lint_rules.get(rule_id)
        name = getattr(rule, "name", None) or rule_id
        summary = getattr(rule, "summary", None) or f"adcheck lint rule {rule_id}"
        severity = getattr(rule, "severity", None) or "warning"
        description = getattr(rule, "what_it_does", None) or ""
        help_markdown = _help_markdown(rule)
    descriptor = {
        "id": rule_id,
        "name": str(name),
        "shortDescription": {"text": str(summary)},
        "defaultConfiguration": {"level": LEVELS.get(str(severity), "warning")},
    }
    if description:
        descriptor["fullDescription"] = {"text": str(description)}
    if help_markdown:
        descriptor["help"] = {"text": help_markdown, "markdown": help_markdown}
    return descriptor


def _help_markdown(rule) -> str:
    """The rule's documentation sections (the same as docs/rules.md), for the code-scanning view."""
    sections = [("What it does", "what_it_does", False), ("Why is this bad?", "why_bad", False),
                ("Example", "example", True), ("Use instead", "use_instead", True)]
    parts = []
    for title, attribute, code in sections:
        text = getattr(rule, attribute, None)
        if text:
            parts.append(f"### {title}\n\n" + (f"```python\n{text}\n```" if code else str(text)))
    return "\n\n".join(parts)


def _location(path: str, line: int | None, col: int | None = None) -> dict:
    region = {"startLine": max(1, int(line or 1))}
    if col:
        region["startColumn"] = max(1, int(col))
    return {"physicalLocation": {"artifactLocation": {"uri": uri(path)}, "region": region}}


def uri(path: str) -> str:
    """A relative URI reference for ``path`` (SARIF's ``artifactLocation.uri``): forward slashes,
    and every byte outside the URI's unreserved and sub-delimiter characters percent-encoded
    (a space, a control character, a name that is not UTF-8: ``b%FFd.py``, its real bytes)."""
    return quote(os.fsencode(path.replace("\\", "/")), safe="/!$&'()*+,;=@-._~")


def _report_locations(report: RunReport) -> list[dict]:
    """The function's ``def`` line; for a function that never loaded, the target's file at line 1.

    Code-scanning dashboards drop a result without a location, and "the file could not be imported"
    is exactly the kind of result that must not vanish.
    """
    if report.source:
        return [_location(report.source.path, report.source.line)]
    path = report.target.rsplit(":", 1)[0] if ":" in report.target else ""
    return [_location(path, 1)] if path.endswith(".py") else []


def _results(report: RunReport) -> list[dict]:
    locations = _report_locations(report)
    results = []
    for problem in problems(report):
        rule = RULE_OF_PROBLEM.get(problem.kind)
        if rule is None:
            continue  # a kink is a valid answer, not a result
        properties = {"case": report.target}
        if problem.backend:
            properties["backend"] = problem.backend
        results.append({"ruleId": rule, "level": LEVELS[BUILTIN_RULES[rule]["severity"]],
                        "message": {"text": problem.text}, "locations": locations, "properties": properties})
    for finding in report.findings:
        results.append({
            "ruleId": finding.code,
            "level": LEVELS.get(finding.severity, "warning"),
            "message": {"text": finding.message},
            "locations": [_location(finding.path, finding.line, finding.col)],
            "properties": {"case": report.target, "explains": list(finding.explains)},
        })
    return results


def sarif_dict(reports: list[RunReport], interrupted: Interruption | None = None) -> dict:
    results = []
    seen_findings = set()
    for report in reports:
        for result in _results(report):
            if result["ruleId"] in BUILTIN_RULES:
                results.append(result)
                continue
            # Two cases of one function report the same lint finding: keep it once.
            location = result["locations"][0]["physicalLocation"]
            key = (result["ruleId"], location["artifactLocation"]["uri"], location["region"]["startLine"],
                   location["region"].get("startColumn"), result["message"]["text"])
            if key not in seen_findings:
                seen_findings.add(key)
                results.append(result)
    lint_rules = _lint_rules()
    rule_ids = sorted({r["ruleId"] for r in results} | {"disagreement"})
    rules = [_rule_descriptor(rule_id, lint_rules) for rule_id in rule_ids]
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    run = {"tool": {"driver": {"name": "adcheck", "version": __version__, "rules": rules}}, "results": results}
    if interrupted is not None:
        run["invocations"] = [interrupted_invocation(interrupted)]
    return _printable({"version": SARIF_VERSION, "$schema": SARIF_SCHEMA, "runs": [run]})


def interrupted_invocation(interrupted: Interruption) -> dict:
    """SARIF's word for a run that did not finish: an invocation that was not successful, with a
    notification saying which cases were not checked."""
    from ..errors import ExitCode

    return {"executionSuccessful": False, "exitCode": int(ExitCode.INTERRUPTED),
            "exitCodeDescription": "interrupted",
            "toolExecutionNotifications": [{"level": "error", "message": {"text": interrupted.sentence}}]}


def _printable(value):
    """Every string in the document through ``printable`` (the URIs are already ASCII)."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def render(reports: list[RunReport], *, timings: bool = True, fail_on: str = "disagree",
           interrupted: Interruption | None = None) -> str:
    """Each result at its own level, whatever ``fail_on`` makes fail the run (the exit code says that)."""
    return json.dumps(sarif_dict(reports, interrupted), indent=2, ensure_ascii=False)


FORMAT = Document("sarif", render)
