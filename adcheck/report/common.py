"""Sentences every report format shares: what failed and why, in one line each (plus, for an
inconclusive backend, one line per unverified entry).

The table, JUnit, SARIF, GitHub annotations and Markdown all say the same things about a case;
they say them with these functions, so the formats cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tabulate import tabulate

from ..model import BackendVerdict, Finding, RunReport, Status


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN: a NaN entry, shown as such
        return "nan"
    return f"{value:.3g}" if value != 0 else "0"


def entry_value(value: float) -> str:
    return f"{value + 0.0:.6g}"  # + 0.0 turns -0.0 (forward mode's zero tangents) into 0


def worst_entry_sentence(report: RunReport, verdict: BackendVerdict, *, second_order: bool = False) -> str:
    """"; worst entry d f[2] / d x[1]: autograd (actual) 8, fd (desired) 2 ± 1e-10" or ""."""
    if not verdict.mismatches:
        return ""
    m = verdict.mismatches[0]
    name = second_order_entry_name(report, m.row, m.col) if second_order else report.entry_name(m.row, m.col)
    return (f"; worst entry {name}: {verdict.name} (actual) {m.value:.6g}, "
            f"fd (desired) {m.reference:.6g} ± {m.reference_error:.1e}")


def second_order_entry_name(report: RunReport, row: int, col: int) -> str:
    """``d2 loss / d x[0] d x[1]`` (a Hessian: its rows are inputs too) or ``d (J v)[f[2]] / d x[1]``."""
    if report.n_outputs == 1:
        return f"d2 {report.output_name(0)} / d {report.input_name(row)} d {report.input_name(col)}"
    return f"d (J v)[{report.output_name(row)}] / d {report.input_name(col)}"


def causes_sentence(report: RunReport, backend: str) -> str:
    codes = report.cause_codes(backend)
    return f"; likely causes: {', '.join(codes)}" if codes else ""


def second_order_causes(report: RunReport) -> tuple[Finding, ...]:
    """The findings that may explain a failing second derivative: the user's derivative rules
    (ADC501), which must themselves be differentiable, and the library rules the per-primitive
    check found wrong for a backend that fails there (ADC502, ADC604)."""
    if report.second_order is None or not report.second_order.failed:
        return ()
    failing = {v.name for v in report.second_order.verdicts if v.status == Status.DISAGREE}
    return tuple(f for f in report.findings
                 if f.code == "ADC501" or (f.code in ("ADC502", "ADC604") and set(f.explains) & failing))


def unverified_lines(report: RunReport, verdict: BackendVerdict) -> list[str]:
    """One line per listed inconclusive entry: the backend's value and what was tried there."""
    lines = []
    for m in verdict.inconclusive:
        evidence = m.evidence or f"fd {m.reference:.6g} ± {m.reference_error:.1e}"
        lines.append(f"unverified entry {report.entry_name(m.row, m.col)}: {verdict.name} {entry_value(m.value)}; "
                     f"{evidence}")
    more = verdict.n_inconclusive - len(verdict.inconclusive)
    if verdict.inconclusive and more > 0:
        lines.append(f"... and {more} more unverified {'entry' if more == 1 else 'entries'}")
    return lines


def second_order_entries_table(report: RunReport, verdict: BackendVerdict) -> str:
    """A second derivative's worst entries next to FD of the backend's own first derivative."""
    rows = [[second_order_entry_name(report, m.row, m.col), entry_value(m.value), entry_value(m.reference),
             f"±{m.reference_error:.1e}"] for m in verdict.mismatches]
    return tabulate(rows, headers=["entry", f"{verdict.name} (actual)", "FD of its derivative (desired)", "fd error"],
                    tablefmt="simple", disable_numparse=True)


def _other_values(report: RunReport, exclude: str):
    return [r for r in report.runs if r.status == Status.COMPUTED and r.name != exclude and r.jacobian is not None
            and report.comparison.verdict(r.name).status != Status.NOT_APPLICABLE]


def worst_entries_table(report: RunReport, verdict: BackendVerdict) -> str:
    """Each listed entry: the backend's value (actual), the reference ± its error (desired), the
    error against the tolerance that applied, and the other backends' values. Entries alike (the
    same values, in the same input and output arrays: one bug seen many times) make one row, the
    first of them named and the others counted ("and 9 more like it")."""
    others = _other_values(report, verdict.name)
    headers = ["entry", f"{verdict.name} (actual)", "reference (desired)", "error bar", "err/tol"]
    headers += [r.name for r in others]
    rows, keys = [], []
    for m in verdict.mismatches:
        values = [entry_value(m.value), entry_value(m.reference)]
        values += [entry_value(float(r.jacobian[m.row, m.col])) for r in others]
        keys.append((_leaf(report.output_name(m.row)), _leaf(report.input_name(m.col)), *values))
        rows.append([report.entry_name(m.row, m.col), values[0], values[1], f"±{m.reference_error:.1e}",
                     number(m.rel_error), *values[2:]])
    first = {key: keys.index(key) for key in keys}
    alike = _alike_counts(report, verdict, others, first) if len(first) < len(keys) or \
        verdict.n_mismatches > len(keys) else {}
    shown, counted = [], 0
    for index, (row, key) in enumerate(zip(rows, keys)):
        count = alike.get(key, 1)
        if count < ALIKE_ROWS:  # two alike are shown as they are
            shown.append(row)
            counted += 1
        elif first[key] == index:
            shown.append([f"{row[0]} and {count - 1} more like it", *row[1:]])
            counted += count
    table = tabulate(shown, headers=headers, tablefmt="simple", disable_numparse=True)
    if verdict.n_mismatches > counted:
        table += f"\n... and {verdict.n_mismatches - counted} more entries"
    return table


ALIKE_ROWS = 3  # this many disagreeing entries alike, or more, make one row


_INDEX = re.compile(r"\[[0-9, ]+\]$")


def _leaf(name: str) -> str:
    """``params["w"]`` of ``params["w"][1, 0]``: the array an entry's name belongs to."""
    return _INDEX.sub("", name)


def _alike_counts(report: RunReport, verdict: BackendVerdict, others, groups: dict) -> dict:
    """How many of the backend's disagreeing entries fall in each listed row's group: the same
    arrays, the same values to the digits shown (the listed rows alone where the full matrices
    are not at hand)."""
    matrices = [report.run(verdict.name), report.run("fd"), *others]
    mask = verdict.mismatch_mask
    counts: dict = {}
    if mask is None or any(r is None or r.jacobian is None or r.jacobian.shape != mask.shape for r in matrices):
        for m in verdict.mismatches:
            values = [entry_value(m.value), entry_value(m.reference)]
            values += [entry_value(float(r.jacobian[m.row, m.col])) for r in others]
            key = (_leaf(report.output_name(m.row)), _leaf(report.input_name(m.col)), *values)
            counts[key] = counts.get(key, 0) + 1
        return counts
    rows, cols = np.nonzero(mask)
    shown = [_shown_digits(r.jacobian[rows, cols]) for r in matrices]
    row_leaf, col_leaf = _leaf_index(report, mask.shape)
    for m in verdict.mismatches:
        key = (_leaf(report.output_name(m.row)), _leaf(report.input_name(m.col)), entry_value(m.value),
               entry_value(m.reference), *(entry_value(float(r.jacobian[m.row, m.col])) for r in others))
        if key not in groups or key in counts:
            continue
        same = (row_leaf[rows] == row_leaf[m.row]) & (col_leaf[cols] == col_leaf[m.col])
        for digits, r in zip(shown, matrices):
            mine = _shown_digits(np.asarray([r.jacobian[m.row, m.col]]))
            same &= (digits[0] == mine[0][0]) & (digits[1] == mine[1][0])
        counts[key] = int(same.sum())
    return counts


def _shown_digits(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mantissa to 6 significant digits, exponent): equal where ``entry_value`` prints the same."""
    values = np.asarray(values, dtype=float) + 0.0
    with np.errstate(all="ignore"):
        exponent = np.floor(np.log10(np.abs(values)))
        exponent = np.where(np.isfinite(exponent), exponent, 0.0)
        mantissa = np.round(values / 10.0**exponent, 5)
    return np.where(np.isnan(mantissa), np.inf, mantissa), exponent


def _leaf_index(report: RunReport, shape) -> tuple[np.ndarray, np.ndarray]:
    """Per Jacobian row and column, the index of the output and input array it belongs to."""
    out_sizes = [int(np.prod(leaf.shape)) if leaf.shape else 1 for leaf in report.outputs]
    in_sizes = [int(np.prod(a.shape)) if a.shape else 1 for a in report.arguments if a.differentiated]
    rows = np.repeat(np.arange(len(out_sizes)), out_sizes) if sum(out_sizes) == shape[0] else np.zeros(shape[0], int)
    cols = np.repeat(np.arange(len(in_sizes)), in_sizes) if sum(in_sizes) == shape[1] else np.zeros(shape[1], int)
    return rows, cols


def inconclusive_table(report: RunReport, verdict: BackendVerdict) -> str:
    """The entries nothing could verify: FD's value and error bar, the backends' values side by
    side, and what the complex step and the Taylor test said."""
    others = _other_values(report, verdict.name)
    headers = ["entry", verdict.name, "fd", "fd error"] + [r.name for r in others]
    rows, notes = [], []
    for m in verdict.inconclusive[:LISTED_INCONCLUSIVE]:
        reference = report.run("fd")
        fd_value = float(reference.jacobian[m.row, m.col]) if reference is not None and reference.jacobian is not None \
            else m.reference
        row = [report.entry_name(m.row, m.col), entry_value(m.value), entry_value(fd_value), f"±{m.reference_error:.1e}"]
        row += [entry_value(float(r.jacobian[m.row, m.col])) for r in others]
        rows.append(row)
        if m.evidence:
            notes.append(f"  {report.entry_name(m.row, m.col)}: {m.evidence}")
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    more = verdict.n_inconclusive - min(len(verdict.inconclusive), LISTED_INCONCLUSIVE)
    if more > 0:
        table += f"\n... and {more} more entries"
    return "\n".join([table, *notes])


def kink_lines(report: RunReport, verdict: BackendVerdict) -> list[str]:
    reference = report.run("fd")
    one_sided = reference.reference.one_sided if reference is not None and reference.reference is not None else None
    run = report.run(verdict.name)
    if one_sided is None or run is None:
        return []
    columns = [int(c) for c in one_sided.columns]
    lines = []
    for i, j in verdict.kinks:
        if j not in columns or run.jacobian is None:
            continue
        k = columns.index(j)
        lines.append(f"  {report.entry_name(i, j)}: {verdict.name} {entry_value(float(run.jacobian[i, j]))}; one-sided "
                     f"derivatives {entry_value(float(one_sided.minus[i, k]))} (left) and "
                     f"{entry_value(float(one_sided.plus[i, k]))} (right)")
    return lines


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a case, as every CI format reports it."""

    kind: str  # "disagree", "error", "unusable", "inconclusive", "kink", "nothing-checked"
    backend: str  # "" for the case as a whole; "NAME (second order)" for a second derivative
    title: str
    message: str  # one line
    details: tuple[str, ...] = ()  # more lines, for formats that can show them (the unverified entries)

    @property
    def text(self) -> str:
        """The message with its details, one per line."""
        return "\n".join((self.message, *self.details))


NOTHING_CHECKED_TITLE = "no AD backend could run the function"
NOTHING_VERIFIED_TITLE = "no entry could be verified"
LISTED_INCONCLUSIVE = 5  # inconclusive entries shown with their evidence


def problems(report: RunReport) -> list[Problem]:
    """The case's failures and notices, in table order, each with a one-line message."""
    found = []
    for verdict in report.comparison.verdicts:
        name = verdict.name
        if verdict.status == Status.DISAGREE:
            message = (f"{report.target}: {name} disagrees with finite differences: {verdict.message}"
                       f"{worst_entry_sentence(report, verdict)}{causes_sentence(report, name)}")
            found.append(Problem("disagree", name, f"adcheck: {name} disagrees", message))
        elif verdict.status == Status.ERROR:
            at = f" at {verdict.location}" if verdict.location else ""
            found.append(Problem("error", name, f"adcheck: {name} error",
                                 f"{report.target}: {name} failed{at}: {verdict.message}"))
        elif verdict.status == Status.UNUSABLE:
            found.append(Problem("unusable", name, "adcheck: the function is not a function",
                                 f"{report.target}: {verdict.message}{causes_sentence(report, name)}"))
        elif verdict.status == Status.INCONCLUSIVE:
            found.append(Problem("inconclusive", name, f"adcheck: {name} inconclusive",
                                 f"{report.target}: {name}: {verdict.message}",
                                 tuple(unverified_lines(report, verdict))))
        elif verdict.status == Status.KINK:
            found.append(Problem("kink", name, f"adcheck: {name} at a kink", f"{report.target}: {name}: {verdict.message}"))
    if report.second_order is not None:
        codes = tuple(dict.fromkeys(f.code for f in second_order_causes(report)))
        causes = f"; likely causes: {', '.join(codes)}" if codes else ""
        for verdict in report.second_order.verdicts:
            if verdict.status == Status.DISAGREE:
                found.append(Problem("disagree", f"{verdict.name} (second order)",
                                     f"adcheck: {verdict.name} second derivative disagrees",
                                     f"{report.target}: {verdict.name} second derivative {verdict.message}"
                                     f"{worst_entry_sentence(report, verdict, second_order=True)}{causes}"))
            elif verdict.status == Status.ERROR:
                found.append(Problem("error", f"{verdict.name} (second order)",
                                     f"adcheck: {verdict.name} second derivative error",
                                     f"{report.target}: {verdict.name} second derivative failed: {verdict.message}"))
    if report.nothing_checked:
        reasons = "; ".join(nothing_checked_reasons(report))
        found.append(Problem("nothing-checked", "", f"adcheck: {NOTHING_CHECKED_TITLE}",
                             f"{report.target}: {NOTHING_CHECKED_TITLE}, so nothing was checked"
                             + (f" ({reasons})" if reasons else "")))
    elif report.nothing_verified:
        found.append(Problem("nothing-checked", "", f"adcheck: {NOTHING_VERIFIED_TITLE}",
                             f"{report.target}: {NOTHING_VERIFIED_TITLE} (every entry of every backend is "
                             "inconclusive), so nothing was checked; the reasons are in the report"))
    return found


def nothing_checked_reasons(report: RunReport) -> list[str]:
    """Why each AD backend did not run: "autograd: autograd cannot run torch code (...)"."""
    return [f"{v.name}: {v.message or v.status}" for v in report.comparison.verdicts
            if v.status in (Status.NOT_APPLICABLE, Status.UNAVAILABLE)]


@dataclass(frozen=True)
class Interruption:
    """A check stopped before every case finished (Ctrl-C, SIGTERM, SIGHUP): every format says so,
    so that a cancelled CI job never reads as a passing one."""

    finished: int  # cases that finished (their reports are in the report)
    unfinished: tuple[str, ...]  # the names of the cases that did not

    @property
    def total(self) -> int:
        return self.finished + len(self.unfinished)

    @property
    def sentence(self) -> str:
        """"interrupted after 2 of 5 cases; not finished: a, b, c"."""
        names = ", ".join(self.unfinished)
        return (f"interrupted after {self.finished} of {self.total} case{'s' if self.total != 1 else ''}"
                + (f"; not finished: {names}" if names else ""))

    REASON = "interrupted before this case finished (Ctrl-C, SIGTERM or SIGHUP); it was not checked"
