"""``--format json``: one object per run (schema 2, documented in the README), and the check's."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np

from ..model import RunReport

SCHEMA_VERSION = 2
MAX_JSON_JACOBIAN_ENTRIES = 10_000


# JSON has no NaN or infinity. They are written as the strings protobuf's JSON mapping uses (and
# Python's float() and numpy read back); null means there is no value, which a NaN entry is not.
NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _number(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else NONFINITE[repr(value)]


class _Rows(list):
    """A matrix, written a row per line (a number per line makes a 1000x1000 Jacobian's JSON
    megabytes of indentation, and slow to write)."""


def _matrix(array: np.ndarray) -> list:
    array = np.asarray(array, dtype=float)
    if np.isfinite(array).all():
        return _Rows(array.tolist())
    return _Rows([[_number(v) for v in row] for row in array])


def dumps(data) -> str:
    """``json.dumps(data, indent=2)``, with each matrix a row per line.

    Written here rather than by ``json.dumps(indent=2)``, whose indenting encoder is pure Python:
    the 200 cases of a check took it half a second, at the end of the run, with every worker
    idle. Each matrix is encoded whole by the C encoder and split into its rows.
    """
    out: list[str] = []
    _write(data, "", out)
    return "".join(out)


class Written(str):
    """JSON text already indented for its place in the document: ``dumps`` copies it as it is."""


CASE_PAD = "    "  # a case object's indentation in ``check_dict``'s document: {"cases": [{...


def case_text(report: RunReport, *, timings: bool = True) -> Written:
    """One case's object, exactly as ``render_check`` writes it under ``cases``."""
    out: list[str] = []
    _write(report_dict(report, timings=timings), CASE_PAD, out)
    return Written("".join(out))


_encode_string = json.encoder.encode_basestring_ascii  # what json.dumps writes a string as (ensure_ascii)
_CONSTANTS = {True: "true", False: "false", None: "null"}


def _write(value, pad: str, out: list[str]) -> None:
    if isinstance(value, Written):
        out.append(value)
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif value is None or value is True or value is False:
        out.append(_CONSTANTS[value])
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = pad + "  "
        separator = "{\n" + inner
        for key, item in value.items():
            out.append(separator)
            out.append(_encode_string(key) if isinstance(key, str) else json.dumps({key: None})[1:-7])  # json's spelling
            out.append(": ")
            _write(item, inner, out)
            separator = ",\n" + inner
        out.append("\n" + pad + "}")
    elif isinstance(value, _Rows) and value and all(isinstance(row, list) for row in value):
        inner = pad + "  "
        rows = json.dumps(value)[1:-1].replace("], [", "],\n" + inner + "[")  # numbers only: no "], [" inside a row
        out.append("[\n" + inner + rows + "\n" + pad + "]")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = pad + "  "
        separator = "[\n" + inner
        for item in value:
            out.append(separator)
            _write(item, inner, out)
            separator = ",\n" + inner
        out.append("\n" + pad + "]")
    else:
        out.append(json.dumps(value))  # numbers (NaN and infinity as json.dumps writes them)


def verdict_word(report: RunReport) -> str:
    if report.failed:
        return "fail"
    if report.nothing_checked:
        return "nothing-checked"
    if report.nothing_verified:
        return "nothing-verified"
    return "inconclusive" if report.inconclusive else "pass"


def report_dict(report: RunReport, *, timings: bool = True) -> dict:
    result = {
        "schema": SCHEMA_VERSION,
        "target": report.target,
        "verdict": verdict_word(report),
        "framework": report.framework,
        "inputs": [
            {"index": a.index, "name": a.name, "shape": list(a.shape), "dtype": a.dtype,
             "differentiated": a.differentiated, "promoted_from": a.promoted_from}
            for a in report.arguments
        ],
        "outputs": [{"name": (report.function or "out") + leaf.path, "shape": list(leaf.shape)}
                    for leaf in report.outputs],
        "odd_one_out": list(report.comparison.odd_one_out),
        "consensus": report.comparison.consensus,
        "backends": _verdicts(partial(_name, report), report.comparison.verdicts, timings),
        "jacobians": {},
        "fd_error": None,
        "findings": [
            {"code": f.code, "severity": f.severity, "path": f.path, "line": f.line, "col": f.col,
             "message": f.message, "explains": list(f.explains)}
            for f in report.findings
        ],
        "notes": list(report.notes + (report.timing_notes if timings else ())),
    }
    if report.second_order is not None:
        result["second_order"] = {"odd_one_out": list(report.second_order.odd_one_out),
                                  "consensus": report.second_order.consensus,
                                  "backends": _verdicts(partial(_second_order_name, report),
                                                        report.second_order.verdicts, timings)}
    if report.search is not None:
        from .search import search_dict

        result["search"] = search_dict(report.search, partial(report_dict, timings=timings))
    reference = report.run("fd")
    if reference is not None and reference.jacobian is not None and reference.jacobian.size <= MAX_JSON_JACOBIAN_ENTRIES:
        result["jacobians"] = {r.name: _matrix(r.jacobian) for r in report.runs if r.jacobian is not None}
        result["fd_error"] = _matrix(reference.error)
    return result


def _name(report: RunReport, row: int, col: int) -> dict:
    """``{"out": "loss", "in": 'params["b"][0]'}``: the output and the input of a Jacobian entry."""
    return {"out": report.output_name(row), "in": report.input_name(col)}


def _second_order_name(report: RunReport, row: int, col: int) -> dict:
    """A second derivative's entry: the first derivative it differentiates, and the input."""
    if report.n_outputs == 1:  # a Hessian: row ``row`` is the gradient's entry for input ``row``
        return {"out": f"d {report.output_name(0)} / d {report.input_name(row)}", "in": report.input_name(col)}
    return {"out": f"(J v)[{report.output_name(row)}]", "in": report.input_name(col)}


def _entry(name, m) -> dict:
    return {"entry": [m.row, m.col], "name": name(m.row, m.col), "value": _number(m.value),
            "reference": _number(m.reference), "reference_error": _number(m.reference_error),
            "error_over_tolerance": _number(m.rel_error)}


def _verdicts(name, verdicts, timings: bool) -> list[dict]:
    """``name(row, col)`` names an entry: ``_name`` or, for second derivatives, ``_second_order_name``."""
    backends = []
    for verdict in verdicts:
        backends.append({
            "name": verdict.name,
            "status": str(verdict.status),
            "max_abs_error": _number(verdict.max_abs_error),
            "max_error_over_tolerance": _number(verdict.max_rel_error),
            "nonfinite_entries": verdict.n_nonfinite,
            "worst_entry": list(verdict.worst_entry) if verdict.worst_entry else None,
            "worst_entry_name": name(*verdict.worst_entry) if verdict.worst_entry else None,
            "seconds": round(verdict.seconds, 3) if timings else None,
            "message": verdict.message,
            "location": str(verdict.location) if verdict.location else None,
            "mismatches": [_entry(name, m) for m in verdict.mismatches],
            "kink_entries": verdict.n_kinks,
            "kinks": [list(entry) for entry in verdict.kinks],
            "inconclusive_entries": verdict.n_inconclusive,
            "inconclusive": [{**_entry(name, m), "evidence": m.evidence} for m in verdict.inconclusive],
            "consensus_only_entries": verdict.n_consensus,
        })
    return backends


def render(report: RunReport, *, timings: bool = True) -> str:
    return dumps(report_dict(report, timings=timings))


def check_dict(result, *, timings: bool, case=None) -> dict:
    """``adcheck check --format json``: the ``run`` object of each case under ``cases``.

    ``case``: report -> its object as text (``case_text``, perhaps written ahead:
    ``report.RenderedAhead``); by default the objects themselves."""
    from ..config import display_path
    from ..errors import ExitCode

    new = {f.key for f in result.new_failures}
    verdict = {ExitCode.OK: "pass", ExitCode.FAILED: "fail", ExitCode.USAGE: "broken"}.get(result.exit_code,
                                                                                           "interrupted")
    return {
        "schema": SCHEMA_VERSION,
        "verdict": verdict,
        "fail_on": str(result.fail_on),
        "cases": [case(r.report) if case else report_dict(r.report, timings=timings) for r in result.results],
        "failures": [
            {"case": f.case, "subject": f.subject, "status": f.status, "baselined": f.key not in new}
            for f in result.failures
        ],
        "broken": [{"case": r.report.target, "message": r.broken} for r in result.broken],
        "interrupted": list(result.interrupted),
        "baseline": {
            "path": display_path(result.baseline, Path.cwd()) if result.baseline else None,
            "no_longer_failing": [{"case": case, "subject": subject} for case, subject in result.fixed],
        },
    }


def render_check(result, *, timings: bool = True, case=None) -> str:
    return dumps(check_dict(result, timings=timings, case=case or partial(case_text, timings=timings)))


class JsonFormat:
    """``run``: the one report's object; ``check``: every case's object under ``cases``, each
    written as its case ends."""

    name = "json"

    def case_writer(self, options):
        return partial(case_text, timings=options.timings)

    def render(self, reports, options) -> str:
        (report,) = reports  # a run is one report; a check renders through render_check
        return render(report, timings=options.timings)

    def render_check(self, result, options, ahead) -> str:
        return render_check(result, timings=options.timings, case=ahead)


FORMAT = JsonFormat()
