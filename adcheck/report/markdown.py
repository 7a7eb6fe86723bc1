"""``--format markdown``: a summary for a pull-request comment (GitHub-flavoured Markdown).

One table row per case and AD backend (and per second derivative with ``--order 2``), then what
each row rests on folded into ``<details>`` blocks, so a long report does not bury the summary:
the worst entries and likely causes of a disagreement, an error's message, the unverified entries
of an inconclusive backend with their evidence, the entries at a kink with their one-sided
derivatives, and why no AD backend could run a case.
"""

from __future__ import annotations

import html
from functools import partial

from ..model import BackendVerdict, RunReport, Status
from ..settings import FailOn
from .common import (
    Interruption,
    NOTHING_CHECKED_TITLE,
    inconclusive_table,
    kink_lines,
    nothing_checked_reasons,
    number,
    second_order_causes,
    second_order_entries_table,
    second_order_entry_name,
    worst_entries_table,
)
from .formats import Document
from .text import printable

ICONS = {
    Status.AGREE: "✅ agree",
    Status.KINK: "✅ kink",
    Status.INCONCLUSIVE: "⚠️ inconclusive",
    Status.DISAGREE: "❌ disagree",
    Status.UNUSABLE: "❌ unusable reference",
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


def prose(text: str) -> str:
    """Text outside code: GitHub drops what looks like an HTML tag (``<lambda>``, ``<class 'float'>``)."""
    return html.escape(text, quote=False).replace("\n", " ")


def _row(report: RunReport, name: str, verdict: BackendVerdict, codes, timings: bool, entry_name) -> list[str]:
    worst = entry_name(*verdict.worst_entry) if verdict.worst_entry else "-"
    causes = ", ".join(f"`{code}`" for code in codes) or "-"
    row = [f"`{report.target}`", name, ICONS.get(verdict.status, str(verdict.status)),
           number(verdict.max_abs_error), number(verdict.max_rel_error), worst, causes]
    if timings:
        row.append(f"{verdict.seconds:.2f}" if verdict.seconds else "-")
    return [cell(c) for c in row]


def _rows(report: RunReport, timings: bool) -> list[list[str]]:
    rows = [_row(report, v.name, v, report.cause_codes(v.name), timings, report.entry_name)
            for v in report.comparison.verdicts if v.status != Status.REFERENCE]
    if report.second_order is not None:
        codes = tuple(dict.fromkeys(f.code for f in second_order_causes(report)))
        rows += [_row(report, f"{v.name} (second order)", v, codes if v.status == Status.DISAGREE else (), timings,
                      partial(second_order_entry_name, report))
                 for v in report.second_order.verdicts]
    if not rows or report.nothing_checked:
        row = [f"`{report.target}`", "-", f"❌ {NOTHING_CHECKED_TITLE}", "-", "-", "-", "-"]
        row += ["-"] if timings else []
        rows.append([cell(c) for c in row])
    return rows


def _details(report: RunReport, summary: str, body: list[str]) -> list[str]:
    return (["", f"<details><summary><code>{html.escape(report.target)}</code>: {summary}</summary>", ""]
            + body + ["", "</details>"])


def _causes(findings) -> list[str]:
    return ["", "Likely causes:", ""] + [f"- {inline_code(f.format())}" for f in findings] if findings else []


def _code(text: str) -> list[str]:
    return ["```", text, "```"]


def _sections(report: RunReport) -> list[str]:
    """The ``<details>`` blocks of one case: what each row's status rests on."""
    lines = []
    for verdict in report.comparison.verdicts:
        name, status = verdict.name, verdict.status
        if status == Status.DISAGREE:
            body = (_code(worst_entries_table(report, verdict)) if verdict.mismatches
                    else [prose(verdict.message or "disagrees")])
            lines += _details(report, f"{name} disagree", body + _causes(report.causes(name)))
        elif status == Status.UNUSABLE:
            lines += _details(report, f"{name} unusable", [prose(verdict.message)] + _causes(report.causes(name)))
        elif status == Status.ERROR:
            where = f" at `{verdict.location}`" if verdict.location else ""
            lines += _details(report, f"{name} error", [f"{name} failed{where}: {prose(verdict.message)}"]
                              + _causes(report.causes(name)))
        elif status == Status.INCONCLUSIVE and verdict.inconclusive:
            lines += _details(report, f"{name} inconclusive",
                              [prose(verdict.message), ""] + _code(inconclusive_table(report, verdict)))
        elif status == Status.KINK:
            kinks = [line.strip() for line in kink_lines(report, verdict)]
            lines += _details(report, f"{name} kink", [prose(verdict.message)] + (["", *_code("\n".join(kinks))]
                                                                                  if kinks else []))
    if report.second_order is not None:
        causes = _causes(second_order_causes(report))
        for verdict in report.second_order.verdicts:
            name = f"{verdict.name} (second order)"
            if verdict.status == Status.DISAGREE:
                body = [prose(f"{verdict.name} second derivative {verdict.message}")]
                if verdict.mismatches:
                    body += [""] + _code(second_order_entries_table(report, verdict))
                lines += _details(report, f"{name} disagree", body + causes)
            elif verdict.status == Status.ERROR:
                lines += _details(report, f"{name} error",
                                  [f"{verdict.name} second derivative failed: {prose(verdict.message)}"])
    if report.nothing_checked:
        reasons = [f"- {prose(reason)}" for reason in nothing_checked_reasons(report)]
        lines += _details(report, "nothing checked", [f"{NOTHING_CHECKED_TITLE}:", ""] + reasons if reasons
                          else [NOTHING_CHECKED_TITLE])
    return lines


def _plural_cases(n: int) -> str:
    return f"{n} case{'s' if n != 1 else ''}"


def render(reports: list[RunReport], *, timings: bool = True, fail_on: FailOn | str = FailOn.DISAGREE,
           interrupted: Interruption | None = None) -> str:
    """The title counts the cases that fail under ``fail_on``, as the exit code does."""
    from ..check import failures_of

    failed = [r for r in reports if failures_of(r, fail_on) or r.nothing_checked]
    if interrupted is not None:
        title = f"### adcheck: ⛔ {interrupted.sentence.partition(';')[0]}" + (
            f" ({len(failed)} of them failed)" if failed else "")
    elif failed:
        title = f"### adcheck: {len(failed)} of {_plural_cases(len(reports))} failed"
    else:
        unsure = sum(1 for r in reports if r.inconclusive)
        title = f"### adcheck: all {_plural_cases(len(reports))} passed"
        if unsure:
            title += f" ({unsure} inconclusive)"
    headers = ["case", "backend", "status", "max abs err", "err/tol", "worst entry", "likely causes"]
    if timings:
        headers.append("seconds")
    lines = [title, ""]
    if interrupted is not None and interrupted.unfinished:
        lines += ["Not finished, so not checked: " + ", ".join(inline_code(name) for name in interrupted.unfinished),
                  ""]
    lines += ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for report in reports:
        lines += ["| " + " | ".join(row) + " |" for row in _rows(report, timings)]
    searched = [report for report in reports if report.search is not None]
    if searched:
        from .search import failure_line

        lines.append("")
        lines += [f"- `{cell(report.target)}`: {inline_code(failure_line(report.search))}" for report in searched]
    for report in reports:
        lines += _sections(report)
    return printable("\n".join(lines))


FORMAT = Document("markdown", render)
