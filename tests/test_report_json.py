"""``--format json``: the run object (schema 2) and the ``check`` object, validated and compared exactly.

The hand-made reports (``report_samples``) carry exact numbers, so each backend object is compared
whole; the CLI checks at the end validate real runs against the schema and assert statuses.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import numpy as np
import pytest

import report_samples as samples
from adcheck.baseline import Failure
from adcheck.check import CaseResult, CheckResult
from adcheck.config import Case
from adcheck.errors import ExitCode
from adcheck.model import Status
from adcheck.report import json as json_report
from adcheck.settings import FailOn

# --- the schema, strict: every key required, none undocumented ----------------------------------------

NONFINITE = {"enum": ["NaN", "Infinity", "-Infinity"]}
NUMBER = {"anyOf": [{"type": "number"}, NONFINITE]}
NUMBER_OR_NULL = {"anyOf": [{"type": "number"}, {"type": "null"}, NONFINITE]}
ENTRY_INDEX = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
ENTRY_NAME = {"type": "object", "required": ["out", "in"], "additionalProperties": False,
              "properties": {"out": {"type": "string", "minLength": 1}, "in": {"type": "string", "minLength": 1}}}
ENTRY = {
    "type": "object",
    "required": ["entry", "name", "value", "reference", "reference_error", "error_over_tolerance"],
    "additionalProperties": False,
    "properties": {"entry": ENTRY_INDEX, "name": ENTRY_NAME, "value": NUMBER,
                   "reference": NUMBER, "reference_error": NUMBER, "error_over_tolerance": NUMBER},
}
BACKEND = {
    "type": "object",
    "required": ["name", "status", "max_abs_error", "max_error_over_tolerance", "nonfinite_entries", "worst_entry",
                 "worst_entry_name", "seconds", "message", "location", "mismatches", "kink_entries", "kinks",
                 "inconclusive_entries", "inconclusive", "consensus_only_entries"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "status": {"enum": [str(s) for s in Status if s != Status.COMPUTED]},
        "max_abs_error": NUMBER_OR_NULL,
        "max_error_over_tolerance": NUMBER_OR_NULL,
        "nonfinite_entries": {"type": "integer", "minimum": 0},
        "worst_entry": {"anyOf": [{"type": "null"}, ENTRY_INDEX]},
        "worst_entry_name": {"anyOf": [{"type": "null"}, ENTRY_NAME]},
        "seconds": {"type": ["number", "null"], "minimum": 0},
        "message": {"type": "string"},
        "location": {"type": ["string", "null"]},
        "mismatches": {"type": "array", "items": ENTRY},
        "kink_entries": {"type": "integer", "minimum": 0},
        "kinks": {"type": "array", "items": ENTRY_INDEX},
        "inconclusive_entries": {"type": "integer", "minimum": 0},
        "inconclusive": {"type": "array", "items": {
            **ENTRY, "required": [*ENTRY["required"], "evidence"],
            "properties": {**ENTRY["properties"], "evidence": {"type": "string"}}}},
        "consensus_only_entries": {"type": "integer", "minimum": 0},
    },
}
MATRIX = {"type": "array", "items": {"type": "array", "items": NUMBER}}
RUN_SCHEMA = {
    "type": "object",
    "required": ["schema", "target", "verdict", "framework", "inputs", "outputs", "odd_one_out", "consensus",
                 "backends", "jacobians", "fd_error", "findings", "notes"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": 2},
        "target": {"type": "string"},
        "verdict": {"enum": ["pass", "fail", "inconclusive", "nothing-checked"]},
        "framework": {"type": "string"},
        "inputs": {"type": "array", "items": {
            "type": "object", "required": ["index", "name", "shape", "dtype", "differentiated", "promoted_from"],
            "additionalProperties": False,
            "properties": {"index": {"type": "integer", "minimum": 0}, "name": {"type": "string"},
                           "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                           "dtype": {"type": "string"}, "differentiated": {"type": "boolean"},
                           "promoted_from": {"type": ["string", "null"]}}}},
        "outputs": {"type": "array", "items": {
            "type": "object", "required": ["name", "shape"], "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1},
                           "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}}}}},
        "odd_one_out": {"type": "array", "items": {"type": "string"}},
        "consensus": {"type": "string"},
        "backends": {"type": "array", "minItems": 1, "items": BACKEND},
        "jacobians": {"type": "object", "additionalProperties": MATRIX},
        "fd_error": {"anyOf": [{"type": "null"}, MATRIX]},
        "findings": {"type": "array", "items": {
            "type": "object", "required": ["code", "severity", "path", "line", "col", "message", "explains"],
            "additionalProperties": False,
            "properties": {"code": {"type": "string", "pattern": "^ADC[0-9]{3}$"},
                           "severity": {"enum": ["error", "warning", "info"]},
                           "path": {"type": "string"}, "message": {"type": "string"},
                           "line": {"type": "integer", "minimum": 1}, "col": {"type": "integer", "minimum": 1},
                           "explains": {"type": "array", "items": {"type": "string"}}}}},
        "notes": {"type": "array", "items": {"type": "string"}},
        "second_order": {"type": "object", "required": ["odd_one_out", "consensus", "backends"],
                         "additionalProperties": False,
                         "properties": {"odd_one_out": {"type": "array", "items": {"type": "string"}},
                                        "consensus": {"type": "string"},
                                        "backends": {"type": "array", "items": BACKEND}}},
    },
}
CHECK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "verdict", "fail_on", "cases", "failures", "broken", "interrupted", "baseline"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": 2},
        "verdict": {"enum": ["pass", "fail", "broken", "interrupted"]},
        "fail_on": {"enum": [str(level) for level in FailOn]},
        "cases": {"type": "array", "items": RUN_SCHEMA},
        "failures": {"type": "array", "items": {
            "type": "object", "required": ["case", "subject", "status", "baselined"], "additionalProperties": False,
            "properties": {"case": {"type": "string"}, "subject": {"type": "string"}, "status": {"type": "string"},
                           "baselined": {"type": "boolean"}}}},
        "broken": {"type": "array", "items": {
            "type": "object", "required": ["case", "message"], "additionalProperties": False,
            "properties": {"case": {"type": "string"}, "message": {"type": "string"}}}},
        "interrupted": {"type": "array", "items": {"type": "string"}},
        "baseline": {"type": "object", "required": ["path", "no_longer_failing"], "additionalProperties": False,
                     "properties": {"path": {"type": ["string", "null"]}, "no_longer_failing": {
                         "type": "array", "items": {
                             "type": "object", "required": ["case", "subject"], "additionalProperties": False,
                             "properties": {"case": {"type": "string"}, "subject": {"type": "string"}}}}}},
    },
}


def reject_constant(name: str):
    raise ValueError(f"not JSON: {name}")


def strict_loads(text: str):
    """``json.loads`` that refuses Python's NaN/Infinity extensions, as other JSON parsers do."""
    return json.loads(text, parse_constant=reject_constant)


def backend(data: dict, name: str) -> dict:
    matches = [b for b in data["backends"] if b["name"] == name]
    assert len(matches) == 1, [b["name"] for b in data["backends"]]
    return matches[0]


# What a backend object holds when nothing was measured: a row to override field by field.
BLANK = {"max_abs_error": None, "max_error_over_tolerance": None, "nonfinite_entries": 0, "worst_entry": None,
         "worst_entry_name": None, "seconds": None, "message": "", "location": None, "mismatches": [],
         "kink_entries": 0, "kinks": [], "inconclusive_entries": 0, "inconclusive": [], "consensus_only_entries": 0}


# --- hand-made reports ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(samples.ALL_REPORTS))
@pytest.mark.parametrize("timings", [True, False])
def test_every_sample_report_renders_strict_json_that_matches_the_schema(name, timings):
    text = json_report.render(samples.ALL_REPORTS[name](), timings=timings)
    data = strict_loads(text)
    jsonschema.validate(data, RUN_SCHEMA)
    seconds = [b["seconds"] for b in data["backends"] + data.get("second_order", {}).get("backends", [])]
    assert seconds  # every sample has backends
    assert [s is not None for s in seconds] == [timings] * len(seconds)


def test_json_of_a_disagreement_an_error_and_a_backend_that_cannot_run_the_code():
    data = json_report.report_dict(samples.mixed_report(), timings=True)
    assert data["verdict"] == "fail"
    assert data["odd_one_out"] == ["autograd"]
    assert data["inputs"] == [{"index": 0, "name": "x", "shape": [2], "dtype": "float64", "differentiated": True,
                               "promoted_from": None}]
    assert data["outputs"] == [{"name": "f", "shape": [2]}]
    assert data["backends"] == [
        {**BLANK, "name": "fd", "status": "reference", "seconds": 0.04},
        {**BLANK, "name": "autograd", "status": "disagree", "max_abs_error": 2.0, "max_error_over_tolerance": 4.0,
         "worst_entry": [0, 1], "worst_entry_name": {"out": "f[0]", "in": "x[1]"}, "seconds": 1.25,
         "message": "1 of 4 entries outside tolerance",
         "mismatches": [{"entry": [0, 1], "name": {"out": "f[0]", "in": "x[1]"}, "value": 2.5, "reference": 0.5,
                         "reference_error": 1e-12, "error_over_tolerance": 4.0}]},
        {**BLANK, "name": "jax-fwd", "status": "agree", "max_abs_error": 0.0, "max_error_over_tolerance": 0.0,
         "worst_entry": [0, 0], "worst_entry_name": {"out": "f[0]", "in": "x[0]"}, "seconds": 2.5},
        {**BLANK, "name": "jax-rev", "status": "error", "seconds": 0.5,
         "message": "TypeError: bad, with: punctuation",
         "location": "pkg/model.py:13"},
        {**BLANK, "name": "torch-fwd", "status": "not-applicable", "seconds": 0.0,
         "message": "torch-fwd cannot run numpy code (it runs torch, array-api)"},
    ]
    assert data["jacobians"] == {"fd": [[1.0, 0.5], [0.0, 2.0]], "autograd": [[1.0, 2.5], [0.0, 2.0]],
                                 "jax-fwd": [[1.0, 0.5], [0.0, 2.0]]}
    assert data["fd_error"] == [[1e-12, 1e-12], [1e-12, 1e-12]]
    assert [(f["code"], f["severity"], f["line"], f["col"], f["explains"]) for f in data["findings"]] == [
        ("ADC501", "warning", 20, 5, ["autograd"]), ("ADC105", "error", 14, 9, []), ("ADC605", "info", 15, 1, [])]


def test_json_kink_rows_name_the_entries_at_the_kink():
    data = json_report.report_dict(samples.kink_report(), timings=False)
    assert data["verdict"] == "pass"
    assert backend(data, "autograd") == {
        **BLANK, "name": "autograd", "status": "kink", "max_abs_error": 0.0, "max_error_over_tolerance": 0.0,
        "worst_entry": [0, 1], "worst_entry_name": {"out": "absolute[0]", "in": "x[1]"},
        "message": samples.KINK_MESSAGE, "kink_entries": 1, "kinks": [[0, 0]]}
    assert backend(data, "jax-fwd")["kinks"] == [[0, 0]]


def test_json_inconclusive_entries_carry_their_evidence():
    data = json_report.report_dict(samples.inconclusive_report(), timings=False)
    assert data["verdict"] == "inconclusive"
    assert backend(data, "autograd") == {
        **BLANK, "name": "autograd", "status": "inconclusive", "max_abs_error": 0.0, "max_error_over_tolerance": 0.0,
        "worst_entry": [0, 1], "worst_entry_name": {"out": "g[0]", "in": "x[1]"},
        "message": samples.INCONCLUSIVE_MESSAGE, "inconclusive_entries": 2,
        "inconclusive": [
            {"entry": [0, 0], "name": {"out": "g[0]", "in": "x[0]"}, "value": 0.75, "reference": 0.5,
             "reference_error": 0.5, "error_over_tolerance": 0.5, "evidence": samples.EVIDENCE_00},
            {"entry": [1, 0], "name": {"out": "g[1]", "in": "x[0]"}, "value": 3.0, "reference": 2.0,
             "reference_error": 2.0, "error_over_tolerance": 0.5, "evidence": samples.EVIDENCE_10},
        ]}


def test_json_of_an_unusable_reference_fails_on_the_fd_row_and_names_adc601():
    data = json_report.report_dict(samples.unusable_report(), timings=False)
    assert data["verdict"] == "fail"
    assert data["odd_one_out"] == ["fd"]
    assert backend(data, "fd") == {**BLANK, "name": "fd", "status": "unusable", "message": samples.UNUSABLE_MESSAGE}
    assert backend(data, "autograd") == {**BLANK, "name": "autograd", "status": "inconclusive",
                                         "message": samples.NO_REFERENCE_MESSAGE, "inconclusive_entries": 4}
    assert [(f["code"], f["explains"]) for f in data["findings"]] == [("ADC601", ["fd"]), ("ADC101", ["fd"])]


def test_json_when_no_ad_backend_can_run_the_function():
    data = json_report.report_dict(samples.nothing_checked_report(), timings=False)
    assert data["verdict"] == "nothing-checked"
    assert [(b["name"], b["status"], b["message"]) for b in data["backends"]] == [
        ("fd", "reference", ""),
        ("autograd", "unavailable", "autograd is not installed (pip install autograd)"),
        ("torch-fwd", "not-applicable", "torch-fwd cannot run numpy code (it runs torch, array-api)"),
    ]


def test_json_nan_disagreement_says_nan_not_the_finite_maximum():
    data = strict_loads(json_report.render(samples.nan_report(), timings=False))
    assert backend(data, "jax-rev") == {
        **BLANK, "name": "jax-rev", "status": "disagree", "max_abs_error": "NaN",
        "max_error_over_tolerance": "Infinity", "nonfinite_entries": 2, "worst_entry": [0, 0],
        "worst_entry_name": {"out": "safe_sqrt[0]", "in": "x[0]"}, "message": samples.NAN_MESSAGE,
        "mismatches": [
            {"entry": [0, 0], "name": {"out": "safe_sqrt[0]", "in": "x[0]"}, "value": "NaN", "reference": 0.0,
             "reference_error": 1e-12, "error_over_tolerance": "Infinity"},
            {"entry": [1, 0], "name": {"out": "safe_sqrt[1]", "in": "x[0]"}, "value": "NaN", "reference": 0.0,
             "reference_error": 1e-14, "error_over_tolerance": "Infinity"},
        ]}
    assert data["jacobians"]["jax-rev"] == [["NaN", 0.0], ["NaN", 1.0 + samples.TINY]]
    # The strings read back as numbers.
    read_back = np.array(data["jacobians"]["jax-rev"], dtype=float)
    assert np.isnan(read_back[:, 0]).all() and read_back[1, 1] == 1.0 + samples.TINY


def test_json_second_order_failure_fails_the_run_and_lists_each_second_derivative():
    data = json_report.report_dict(samples.second_order_report(), timings=False)
    assert data["verdict"] == "fail"
    assert [b["status"] for b in data["backends"]] == ["reference", "agree", "agree"]
    assert data["second_order"] == {
        "odd_one_out": ["jax-fwd", "jax-rev"],
        "consensus": "second derivatives: jax-fwd, jax-rev fail",
        "backends": [
            {**BLANK, "name": "jax-fwd", "status": "disagree", "max_abs_error": 0.75, "max_error_over_tolerance": 3.0,
             "worst_entry": [1, 1], "worst_entry_name": {"out": "d loss / d x[1]", "in": "x[1]"},
             "message": samples.SECOND_ORDER_MESSAGE,
             "mismatches": [{"entry": [1, 1], "name": {"out": "d loss / d x[1]", "in": "x[1]"}, "value": 1.0,
                             "reference": 0.25, "reference_error": 1e-11, "error_over_tolerance": 3.0}]},
            {**BLANK, "name": "jax-rev", "status": "error", "message": samples.SECOND_ORDER_ERROR},
        ]}
    assert "second_order" not in json_report.report_dict(samples.mixed_report(), timings=False)


def test_json_leaves_out_jacobians_above_the_size_limit():
    report = samples.passing_report()
    side = int(np.sqrt(json_report.MAX_JSON_JACOBIAN_ENTRIES)) + 1
    big = np.ones((side, side))
    runs = tuple(replace(r, jacobian=big, error=big if r.error is not None else None) for r in report.runs)
    data = json_report.report_dict(replace(report, runs=runs), timings=False)
    assert data["jacobians"] == {}
    assert data["fd_error"] is None


# --- the check object -------------------------------------------------------------------------------


def case_of(target: str) -> Case:
    path, _, attribute = target.partition(":")
    return Case(target=target, file=Path(path), attribute=attribute, origin="pyproject.toml", name=target)


def test_check_json_exact_for_a_hand_made_check(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    mixed, broken = samples.mixed_report(), samples.nothing_checked_report()
    result = CheckResult(
        results=(CaseResult(case_of(mixed.target), mixed, 4.5),
                 CaseResult(case_of(broken.target), broken, 0.5, broken="no AD backend could run the function")),
        fail_on=FailOn.DISAGREE,
        failures=(Failure(mixed.target, "autograd", "disagree"), Failure(mixed.target, "jax-rev", "error")),
        baselined=(Failure(mixed.target, "autograd", "disagree"),),
        fixed=(("pkg/old.py:f", "jax-fwd"),),
        baseline=tmp_path / ".adcheck-baseline.json",
    )
    data = strict_loads(json_report.render_check(result, timings=False))
    jsonschema.validate(data, CHECK_SCHEMA)
    assert {key: value for key, value in data.items() if key != "cases"} == {
        "schema": 2,
        "verdict": "broken",  # a case that could not run outranks a failure (exit 2)
        "fail_on": "disagree",
        "failures": [{"case": "pkg/model.py:f", "subject": "autograd", "status": "disagree", "baselined": True},
                     {"case": "pkg/model.py:f", "subject": "jax-rev", "status": "error", "baselined": False}],
        "broken": [{"case": "pkg/model.py:h", "message": "no AD backend could run the function"}],
        "interrupted": [],
        "baseline": {"path": ".adcheck-baseline.json",
                     "no_longer_failing": [{"case": "pkg/old.py:f", "subject": "jax-fwd"}]},
    }
    assert data["cases"] == [json_report.report_dict(mixed, timings=False),
                             json_report.report_dict(broken, timings=False)]


@pytest.mark.parametrize(("exit_code", "stopped", "verdict"), [
    (ExitCode.OK, False, "pass"), (ExitCode.FAILED, False, "fail"), (ExitCode.INTERRUPTED, True, "interrupted")])
def test_check_json_verdict_follows_the_exit_code(exit_code, stopped, verdict):
    report = samples.mixed_report()
    failures = (Failure(report.target, "autograd", "disagree"),) if exit_code == ExitCode.FAILED else ()
    result = CheckResult(results=(CaseResult(case_of(report.target), report, 1.0),), fail_on=FailOn.ERROR,
                         failures=failures, stopped=stopped, interrupted=("pkg/model.py:g",) if stopped else ())
    assert result.exit_code == exit_code
    data = json_report.check_dict(result, timings=False)
    jsonschema.validate(data, CHECK_SCHEMA)
    assert (data["verdict"], data["fail_on"], data["baseline"]["path"]) == (verdict, "error", None)
    assert data["interrupted"] == (["pkg/model.py:g"] if stopped else [])


# --- end to end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("timings", [True, False])
def test_check_json_of_the_sample_project(timings):
    result = samples.check_sample("json", *([] if timings else ["--no-timings"]))
    assert result.exit_code == ExitCode.FAILED, result.stderr
    data = strict_loads(result.stdout)
    jsonschema.validate(data, CHECK_SCHEMA)
    assert data["verdict"] == "fail"
    assert [(c["target"], c["verdict"]) for c in data["cases"]] == [("funcs.py:good", "pass"),
                                                                    ("funcs.py:bad", "fail")]
    assert [[(b["name"], b["status"]) for b in c["backends"]] for c in data["cases"]] == [
        [("fd", "reference"), ("autograd", "agree")], [("fd", "reference"), ("autograd", "disagree")]]
    assert data["failures"] == [{"case": "funcs.py:bad", "subject": "autograd", "status": "disagree",
                                 "baselined": False}]
    seconds = [b["seconds"] for c in data["cases"] for b in c["backends"]]
    assert len(seconds) == 4
    assert [s is not None for s in seconds] == [timings] * 4


def test_run_json_of_a_function_that_keeps_state():
    result = samples.run_stateful("json", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    data = strict_loads(result.stdout)
    jsonschema.validate(data, RUN_SCHEMA)
    assert data["verdict"] == "fail"
    assert backend(data, "fd")["status"] == "unusable"
    assert "ADC601" in [f["code"] for f in data["findings"] if "fd" in f["explains"]]


def test_run_json_when_no_ad_backend_can_run_the_function():
    result = samples.run_nothing_checked("json", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    data = strict_loads(result.stdout)
    jsonschema.validate(data, RUN_SCHEMA)
    assert data["verdict"] == "nothing-checked"
    assert [(b["name"], b["status"]) for b in data["backends"]] == [("fd", "reference"),
                                                                    ("autograd", "not-applicable")]


def test_json_text_is_json_dumps_indented_with_each_matrix_row_on_one_line():
    matrix = json_report._matrix(np.array([[1.0, np.nan], [-np.inf, 2.5e-300]]))
    data = {"schema": 2, "name": "d f[0] / d x[\u00e9]", "empty": {}, "none": [], "flags": [True, False, None],
            "count": 3, 7: "a key that is no string", "jacobian": matrix, "nested": [{"m": json_report._matrix(
                np.zeros((0, 2)))}, json_report._Rows([1.5, 2.0])]}
    text = json_report.dumps(data)
    assert json.loads(text) == json.loads(json.dumps(data))
    assert '  "jacobian": [\n    [1.0, "NaN"],\n    ["-Infinity", 2.5e-300]\n  ],\n' in text
    assert text.replace('"jacobian": [\n    [1.0, "NaN"],\n    ["-Infinity", 2.5e-300]\n  ]', '"jacobian": M') == \
        json.dumps({**data, "jacobian": "M"}, indent=2).replace('"jacobian": "M"', '"jacobian": M')


def test_check_json_written_ahead_is_the_text_written_at_the_end(monkeypatch, tmp_path):
    """``adcheck check`` writes each case's object as the case ends (``RenderedAhead``): the
    document is the one written all at once, and no case is written twice."""
    from adcheck.report import RenderedAhead

    monkeypatch.chdir(tmp_path)
    mixed, kink, broken = samples.mixed_report(), samples.kink_report(), samples.nothing_checked_report()
    result = CheckResult(
        results=tuple(CaseResult(case_of(r.target), r, 1.0) for r in (mixed, kink, broken)),
        fail_on=FailOn.DISAGREE, failures=(Failure(mixed.target, "autograd", "disagree"),))
    written = []

    def case_text(report):
        written.append(report.target)
        return json_report.case_text(report, timings=False)

    ahead = RenderedAhead(case_text)
    for case in result.results[:2]:  # the third case's text was not written ahead: it is written when asked
        ahead.add(case.report)
    text = json_report.render_check(result, timings=False, case=ahead)
    assert text == json_report.render_check(result, timings=False)
    assert strict_loads(text) == strict_loads(json.dumps(json_report.check_dict(result, timings=False), indent=2))
    assert written == [mixed.target, kink.target, broken.target]
    # a different report object with the same target is not mistaken for the one written ahead
    other = replace(mixed, notes=("a note only this copy has",))
    assert "a note only this copy has" in ahead(other)
