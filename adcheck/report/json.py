"""``--format json``: one object, schema 1 (documented in the README)."""

from __future__ import annotations

import json
import math

import numpy as np

from ..model import RunReport

SCHEMA_VERSION = 1
MAX_JSON_JACOBIAN_ENTRIES = 10_000


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _matrix(array: np.ndarray) -> list:
    # JSON has no NaN/inf: they become null.
    return [[_finite_or_none(v) for v in row] for row in np.asarray(array, dtype=float)]


def report_dict(report: RunReport, *, timings: bool = True) -> dict:
    result = {
        "schema": SCHEMA_VERSION,
        "target": report.target,
        "verdict": "fail" if report.failed else "pass",
        "framework": report.framework,
        "inputs": [
            {"index": a.index, "shape": list(a.shape), "dtype": a.dtype, "differentiated": a.differentiated,
             "promoted_from": a.promoted_from}
            for a in report.arguments
        ],
        "odd_one_out": list(report.comparison.odd_one_out),
        "consensus": report.comparison.consensus,
        "backends": _verdicts(report.comparison.verdicts, timings),
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
                                  "backends": _verdicts(report.second_order.verdicts, timings)}
    reference = report.run("fd")
    if reference is not None and reference.jacobian is not None and reference.jacobian.size <= MAX_JSON_JACOBIAN_ENTRIES:
        result["jacobians"] = {r.name: _matrix(r.jacobian) for r in report.runs if r.jacobian is not None}
        result["fd_error"] = _matrix(reference.error)
    return result


def _verdicts(verdicts, timings: bool) -> list[dict]:
    backends = []
    for verdict in verdicts:
        backends.append({
            "name": verdict.name,
            "status": str(verdict.status),
            "max_abs_error": _finite_or_none(verdict.max_abs_error),
            "max_rel_error": _finite_or_none(verdict.max_rel_error),
            "worst_entry": list(verdict.worst_entry) if verdict.worst_entry else None,
            "seconds": round(verdict.seconds, 3) if timings else None,
            "message": verdict.message,
            "location": str(verdict.location) if verdict.location else None,
            "mismatches": [
                {"entry": [m.row, m.col], "value": _finite_or_none(m.value), "reference": _finite_or_none(m.reference),
                 "reference_error": _finite_or_none(m.reference_error)}
                for m in verdict.mismatches
            ],
        })
    return backends


def render(report: RunReport, *, timings: bool = True) -> str:
    return json.dumps(report_dict(report, timings=timings), indent=2)
