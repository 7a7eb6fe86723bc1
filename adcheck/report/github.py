"""``--format github``: GitHub Actions workflow commands, which become annotations on the diff.

Each failing backend is an ``::error`` on the function's ``def`` line; each finding is an
annotation on its own line. Nothing else is printed, so the log stays readable.
"""

from __future__ import annotations

from ..model import RunReport, Status

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


def _worst(report: RunReport, verdict) -> str:
    if not verdict.mismatches:
        return ""
    m = verdict.mismatches[0]
    return (f"; worst entry (out {m.row}, in {m.col}): {verdict.name} (actual) {m.value:.6g}, "
            f"fd (desired) {m.reference:.6g} ± {m.reference_error:.1e}")


def lines_for(report: RunReport) -> list[str]:
    source = report.source
    where = {"file": source.path, "line": source.line} if source else {}
    lines = []
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.DISAGREE:
            causes = list(dict.fromkeys(f.code for f in report.findings if verdict.name in f.explains))
            message = f"{report.target}: {verdict.name} disagrees with finite differences: {verdict.message}"
            message += _worst(report, verdict)
            if causes:
                message += f"; likely causes: {', '.join(causes)}"
            lines.append(command("error", message, title=f"adcheck: {verdict.name} disagrees", **where))
        elif verdict.status == Status.ERROR:
            at = f" at {verdict.location}" if verdict.location else ""
            lines.append(command("error", f"{report.target}: {verdict.name} failed{at}: {verdict.message}",
                                 title=f"adcheck: {verdict.name} error", **where))
        elif verdict.status == Status.KINK:
            lines.append(command("notice", f"{report.target}: {verdict.name}: {verdict.message}",
                                 title=f"adcheck: {verdict.name} at a kink", **where))
    if not report.comparison.checked and not any(v.status == Status.ERROR for v in report.comparison.verdicts):
        lines.append(command("error", f"{report.target}: no AD backend could be checked",
                             title="adcheck: nothing checked", **where))
    for finding in report.findings:
        if finding.severity == "info" and not finding.explains:
            continue
        lines.append(command(LEVELS.get(finding.severity, "warning"), f"{finding.code} {finding.message}",
                             file=finding.path, line=finding.line, col=finding.col, title=f"adcheck {finding.code}"))
    return lines


def render(reports: list[RunReport], *, timings: bool = True) -> str:
    return "\n".join(line for report in reports for line in lines_for(report))
