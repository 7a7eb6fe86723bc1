"""``--format github``: GitHub Actions workflow commands, which become annotations on the diff.

Each failing backend is an ``::error`` on the function's ``def`` line (an inconclusive one a
``::warning`` listing its unverified entries, a kink a ``::notice``); each finding is an
annotation on its own line. Nothing else is printed, so the log stays readable.
"""

from __future__ import annotations

from ..model import RunReport
from .common import Interruption, problems
from .formats import Document
from .text import printable

LEVELS = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(level: str, message: str, *, file: str | None = None, line: int | None = None,
            col: int | None = None, title: str | None = None) -> str:
    properties = []
    if file:
        properties.append(f"file={escape_property(file)}")
        if line:
            properties.append(f"line={line}")
        if col:
            properties.append(f"col={col}")
    if title:
        properties.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(properties)}::{escape_data(message)}" if properties else f"::{level}::{escape_data(message)}"


LEVEL_OF_PROBLEM = {"disagree": "error", "error": "error", "unusable": "error", "nothing-checked": "error",
                    "inconclusive": "warning", "kink": "notice"}


def lines_for(report: RunReport) -> list[str]:
    source = report.source
    where = {"file": source.path, "line": source.line} if source else {}
    lines = [command(LEVEL_OF_PROBLEM.get(p.kind, "error"), p.text, title=p.title, **where)
             for p in problems(report)]
    if report.search is not None:
        from .search import failure_line

        level = "error" if report.search.failure is not None else "notice"
        lines.append(command(level, failure_line(report.search), title="adcheck search", **where))
    for finding in report.findings:
        if finding.severity == "info" and not finding.explains:
            continue
        lines.append(command(LEVELS.get(finding.severity, "warning"), f"{finding.code} {finding.message}",
                             file=finding.path, line=finding.line, col=finding.col, title=f"adcheck {finding.code}"))
    return lines


def render(reports: list[RunReport], *, timings: bool = True, fail_on: str = "disagree",
           interrupted: Interruption | None = None) -> str:
    """Each finding and failing verdict at its own level, whatever ``fail_on`` makes fail the run
    (the exit code says that)."""
    lines = [line for report in reports for line in lines_for(report)]
    if interrupted is not None:
        lines.append(command("error", interrupted.sentence, title="adcheck: interrupted"))
    return printable("\n".join(lines))


FORMAT = Document("github", render)
