"""``--format junit``: one ``testcase`` per case and AD backend, for CI test-report viewers.

A disagreement is a ``failure`` whose text holds the worst entries and the likely causes; a
function whose value changes between calls is a ``failure`` on the fd row, with its causes; a
backend error is an ``error``; a backend that is not installed or cannot run the code is
``skipped``; an inconclusive backend passes with its unverified entries in ``system-out``. The
failure policy decides what is a ``failure``: under ``--fail-on error`` a disagreement is
reported in ``system-out``, and under ``--fail-on inconclusive`` an inconclusive backend fails. With
``--order 2`` each second derivative is a ``testcase`` of its own ("jax-fwd (second order)"). A
case that no AD backend could run is a ``failure`` named "any backend". The finite-difference
reference is not a test of its own unless it is unusable.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..model import BackendVerdict, RunReport, Status
from ..settings import FailOn
from .common import (
    Interruption,
    inconclusive_table,
    problems,
    second_order_causes,
    second_order_entries_table,
    worst_entries_table,
)
from .formats import Document
from .text import printable

SUITE_NAME = "adcheck"


def _cause_lines(causes) -> list[str]:
    return ["", "Likely causes:"] + [f"  {f.format()}" for f in causes] if causes else []


def _testcase(report: RunReport, verdict: BackendVerdict, timings: bool,
              fail_on: FailOn = FailOn.DISAGREE) -> ET.Element:
    element = ET.Element("testcase", {"classname": report.target, "name": verdict.name})
    if timings:
        element.set("time", f"{verdict.seconds:.3f}")
    if verdict.status == Status.DISAGREE and not fail_on.includes(FailOn.DISAGREE):
        out = ET.SubElement(element, "system-out")
        out.text = "\n".join([f"{verdict.name} disagrees with finite differences: {verdict.message} "
                              f"(reported, not failing: --fail-on {fail_on})", "", worst_entries_table(report, verdict)]
                             + _cause_lines(report.causes(verdict.name)))
    elif verdict.status in (Status.DISAGREE, Status.UNUSABLE):
        if verdict.status == Status.DISAGREE:
            lines = [f"{verdict.name} disagrees with finite differences: {verdict.message}"]
        else:
            lines = [f"{verdict.name}: unusable: {verdict.message}"]
        if verdict.mismatches:
            lines += ["", worst_entries_table(report, verdict)]
        lines += _cause_lines(report.causes(verdict.name))
        if report.comparison.consensus:
            lines += ["", report.comparison.consensus + "."]
        failure = ET.SubElement(element, "failure", {"type": str(verdict.status),
                                                     "message": f"{verdict.name}: {verdict.message}"})
        failure.text = "\n".join(lines)
    elif verdict.status == Status.ERROR:
        _error(element, verdict, verdict.name)
    elif verdict.status in (Status.UNAVAILABLE, Status.NOT_APPLICABLE):
        ET.SubElement(element, "skipped", {"message": verdict.message or str(verdict.status)})
    elif verdict.status == Status.KINK:
        out = ET.SubElement(element, "system-out")
        out.text = "\n".join([f"{verdict.name}: {verdict.message}"]
                             + [f.format() for f in report.causes(verdict.name)])
    elif verdict.status == Status.INCONCLUSIVE:
        text = "\n".join([f"{verdict.name}: inconclusive: {verdict.message}"]
                         + ([inconclusive_table(report, verdict)] if verdict.inconclusive else []))
        if fail_on.includes(FailOn.INCONCLUSIVE):
            failure = ET.SubElement(element, "failure", {"type": "inconclusive",
                                                         "message": f"{verdict.name}: {verdict.message}"})
            failure.text = text
        else:
            ET.SubElement(element, "system-out").text = text
    return element


def _error(element: ET.Element, verdict: BackendVerdict, heading: str) -> None:
    where = f" ({verdict.location})" if verdict.location else ""
    error = ET.SubElement(element, "error", {"type": "error", "message": verdict.message})
    error.text = f"{heading}: error{where}\n{verdict.message}"


def _second_order_testcase(report: RunReport, verdict: BackendVerdict) -> ET.Element:
    # No time: the backend's worker computed both derivatives, and its first-order testcase
    # already counts those seconds.
    name = f"{verdict.name} (second order)"
    element = ET.Element("testcase", {"classname": report.target, "name": name})
    if verdict.status == Status.DISAGREE:
        lines = [f"{verdict.name} second derivative {verdict.message}"]
        if verdict.mismatches:
            lines += ["", second_order_entries_table(report, verdict)]
        lines += _cause_lines(second_order_causes(report))
        failure = ET.SubElement(element, "failure", {"type": "disagree", "message": f"{name}: {verdict.message}"})
        failure.text = "\n".join(lines)
    elif verdict.status == Status.ERROR:
        _error(element, verdict, f"{verdict.name} second derivative")
    elif verdict.status in (Status.UNAVAILABLE, Status.NOT_APPLICABLE):
        ET.SubElement(element, "skipped", {"message": verdict.message or str(verdict.status)})
    elif verdict.message:
        out = ET.SubElement(element, "system-out")
        out.text = f"{verdict.name} second derivative: {verdict.status}: {verdict.message}"
    return element


def _search_testcase(report: RunReport) -> ET.Element:
    """``--search``: a testcase of its own; a failure's message holds the shrunk input."""
    from .search import failure_line, summary_table

    element = ET.Element("testcase", {"classname": report.target, "name": "search"})
    search = report.search
    if search.failure is not None:
        failure = ET.SubElement(element, "failure", {"type": search.failure.status, "message": failure_line(search)})
        failure.text = summary_table(search)
    else:
        ET.SubElement(element, "system-out").text = f"{failure_line(search)}\n{summary_table(search)}"
    return element


def _cases(report: RunReport, timings: bool, fail_on: FailOn = FailOn.DISAGREE) -> list[ET.Element]:
    elements = [_testcase(report, v, timings, fail_on) for v in report.comparison.verdicts
                if v.status != Status.REFERENCE]
    if report.second_order is not None:
        elements += [_second_order_testcase(report, v) for v in report.second_order.verdicts]
    if report.search is not None:
        elements.append(_search_testcase(report))
    nothing_checked = next((p for p in problems(report) if p.kind == "nothing-checked"), None)
    if nothing_checked is not None:
        element = ET.Element("testcase", {"classname": report.target, "name": "any backend"})
        failure = ET.SubElement(element, "failure", {"type": "nothing-checked",
                                                     "message": nothing_checked.title.removeprefix("adcheck: ")})
        failure.text = nothing_checked.message
        elements.append(element)
    return elements


def _interrupted_cases(interrupted: Interruption | None) -> list[ET.Element]:
    """A check stopped early: each case that did not finish is an ``error`` saying why, so the
    counts show the run did not pass."""
    if interrupted is None:
        return []
    elements = []
    for name in interrupted.unfinished:
        element = ET.Element("testcase", {"classname": name, "name": "any backend"})
        error = ET.SubElement(element, "error", {"type": "interrupted", "message": Interruption.REASON})
        error.text = interrupted.sentence
        elements.append(element)
    return elements


def render(reports: list[RunReport], *, timings: bool = True, fail_on: FailOn | str = FailOn.DISAGREE,
           interrupted: Interruption | None = None) -> str:
    fail_on = FailOn(fail_on)
    root = ET.Element("testsuites", {"name": SUITE_NAME})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE_NAME})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total = 0.0
    for elements in [*(_cases(report, timings, fail_on) for report in reports), _interrupted_cases(interrupted)]:
        for element in elements:
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
    return document(root)


def document(root: ET.Element) -> str:
    """The XML text of ``root``, every text and attribute value through ``printable``: a NUL or an
    ESC in an exception's message, a file name that is not UTF-8, cannot make the file unparsable."""
    for element in root.iter():
        if element.text:
            element.text = printable(element.text)
        if element.tail:
            element.tail = printable(element.tail)
        for key, value in element.attrib.items():
            element.set(key, printable(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


FORMAT = Document("junit", render)
