"""The ``--search`` summary in every format: a short table (terminal), an object (JSON), one
line (JUnit's failure message, Markdown, GitHub). Each format's module calls these; the words
live here once."""

from __future__ import annotations

from tabulate import tabulate

from ..model import SearchSummary
from .common import number

SUBJECT = "search"  # the failure's subject in the policy and the baseline (``check.failures_of``)


def kinds_text(search: SearchSummary) -> str:
    from ..search.strategies import KIND_WORDS

    return ", ".join(f"{KIND_WORDS.get(kind, kind)} {n}" for kind, n in search.by_kind)


def skipped_text(search: SearchSummary) -> str:
    parts = []
    if search.outside_domain:
        parts.append(f"{search.outside_domain} outside the function's domain (value NaN/inf, or it raises)")
    if search.unverifiable:
        parts.append(f"{search.unverifiable} where nothing could verify every entry")
    return "; ".join(parts) or "none"


def failure_line(search: SearchSummary) -> str:
    """One line: what the search found, with the shrunk input ready to paste; or what it tried."""
    failure = search.failure
    if failure is None:
        return (f"search: no failure in {search.tried} inputs (seed {search.seed}; skipped: {skipped_text(search)})")
    where = f" at {failure.entry}" if failure.entry else ""
    kept = f"; the input of case {failure.kept_as}, which reports it" if failure.kept_as else ""
    return (f"search: {', '.join(failure.backends) or 'a backend'} {failure.status}{where} for "
            f"{failure.input_line} (found after {failure.found_after} of {search.tried} inputs, seed {search.seed}"
            f"{kept})")


def summary_table(search: SearchSummary) -> str:
    rows = [["inputs tried", f"{search.tried} of {search.requested} (seed {search.seed})"],
            ["inputs with entries", kinds_text(search)]]
    if search.magnitudes is not None:
        rows.append(["magnitudes", f"|x| from {number(search.magnitudes[0])} to {number(search.magnitudes[1])}"])
    if search.specials:
        rows.append(["special values", ", ".join(search.specials)])
    rows.append(["skipped", skipped_text(search)])
    for edge in search.domain_edges:
        rows.append(["domain", edge])
    failure = search.failure
    confirmed = f"{search.confirmed} input{'s' if search.confirmed != 1 else ''} confirmed by a full comparison"
    rows.append(["failures found", f"{confirmed} (of {search.screen_failures} flagged by the screen)"])
    if failure is not None:
        rows.append(["first failure", f"after {failure.found_after} inputs; shrunk in {failure.shrink_calls} more"])
        rows.append(["shrunk failing input", failure.input_line])
        rows.append(["backend and entry", f"{', '.join(failure.backends)} {failure.status}"
                     + (f" at {failure.entry}" if failure.entry else "")])
    return tabulate(rows, tablefmt="plain")


def search_dict(search: SearchSummary, report_dict) -> dict:
    """The JSON ``search`` object; ``report_dict(report)`` writes the shrunk failure's run object."""
    failure = search.failure
    return {
        "requested": search.requested,
        "seed": search.seed,
        "tried": search.tried,
        "by_kind": {kind: n for kind, n in search.by_kind},
        "skipped": {"outside_domain": search.outside_domain, "unverifiable": search.unverifiable},
        "magnitudes": list(search.magnitudes) if search.magnitudes is not None else None,
        "special_values": list(search.specials),
        "domain_edges": list(search.domain_edges),
        "screen_failures": search.screen_failures,
        "confirmed_failures": search.confirmed,
        "failure": None if failure is None else {
            "inputs": list(failure.input_args),
            "input_line": failure.input_line,
            "backends": list(failure.backends),
            "status": failure.status,
            "entry": failure.entry,
            "found_after": failure.found_after,
            "shrink_calls": failure.shrink_calls,
            "report": report_dict(failure.report),
        },
        "database": search.database or None,
    }
