"""The terminal report: a summary row per backend, the worst entries, the matrices or a map."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import click
import numpy as np
from tabulate import tabulate

from ..complex_numbers import table_lines
from ..model import FAILING, RunReport, Status
from .common import (
    NOTHING_CHECKED_TITLE,
    NOTHING_VERIFIED_TITLE,
    entry_value,
    inconclusive_table,
    kink_lines,
    number,
    second_order_causes,
    second_order_entries_table,
    second_order_entry_name,
    worst_entries_table,
)
from .formats import RenderOptions
from .text import is_printable, printable

FULL_MATRIX_LIMIT = 8  # print whole Jacobians up to 8x8
MAP_CELLS = 60  # the disagreement map has at most this many characters a side
MAP_RUN = 3  # this many identical lines of a map or more are drawn once, and counted

STATUS_COLOURS = {
    Status.REFERENCE: "cyan",
    Status.AGREE: "green",
    Status.KINK: "yellow",
    Status.INCONCLUSIVE: "yellow",
    Status.DISAGREE: "red",
    Status.UNUSABLE: "red",
    Status.ERROR: "red",
    Status.UNAVAILABLE: "bright_black",
    Status.NOT_APPLICABLE: "bright_black",
}


def render(report: RunReport, *, colour: bool = False, timings: bool = True) -> str:
    """The report for a terminal. Whatever the report quotes (an exception's message, a file
    name) is shown through ``printable``, piped or not; a report that quotes a control character
    is shown without colour, so that every escape sequence in it is adcheck's own or none."""
    plain = _render(report, lambda text, **kwargs: text, timings)
    if not colour or not is_printable(plain):
        return printable(plain)
    return _render(report, click.style, timings)


def _render(report: RunReport, style, timings: bool) -> str:
    """One run's table: the header, a row per backend and its story, the Jacobians, the findings, the verdict."""
    lines = [style(f"adcheck run {report.target}", bold=True)]
    lines.append(f"inputs: {inputs_line(report)} ({_plural(_n_inputs(report), 'value')}) -> outputs: "
                 f"{outputs_line(report)}")
    lines += [f"  {note}" for note in report.notes + (report.timing_notes if timings else ())]
    lines.append("")
    lines.append(summary_table(report, style, timings))
    if report.comparison.consensus:
        lines += ["", report.comparison.consensus + "."]
    lines += _verdict_stories(report, style)
    lines += _jacobian_lines(report)
    complex_lines = table_lines(report)
    if complex_lines:
        lines += ["", *complex_lines]
    if report.second_order is not None:
        lines += ["", second_order_section(report, style, timings)]
    second_order_failed = report.second_order is not None and report.second_order.failed
    other = [f for f in report.findings if not f.explains and f.severity != "info"
             and not (second_order_failed and f.code == "ADC501")]  # shown as second-order causes
    if other:
        lines += ["", "Findings:"] + [f"  {f.format()}" for f in other]
    lines += ["", verdict_line(report, style)]
    if report.search is not None:
        lines += ["", *search_lines(report, style, style is click.style, timings)]
    return "\n".join(lines)


def _verdict_stories(report: RunReport, style) -> list[str]:
    """Under the summary table, what each backend that did not simply agree has to say."""
    lines: list[str] = []
    statuses = [v.status for v in report.comparison.verdicts]
    # "every AD backend disagrees" is one story only when each of them disagrees with the reference
    # (a row failed by a context check, ADC607, has no mismatches and tells its own story).
    all_ad_fail = (statuses.count(Status.DISAGREE) >= 2
                   and not {Status.AGREE, Status.KINK, Status.INCONCLUSIVE} & set(statuses)
                   and all(v.mismatches for v in report.comparison.verdicts if v.status == Status.DISAGREE))
    story_told = False
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.ERROR:
            where = f" ({verdict.location})" if verdict.location else ""
            lines += ["", style(f"{verdict.name}: error{where}", fg="red", bold=True), f"  {verdict.message}"]
            lines += cause_lines(report, verdict.name, "Likely causes:")
        elif verdict.status == Status.UNUSABLE:
            lines += ["", style(f"{verdict.name}: unusable: {verdict.message}", fg="red", bold=True)]
            lines += cause_lines(report, verdict.name, "Likely causes:")
        elif verdict.status == Status.DISAGREE:
            if all_ad_fail and story_told:
                continue  # every AD backend tells the same story: once is enough
            heading = (f"every AD backend disagrees with finite differences ({verdict.message})" if all_ad_fail
                       else f"{verdict.name} disagrees: {verdict.message}")
            lines += ["", style(heading, fg="red", bold=True)]
            if verdict.mismatches:
                lines.append(worst_entries_table(report, verdict))
            failing = ([v.name for v in report.comparison.verdicts if v.status == Status.DISAGREE] if all_ad_fail
                       else [verdict.name])
            lines += cause_lines(report, failing, "Likely causes:")
            story_told = True
        elif verdict.status == Status.INCONCLUSIVE and verdict.inconclusive:
            lines += ["", style(f"{verdict.name}: inconclusive: {verdict.message}", fg="yellow")]
            lines.append(inconclusive_table(report, verdict))
        elif verdict.status == Status.KINK:
            lines += ["", style(f"{verdict.name}: {verdict.message}", fg="yellow")]
            lines += kink_lines(report, verdict)
            lines += cause_lines(report, verdict.name)
        elif verdict.status == Status.AGREE and verdict.n_overruled:
            # Where the second witness overruled FD, the FD column below is not the truth: say so.
            lines += ["", f"{verdict.name}: agree: {verdict.message}"]
    return lines


def _jacobian_lines(report: RunReport) -> list[str]:
    """The Jacobians side by side where they are small, else a map of where each backend disagrees."""
    lines: list[str] = []
    jacobians = _jacobians(report)
    if jacobians:
        first = next(iter(jacobians.values()))
        if max(first.shape) <= FULL_MATRIX_LIMIT:
            lines += ["", "Jacobians (rows: outputs, columns: inputs):", matrices_side_by_side(jacobians)]
        else:
            drawn: dict[str, np.ndarray] = {}
            for verdict in report.comparison.verdicts:
                if verdict.mismatch_mask is not None and verdict.mismatch_mask.any():
                    same = next((name for name, mask in drawn.items() if np.array_equal(mask, verdict.mismatch_mask)),
                                None)
                    if same is not None:  # one bug that every backend shares: one map
                        lines += ["", f"{verdict.name}: the same disagreements as {same}"]
                        continue
                    drawn[verdict.name] = verdict.mismatch_mask
                    lines += ["", f"{verdict.name}: where the disagreements are (X: disagree, .: agree)"]
                    lines += block_maps(report, verdict.mismatch_mask)
    return lines


def search_lines(report: RunReport, style, colour: bool, timings: bool) -> list[str]:
    """``--search``: the summary table; a failure's ordinary run in full underneath, then one line."""
    from .search import failure_line, summary_table

    search = report.search
    lines = [f"search: {search.tried} more inputs" + (f" in {search.seconds:.1f} s" if timings else ""),
             summary_table(search)]
    if search.failure is not None:
        lines += ["", "the shrunk failing input, checked as an ordinary run:", "",
                  render(search.failure.report, colour=colour, timings=timings), "",
                  style(("known: " if search.failure.kept_as else "FAIL: ") + failure_line(search), fg="red", bold=True)]
    return lines


def cause_lines(report: RunReport, backends: str | list[str], heading: str | None = None) -> list[str]:
    """The findings that may explain these backends' rows, indented, under ``heading`` if any
    (one line per finding, however many of the backends it explains)."""
    causes: list[str] = []
    for backend in [backends] if isinstance(backends, str) else backends:
        causes += [line for line in (f"  {f.format()}" for f in report.causes(backend)) if line not in causes]
    return ([heading] if heading and causes else []) + causes


def _shape(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"


def inputs_line(report: RunReport) -> str:
    """``x 3`` or ``params["w"] 2x2 + params["b"] 2``: each differentiated array, named, with its shape."""
    return " + ".join((f"{a.name} {_shape(a.shape)}" if a.name else _shape(a.shape))
                      + (f" {a.dtype}" if a.dtype.startswith("complex") else "")
                      for a in report.arguments if a.differentiated)


def outputs_line(report: RunReport) -> str:
    """``3 values``, or each output array named when the output is a tuple, list or dict of them."""
    count = _plural(report.n_outputs, "value")
    complex_entries = sum(int(np.prod(leaf.shape)) for leaf in report.outputs if leaf.complex)
    if complex_entries:
        count += f" ({complex_entries} complex, as Re and Im)"
    if len(report.outputs) <= 1:
        return count
    root = report.function or "out"
    return " + ".join(f"{root}{leaf.path} {_shape(leaf.shape)}" for leaf in report.outputs) + f" ({count})"


def _plural(count: int, noun: str) -> str:
    if noun.endswith("y") and count != 1:
        return f"{count} {noun[:-1]}ies"
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _n_inputs(report: RunReport) -> int:
    return sum(int(np.prod(a.shape)) for a in report.arguments if a.differentiated)


def summary_table(report: RunReport, style, timings: bool, verdicts=None) -> str:
    name_of = report.entry_name if verdicts is None else (lambda i, j: second_order_entry_name(report, i, j))
    headers = ["backend", "status", "max abs err", "err/tol", "worst entry"]
    if timings:
        headers.append("seconds")
    rows = []
    for verdict in verdicts if verdicts is not None else report.comparison.verdicts:
        status = style(str(verdict.status), fg=STATUS_COLOURS[verdict.status])
        worst = name_of(*verdict.worst_entry) if verdict.worst_entry else "-"
        row = [verdict.name, status, number(verdict.max_abs_error), number(verdict.max_rel_error), worst]
        if timings:
            row.append(f"{verdict.seconds:.2f}" if verdict.seconds else "-")
        rows.append(row)
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    if verdicts is not None:
        return table
    skipped = [v for v in report.comparison.verdicts if v.status in (Status.UNAVAILABLE, Status.NOT_APPLICABLE)]
    for verdict in skipped:
        table += f"\n  {verdict.name}: {verdict.message}"
    return table


def second_order_section(report: RunReport, style, timings: bool) -> str:
    n_out = report.output_shapes[0][0] if report.output_shapes else 0
    if report.mode == "fast":
        what = "along random directions: see the note above"
    else:
        what = "Hessian" if n_out == 1 else "d(J v)/dx along a fixed random v"
    lines = [style(f"Second derivatives ({what}), each against FD of the backend's own first derivative:", bold=True),
             summary_table(report, style, timings, verdicts=report.second_order.verdicts)]
    for verdict in report.second_order.verdicts:
        if verdict.status == Status.ERROR:
            lines += ["", style(f"{verdict.name} second derivative: error", fg="red", bold=True), f"  {verdict.message}"]
        elif verdict.status == Status.NOT_APPLICABLE:
            lines.append(f"  {verdict.name}: {verdict.message}")
        if verdict.mismatches:
            lines += ["", style(f"{verdict.name} second derivative {verdict.message}", fg="red", bold=True),
                      second_order_entries_table(report, verdict)]
        elif (verdict.message and verdict.worst_entry is None
              and verdict.status in (Status.AGREE, Status.DISAGREE, Status.INCONCLUSIVE)):
            # fast mode: its products along random directions are no entries of a matrix, and the
            # message names the worst of them
            lines += ["", f"{verdict.name} second derivative: {verdict.status}: {verdict.message}"]
    rules = second_order_causes(report)
    if rules:
        lines += ["", "Likely causes (a derivative rule must itself be differentiable):"]
        lines += [f"  {f.format()}" for f in rules]
    if report.second_order.consensus:
        lines += ["", report.second_order.consensus + "."]
    return "\n".join(lines)


def _jacobians(report: RunReport) -> dict[str, np.ndarray]:
    shown = {}
    for run in report.runs:
        if run.jacobian is None or run.status not in (Status.REFERENCE, Status.COMPUTED):
            continue
        if report.comparison.verdict(run.name).status in (Status.UNUSABLE, Status.NOT_APPLICABLE):
            continue  # a reference of a function that changes between calls, or another function's Jacobian
        shown[run.name] = run.jacobian
    return shown


def matrices_side_by_side(jacobians: dict[str, np.ndarray]) -> str:
    blocks = []
    for name, jac in jacobians.items():
        body = tabulate([[entry_value(float(v)) for v in row] for row in jac], tablefmt="plain",
                        disable_numparse=True, stralign="right").splitlines()
        width = max(len(name), *(len(line) for line in body))
        blocks.append([name.ljust(width)] + [line.rjust(width) for line in body])
    return "\n".join("   ".join(parts).rstrip() for parts in zip(*blocks))


def _blocks(sizes) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return list(zip(edges[:-1], edges[1:]))


def block_maps(report: RunReport, mask: np.ndarray) -> list[str]:
    """The map of each (output array, input array) block that holds a disagreement, named; one map
    when the function takes and returns one array each."""
    outputs = [(report.function or "out") + leaf.path for leaf in report.outputs] or [report.function or "out"]
    out_sizes = [int(np.prod(leaf.shape)) if leaf.shape else 1 for leaf in report.outputs] or [mask.shape[0]]
    inputs = [(a.name or f"arg{a.index}", int(np.prod(a.shape)) if a.shape else 1) for a in report.arguments
              if a.differentiated] or [("x", mask.shape[1])]
    row_blocks, col_blocks = _blocks(out_sizes), _blocks([size for _, size in inputs])
    if len(row_blocks) * len(col_blocks) == 1 or sum(out_sizes) != mask.shape[0] \
            or sum(s for _, s in inputs) != mask.shape[1]:
        return [f"all {_plural(mask.size, 'entry')} disagree" if mask.all() else disagreement_map(mask)]
    lines = []
    for out_name, (r0, r1) in zip(outputs, row_blocks):
        for (in_name, _), (c0, c1) in zip(inputs, col_blocks):
            block = mask[r0:r1, c0:c1]
            if block.all():  # nothing to draw: every entry of this pair of arrays
                lines.append(f"  d {out_name} / d {in_name}: all {_plural(block.size, 'entry')} disagree")
            elif block.any():
                lines += [f"  d {out_name} / d {in_name}:", disagreement_map(block)]
    return lines


def disagreement_map(mask: np.ndarray) -> str:
    """A character picture of ``mask``, each character covering a block of entries."""
    n_rows, n_cols = mask.shape
    row_step = max(1, -(-n_rows // MAP_CELLS))
    col_step = max(1, -(-n_cols // MAP_CELLS))
    drawn = []
    for i in range(0, n_rows, row_step):
        block_row = mask[i : i + row_step]
        drawn.append("".join("X" if block_row[:, j : j + col_step].any() else "." for j in range(0, n_cols, col_step)))
    lines: list[str] = []
    k = 0
    while k < len(drawn):  # a run of identical lines is drawn once and counted
        run = 1
        while k + run < len(drawn) and drawn[k + run] == drawn[k]:
            run += 1
        lines.append(drawn[k])
        if run >= MAP_RUN:
            lines.append(f"(and {run - 1} more lines like it)")
        else:
            lines += drawn[k + 1 : k + run]
        k += run
    scale = f"(each character: {row_step}x{col_step} entries)" if row_step * col_step > 1 else ""
    return "\n".join(lines) + (f"\n{scale}" if scale else "")


def _random_headline(report: RunReport, failing: list[str]) -> str:
    """The verdict when the reference failed because two identical calls differ ("" otherwise):
    "FAIL: fd" alone reads like a bug in finite differences, where the function is random."""
    if "fd" not in failing or report.comparison.verdict("fd").status != Status.UNUSABLE:
        return ""
    impure = next((f for f in report.findings if f.code == "ADC601"), None)
    others = [name for name in failing if name != "fd"]
    also = f" (failing too: {', '.join(others)})" if others else ""
    if impure is None:  # the reference saw it (fast mode, or --no-lint: no probes ran)
        return ("FAIL: the function is not deterministic between calls: two identical calls return different "
                f"values, so finite differences (fd) verify nothing (see fd's row){also}")
    if "the function is random: " in impure.message:
        why = impure.message.split("the function is random: ", 1)[1]
        return f"FAIL: the function is random (not deterministic between calls): {why}{also}"
    what = ("keeps state between calls (not deterministic)" if "keeps state between calls" in impure.message
            else "is not deterministic between calls")
    return (f"FAIL: the function {what}: two identical calls return different values, so finite differences (fd) "
            f"verify nothing (ADC601 above){also}")


def verdict_line(report: RunReport, style) -> str:
    failing = [v.name for v in report.comparison.verdicts if v.status in FAILING]
    if report.second_order is not None:
        failing += [f"{v.name} (second derivative)" for v in report.second_order.verdicts if v.status in FAILING]
    if failing:
        return style(_random_headline(report, failing) or f"FAIL: {', '.join(failing)}", fg="red", bold=True)
    if report.nothing_checked:
        return style(f"NOTHING CHECKED: {NOTHING_CHECKED_TITLE} (the reasons are above)", fg="red", bold=True)
    if report.nothing_verified:
        return style(f"NOTHING VERIFIED: {NOTHING_VERIFIED_TITLE}: every entry of {', '.join(report.inconclusive)} is "
                     "inconclusive (the evidence is above)", fg="red", bold=True)
    checked = [v.name for v in report.comparison.verdicts if v.status in (Status.AGREE, Status.KINK)]
    unsure = list(report.inconclusive)
    kinks = [v.name for v in report.comparison.verdicts if v.status == Status.KINK]
    if checked:
        overruled = any(v.n_overruled for v in report.comparison.verdicts)
        witness = " and a second witness, which overruled finite differences where they were wrong" if overruled else ""
        text = (f"PASS: {', '.join(checked)} {'agrees' if len(checked) == 1 else 'agree'} with finite differences"
                f"{witness}")
        if kinks:
            text += " (at a kink: valid subgradients)"
        if unsure:
            text += f"; {', '.join(unsure)} inconclusive"
        return style(text, fg="green" if not unsure else "yellow", bold=True)
    return style(f"INCONCLUSIVE: {', '.join(unsure)} could not be verified (see above; exit 0 unless "
                 "--fail-on inconclusive)", fg="yellow", bold=True)


class TableFormat:
    """The terminal's report: each case's table in turn, then the check's closing lines."""

    name = "table"

    def case_writer(self, options: RenderOptions):
        return partial(render, colour=options.colour, timings=options.timings)

    def render(self, reports, options: RenderOptions) -> str:
        return _with_summary(_joined(self.case_writer(options), reports), options.summary)

    def render_check(self, result, options: RenderOptions, ahead) -> str:
        return _with_summary(_joined(self.case_writer(options), result.reports, ahead), options.summary)


FORMAT = TableFormat()


def _with_summary(text: str, summary: str) -> str:
    """A table's text followed by the check's closing lines."""
    return text + ("\n\n" + printable(summary) if summary else "")


def _joined(writer: Callable[[RunReport], str], reports: Sequence[RunReport], ahead=None) -> str:
    one = ahead or writer
    return "\n\n".join(one(r) for r in reports)
