"""``--format markdown``: a summary for a pull-request comment (GitHub-flavoured Markdown).

One table row per case and AD backend, then the worst entries of each disagreement folded into
a ``<details>`` block so a long report does not bury the summary.
"""

from __future__ import annotations

import html

from ..model import FAILING, RunReport, Status
from .table import number, worst_entries_table

ICONS = {
    Status.AGREE: "✅ agree",
    Status.KINK: "✅ kink",
    Status.DISAGREE: "❌ disagree",
    Status.ERROR: "❌ error",
    Status.UNAVAILABLE: "➖ unavailable",
    Status.NOT_APPLICABLE: "➖ not applicable",
}


def cell(text: str) -> str:
    """Table cells cannot hold a pipe or a newline."""
    return text.replace("|", "\\|").replace("\n", " ")


def inline_code(text: str) -> str:
    """Backticks in the text (rule messages quote names) need a longer fence: ``a `b` c``."""
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _rows(report: RunReport, timings: bool) -> list[list[str]]:
    rows = []
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.REFERENCE:
            continue
        worst = f"({verdict.worst_entry[0]}, {verdict.worst_entry[1]})" if verdict.worst_entry else "-"
        causes = ", ".join(dict.fromkeys(f"`{f.code}`" for f in report.findings if verdict.name in f.explains)) or "-"
        row = [f"`{cell(report.target)}`", verdict.name, ICONS.get(verdict.status, str(verdict.status)),
               number(verdict.max_abs_error), number(verdict.max_rel_error), worst, causes]
        if timings:
            row.append(f"{verdict.seconds:.2f}" if verdict.seconds else "-")
        rows.append([cell(c) for c in row])
    if not rows or (not report.comparison.checked and not any(v.status in FAILING for v in report.comparison.verdicts)):
        row = [f"`{cell(report.target)}`", "-", "❌ nothing checked", "-", "-", "-", "-"] + (["-"] if timings else [])
        rows.append(row)
    return rows


def render(reports: list[RunReport], *, timings: bool = True) -> str:
    failed = [r for r in reports if r.failed]
    if failed:
        title = f"### adcheck: {len(failed)} of {len(reports)} case{'s' if len(reports) != 1 else ''} failed"
    else:
        title = f"### adcheck: all {len(reports)} case{'s' if len(reports) != 1 else ''} passed"
    headers = ["case", "backend", "status", "max abs err", "max rel err", "worst entry", "likely causes"]
    if timings:
        headers.append("seconds")
    lines = [title, "", "| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for report in reports:
        lines += ["| " + " | ".join(row) + " |" for row in _rows(report, timings)]
    for report in failed:
        for verdict in report.comparison.verdicts:
            if verdict.status not in FAILING:
                continue
            lines += ["", f"<details><summary><code>{html.escape(report.target)}</code>: {verdict.name} {verdict.status}</summary>", ""]
            if verdict.status == Status.DISAGREE:
                if verdict.mismatches:
                    lines += ["```", worst_entries_table(report, verdict), "```"]
                else:
                    lines.append(cell(verdict.message or "disagrees"))
                causes = [f for f in report.findings if verdict.name in f.explains]
                if causes:
                    lines += ["", "Likely causes:", ""] + [f"- {inline_code(f.format())}" for f in causes]
            else:
                where = f" at `{verdict.location}`" if verdict.location else ""
                lines.append(f"{verdict.name} failed{where}: {cell(verdict.message)}")
            lines += ["", "</details>"]
    return "\n".join(lines)
