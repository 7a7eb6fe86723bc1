"""The terminal report: a summary row per backend, the worst entries, the matrices or a map."""

from __future__ import annotations

import click
import numpy as np
from tabulate import tabulate

from ..model import FAILING, BackendVerdict, RunReport, Status

FULL_MATRIX_LIMIT = 8  # print whole Jacobians up to 8x8
MAP_CELLS = 60  # the disagreement map has at most this many characters a side

STATUS_COLOURS = {
    Status.REFERENCE: "cyan",
    Status.AGREE: "green",
    Status.KINK: "yellow",
    Status.DISAGREE: "red",
    Status.ERROR: "red",
    Status.UNAVAILABLE: "bright_black",
    Status.NOT_APPLICABLE: "bright_black",
}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value != 0 else "0"


def entry_value(value: float) -> str:
    return f"{value + 0.0:.6g}"  # + 0.0 turns -0.0 (forward mode's zero tangents) into 0


def render(report: RunReport, *, colour: bool = False, timings: bool = True) -> str:
    def style(text, **kwargs):
        return click.style(text, **kwargs) if colour else text

    lines = [style(f"adcheck run {report.target}", bold=True)]
    shape_in = " + ".join(f"{'x'.join(map(str, a.shape)) or 'scalar'}" for a in report.arguments if a.differentiated)
    n_out = report.output_shapes[0][0] if report.output_shapes else 0
    lines.append(f"inputs: {shape_in} ({_plural(_n_inputs(report), 'value')}) -> outputs: {_plural(n_out, 'value')}")
    lines += [f"  {note}" for note in report.notes + (report.timing_notes if timings else ())]
    lines.append("")
    lines.append(summary_table(report, style, timings))
    if report.comparison.consensus:
        lines += ["", report.comparison.consensus + "."]
    reference_is_odd = report.comparison.odd_one_out == ("fd",)
    reference_story_told = False
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.ERROR:
            where = f" ({verdict.location})" if verdict.location else ""
            lines += ["", style(f"{verdict.name}: error{where}", fg="red", bold=True), f"  {verdict.message}"]
            lines += cause_lines(report, verdict.name, "Likely causes:")
        elif verdict.status == Status.DISAGREE:
            if reference_is_odd and reference_story_told:
                continue  # every AD backend tells the same story: once is enough
            heading = (f"finite differences disagree with every AD backend ({verdict.message})" if reference_is_odd
                       else f"{verdict.name} disagrees: {verdict.message}")
            lines += ["", style(heading, fg="red", bold=True)]
            if verdict.mismatches:
                lines.append(worst_entries_table(report, verdict))
            lines += cause_lines(report, verdict.name, "Likely causes:")
            reference_story_told = True
        elif verdict.status == Status.KINK:
            lines += ["", style(f"{verdict.name}: {verdict.message}", fg="yellow")]
            lines += kink_lines(report, verdict)
            lines += cause_lines(report, verdict.name)
    jacobians = _jacobians(report)
    if jacobians:
        first = next(iter(jacobians.values()))
        if max(first.shape) <= FULL_MATRIX_LIMIT:
            lines += ["", "Jacobians (rows: outputs, columns: inputs):", matrices_side_by_side(jacobians)]
        else:
            for verdict in report.comparison.verdicts:
                if verdict.mismatch_mask is not None and verdict.mismatch_mask.any():
                    lines += ["", f"{verdict.name}: where the disagreements are (X: disagree, .: agree)",
                              disagreement_map(verdict.mismatch_mask)]
    if report.second_order is not None:
        lines += ["", second_order_section(report, style, timings)]
    second_order_failed = report.second_order is not None and any(
        v.status in FAILING for v in report.second_order.verdicts)
    other = [f for f in report.findings if not f.explains and f.severity != "info"
             and not (second_order_failed and f.code == "ADC501")]  # shown as second-order causes
    if other:
        lines += ["", "Findings:"] + [f"  {f.format()}" for f in other]
    lines += ["", verdict_line(report, style)]
    return "\n".join(lines)


def cause_lines(report: RunReport, backend: str, heading: str | None = None) -> list[str]:
    """The findings that may explain ``backend``'s row, indented, under ``heading`` if any."""
    causes = [f"  {f.format()}" for f in report.findings if backend in f.explains]
    return ([heading] if heading and causes else []) + causes


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _n_inputs(report: RunReport) -> int:
    return sum(int(np.prod(a.shape)) for a in report.arguments if a.differentiated)


def summary_table(report: RunReport, style, timings: bool, verdicts=None) -> str:
    headers = ["backend", "status", "max abs err", "max rel err", "worst entry"]
    if timings:
        headers.append("seconds")
    rows = []
    for verdict in verdicts if verdicts is not None else report.comparison.verdicts:
        status = style(str(verdict.status), fg=STATUS_COLOURS[verdict.status])
        worst = f"({verdict.worst_entry[0]}, {verdict.worst_entry[1]})" if verdict.worst_entry else "-"
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


def worst_entries_table(report: RunReport, verdict: BackendVerdict) -> str:
    others = [r for r in report.runs if r.status == Status.COMPUTED and r.name != verdict.name and r.jacobian is not None]
    headers = ["entry (out, in)", f"{verdict.name} (actual)", "fd (desired)", "fd error"] + [r.name for r in others]
    rows = []
    for m in verdict.mismatches:
        row = [f"({m.row}, {m.col})", entry_value(m.value), entry_value(m.reference), f"±{m.reference_error:.1e}"]
        row += [entry_value(float(r.jacobian[m.row, m.col])) for r in others]
        rows.append(row)
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    if verdict.n_mismatches > len(verdict.mismatches):
        table += f"\n... and {verdict.n_mismatches - len(verdict.mismatches)} more entries"
    return table


def second_order_section(report: RunReport, style, timings: bool) -> str:
    n_out = report.output_shapes[0][0] if report.output_shapes else 0
    what = "Hessian" if n_out == 1 else "d(J v)/dx along a fixed random v"
    lines = [style(f"Second derivatives ({what}), each against FD of the backend's own first derivative:", bold=True),
             summary_table(report, style, timings, verdicts=report.second_order.verdicts)]
    for verdict in report.second_order.verdicts:
        if verdict.status == Status.ERROR:
            lines += ["", style(f"{verdict.name} second derivative: error", fg="red", bold=True), f"  {verdict.message}"]
        elif verdict.status == Status.NOT_APPLICABLE:
            lines.append(f"  {verdict.name}: {verdict.message}")
        if verdict.mismatches:
            lines += ["", style(f"{verdict.name} second derivative {verdict.message}", fg="red", bold=True)]
            rows = [[f"({m.row}, {m.col})", entry_value(m.value), entry_value(m.reference), f"±{m.reference_error:.1e}"]
                    for m in verdict.mismatches]
            lines.append(tabulate(rows, headers=["entry", f"{verdict.name} (actual)", "FD of its derivative (desired)",
                                                 "fd error"], tablefmt="simple", disable_numparse=True))
    rules = [f for f in report.findings if f.code == "ADC501"]
    if rules and any(v.status in FAILING for v in report.second_order.verdicts):
        lines += ["Likely causes (a derivative rule must itself be differentiable):"]
        lines += [f"  {f.format()}" for f in rules]
    if report.second_order.consensus:
        lines += ["", report.second_order.consensus + "."]
    return "\n".join(lines)


def kink_lines(report: RunReport, verdict: BackendVerdict) -> list[str]:
    reference = report.run("fd")
    one_sided = reference.extra.get("one_sided") if reference is not None else None
    run = report.run(verdict.name)
    if not one_sided or run is None:
        return []
    columns = list(one_sided["columns"])
    lines = []
    for i, j in verdict.kinks:
        k = columns.index(j)
        lines.append(f"  entry ({i}, {j}): {verdict.name} {entry_value(float(run.jacobian[i, j]))}; one-sided "
                     f"derivatives {entry_value(float(one_sided['minus'][i, k]))} (left) and "
                     f"{entry_value(float(one_sided['plus'][i, k]))} (right)")
    return lines


def _jacobians(report: RunReport) -> dict[str, np.ndarray]:
    return {r.name: r.jacobian for r in report.runs
            if r.jacobian is not None and r.status in (Status.REFERENCE, Status.COMPUTED)}


def matrices_side_by_side(jacobians: dict[str, np.ndarray]) -> str:
    blocks = []
    for name, jac in jacobians.items():
        body = tabulate([[entry_value(float(v)) for v in row] for row in jac], tablefmt="plain",
                        disable_numparse=True, stralign="right").splitlines()
        width = max(len(name), *(len(line) for line in body))
        blocks.append([name.ljust(width)] + [line.rjust(width) for line in body])
    return "\n".join("   ".join(parts).rstrip() for parts in zip(*blocks))


def disagreement_map(mask: np.ndarray) -> str:
    """A character picture of ``mask``, each character covering a block of entries."""
    n_rows, n_cols = mask.shape
    row_step = max(1, -(-n_rows // MAP_CELLS))
    col_step = max(1, -(-n_cols // MAP_CELLS))
    lines = []
    for i in range(0, n_rows, row_step):
        block_row = mask[i : i + row_step]
        lines.append("".join("X" if block_row[:, j : j + col_step].any() else "." for j in range(0, n_cols, col_step)))
    scale = f"(each character: {row_step}x{col_step} entries)" if row_step * col_step > 1 else ""
    return "\n".join(lines) + (f"\n{scale}" if scale else "")


def verdict_line(report: RunReport, style) -> str:
    failing = [v.name for v in report.comparison.verdicts if v.status in FAILING]
    if report.second_order is not None:
        failing += [f"{v.name} (second derivative)" for v in report.second_order.verdicts if v.status in FAILING]
    kinks = [v.name for v in report.comparison.verdicts if v.status == Status.KINK]
    if failing:
        return style(f"FAIL: {', '.join(failing)}", fg="red", bold=True)
    checked = [v.name for v in report.comparison.verdicts if v.status in (Status.AGREE, Status.KINK)]
    if not checked:
        return style("FAIL: no AD backend could be checked", fg="red", bold=True)
    text = f"PASS: {', '.join(checked)} {'agrees' if len(checked) == 1 else 'agree'} with finite differences"
    if kinks:
        text += " (at a kink: valid subgradients)"
    return style(text, fg="green", bold=True)
