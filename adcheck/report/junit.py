"""``--format junit``: one ``testcase`` per case and AD backend, for CI test-report viewers.

A disagreement is a ``failure`` whose text holds the worst entries and the likely causes; a
backend error is an ``error``; a backend that is not installed or cannot run the code is
``skipped``. The finite-difference reference is not a test of its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import RunReport, Status
from .table import worst_entries_table

SUITE_NAME = "adcheck"


def _causes(report: RunReport, backend: str) -> list[str]:
    return [f.format() for f in report.findings if backend in f.explains]


def _testcase(report: RunReport, verdict, timings: bool) -> ET.Element:
    element = ET.Element("testcase", {"classname": report.target, "name": verdict.name})
    if timings:
        element.set("time", f"{verdict.seconds:.3f}")
    if verdict.status == Status.DISAGREE:
        lines = [f"{verdict.name} disagrees with finite differences: {verdict.message}"]
        if verdict.mismatches:
            lines += ["", worst_entries_table(report, verdict)]
        causes = _causes(report, verdict.name)
        if causes:
            lines += ["", "Likely causes:"] + [f"  {c}" for c in causes]
        if report.comparison.consensus:
            lines += ["", report.comparison.consensus + "."]
        failure = ET.SubElement(element, "failure", {"type": "disagree", "message": f"{verdict.name}: {verdict.message}"})
        failure.text = "\n".join(lines)
    elif verdict.status == Status.ERROR:
        where = f" ({verdict.location})" if verdict.location else ""
        error = ET.SubElement(element, "error", {"type": "error", "message": verdict.message})
        error.text = f"{verdict.name}: error{where}\n{verdict.message}"
    elif verdict.status in (Status.UNAVAILABLE, Status.NOT_APPLICABLE):
        ET.SubElement(element, "skipped", {"message": verdict.message or str(verdict.status)})
    elif verdict.status == Status.KINK:
        out = ET.SubElement(element, "system-out")
        out.text = "\n".join([f"{verdict.name}: {verdict.message}"] + _causes(report, verdict.name))
    return element


def _cases(report: RunReport, timings: bool) -> list[ET.Element]:
    elements = [_testcase(report, v, timings) for v in report.comparison.verdicts if v.status != Status.REFERENCE]
    reference = next((v for v in report.comparison.verdicts if v.status == Status.ERROR and v.name == "fd"), None)
    if reference is not None:
        return elements  # the fd error row is already there: the function could not be called
    if not report.comparison.checked and not any(v.status == Status.ERROR for v in report.comparison.verdicts):
        element = ET.Element("testcase", {"classname": report.target, "name": "any backend"})
        ET.SubElement(element, "failure", {"type": "unchecked", "message": "no AD backend could be checked"})
        elements.append(element)
    return elements


def render(reports: list[RunReport], *, timings: bool = True) -> str:
    root = ET.Element("testsuites", {"name": SUITE_NAME})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for report in reports:
        for element in _cases(report, timings):
            suite.append(element)
            counts["tests"] += 1
            counts["failures"] += element.find("failure") is not None
            counts["errors"] += element.find("error") is not None
            counts["skipped"] += element.find("skipped") is not None
            total += float(element.get("time", 0))
    for node in (root, suite):
        for key, value in counts.items():
            node.set(key, str(value))
        if timings:
            node.set("time", f"{total:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
