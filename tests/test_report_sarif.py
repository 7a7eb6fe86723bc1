"""``--format sarif``: SARIF 2.1.0 for code scanning, validated against the shape of the standard
(the parts adcheck writes) and compared exactly, with rule descriptors from ``adcheck.lint.RULES``.

Hand-made reports (``report_samples``) carry exact numbers, so each result is compared whole; the
CLI checks at the end run fixtures and assert rules, levels, locations and exit codes.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import jsonschema
import pytest

import report_samples as samples
from adcheck import __version__
from adcheck.errors import ExitCode
from adcheck.lint import RULES
from adcheck.model import Finding
from adcheck.report import sarif

# The parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json) that adcheck writes, with the
# constraints GitHub code scanning adds (a location with a line on every result).
MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string", "minLength": 1}}}
LEVEL = {"enum": ["none", "note", "warning", "error"]}
LOCATION = {
    "type": "object", "required": ["physicalLocation"],
    "properties": {"physicalLocation": {
        "type": "object", "required": ["artifactLocation", "region"], "additionalProperties": False,
        "properties": {
            "artifactLocation": {"type": "object", "required": ["uri"], "additionalProperties": False,
                                 "properties": {"uri": {"type": "string", "minLength": 1, "pattern": r"^[^\\]*$"}}},
            "region": {"type": "object", "required": ["startLine"], "additionalProperties": False,
                       "properties": {"startLine": {"type": "integer", "minimum": 1},
                                      "startColumn": {"type": "integer", "minimum": 1}}},
        }}},
}
RULE = {
    "type": "object", "required": ["id", "name", "shortDescription", "defaultConfiguration"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string"}, "name": {"type": "string", "minLength": 1},
        "shortDescription": MESSAGE, "fullDescription": MESSAGE,
        "help": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"},
                                                                       "markdown": {"type": "string"}}},
        "defaultConfiguration": {"type": "object", "required": ["level"], "properties": {"level": LEVEL}},
    },
}
RESULT = {
    "type": "object", "required": ["ruleId", "ruleIndex", "level", "message", "locations", "properties"],
    "additionalProperties": False,
    "properties": {
        "ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": 0}, "level": LEVEL,
        "message": MESSAGE, "locations": {"type": "array", "minItems": 1, "items": LOCATION},
        "properties": {"type": "object", "required": ["case"]},
    },
}
SARIF_SCHEMA = {
    "type": "object", "required": ["version", "$schema", "runs"], "additionalProperties": False,
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "pattern": r"sarif-2\.1\.0\.json$"},
        "runs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
            "type": "object", "required": ["tool", "results"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {"driver": {
                    "type": "object", "required": ["name", "version", "rules"],
                    "properties": {"name": {"const": "adcheck"}, "version": {"type": "string"},
                                   "rules": {"type": "array", "items": RULE}}}}},
                "results": {"type": "array", "items": RESULT},
            },
        }},
    },
}


def assert_valid_sarif(data: dict) -> dict:
    jsonschema.validate(data, SARIF_SCHEMA)
    run = data["runs"][0]
    rule_ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted(set(rule_ids))
    assert set(rule_ids) == {r["ruleId"] for r in run["results"]} | {"disagreement"}
    for result in run["results"]:
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
    return run


def results_of(reports) -> list[tuple]:
    """(rule, level, properties, message) of each result."""
    run = assert_valid_sarif(sarif.sarif_dict(reports))
    return [(r["ruleId"], r["level"], r["properties"], r["message"]["text"]) for r in run["results"]]


def descriptors(reports) -> dict[str, dict]:
    return {rule["id"]: rule for rule in sarif.sarif_dict(reports)["runs"][0]["tool"]["driver"]["rules"]}


SEVERITY_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def lint_rule_descriptor(code: str) -> dict:
    """What the descriptor of lint rule ``code`` must say: its catalog entry, word for word."""
    rule = RULES[code]
    help_text = (f"### What it does\n\n{rule.what_it_does}\n\n### Why is this bad?\n\n{rule.why_bad}\n\n"
                 f"### Example\n\n```python\n{rule.example}\n```\n\n"
                 f"### Use instead\n\n```python\n{rule.use_instead}\n```")
    return {"id": code, "name": rule.name, "shortDescription": {"text": rule.summary},
            "defaultConfiguration": {"level": SEVERITY_LEVEL[str(rule.severity)]},
            "fullDescription": {"text": rule.what_it_does}, "help": {"text": help_text, "markdown": help_text}}


@pytest.mark.parametrize("name", list(samples.ALL_REPORTS))
def test_every_sample_report_is_valid_sarif(name):
    report = samples.ALL_REPORTS[name]()
    text = sarif.render([report], timings=True)
    assert sarif.render([report], timings=False) == text  # no timings in SARIF
    data = json.loads(text)
    assert_valid_sarif(data)
    assert data["runs"][0]["tool"]["driver"]["version"] == __version__


def test_sarif_lint_rule_descriptors_come_from_the_rule_catalog():
    rules = descriptors([samples.mixed_report()])
    assert list(rules) == ["ADC105", "ADC501", "ADC605", "backend-error", "disagreement"]
    for code in ("ADC105", "ADC501", "ADC605"):
        assert rules[code] == lint_rule_descriptor(code)
    assert rules["ADC605"]["defaultConfiguration"] == {"level": "note"}  # an info rule
    assert rules["disagreement"] == {
        "id": "disagreement", "name": "JacobianDisagreement",
        "shortDescription": {"text": "An automatic derivative disagrees with the finite-difference reference "
                                     "beyond its error bar."},
        "defaultConfiguration": {"level": "error"}}


def test_sarif_describes_every_runtime_rule_too():
    # ADC6xx are found at run time, not by the lint; code scanning needs their descriptors all the same.
    rules = descriptors([samples.unusable_report(), samples.nan_report()])
    for code in ("ADC601", "ADC604", "ADC101", "ADC302"):
        assert rules[code] == lint_rule_descriptor(code)


def test_sarif_describes_a_code_missing_from_the_catalog_without_failing():
    report = samples.passing_report()
    report = replace(report, findings=(Finding("ADC999", "warning", "pkg/model.py", 3, 1, "a future rule"),))
    assert descriptors([report])["ADC999"] == {
        "id": "ADC999", "name": "ADC999", "shortDescription": {"text": "adcheck lint rule ADC999"},
        "defaultConfiguration": {"level": "warning"}}


def test_sarif_disagreement_error_and_findings():
    assert results_of([samples.mixed_report()]) == [
        ("disagreement", "error", {"case": "pkg/model.py:f", "backend": "autograd"},
         "pkg/model.py:f: autograd disagrees with finite differences: 1 of 4 entries outside tolerance; worst entry "
         "d f[0] / d x[1]: autograd (actual) 2.5, fd (desired) 0.5 ± 1.0e-12; likely causes: ADC501"),
        ("backend-error", "error", {"case": "pkg/model.py:f", "backend": "jax-rev"},
         "pkg/model.py:f: jax-rev failed at pkg/model.py:13: TypeError: bad, with: punctuation"),
        ("ADC501", "warning", {"case": "pkg/model.py:f", "explains": ["autograd"]},
         "`softplus` has a user-defined derivative rule (autograd defvjp): autograd uses the rule"),
        ("ADC105", "error", {"case": "pkg/model.py:f", "explains": []}, "in-place update of an argument: x[0] += 1"),
        ("ADC605", "note", {"case": "pkg/model.py:f", "explains": []}, "input 0 was int64, promoted to float64"),
    ]
    results = sarif.sarif_dict([samples.mixed_report()])["runs"][0]["results"]
    assert [r["locations"] for r in results[1:3]] == [
        [{"physicalLocation": {"artifactLocation": {"uri": "pkg/model.py"}, "region": {"startLine": 12}}}],
        [{"physicalLocation": {"artifactLocation": {"uri": "pkg/model.py"},
                               "region": {"startLine": 20, "startColumn": 5}}}],
    ]


def test_sarif_kink_is_not_a_result_but_its_finding_is():
    assert results_of([samples.kink_report()]) == [
        ("ADC301", "note", {"case": "pkg/kinks.py:absolute", "explains": ["autograd", "jax-fwd"]},
         "`np.abs` is not differentiable at 0")]


def test_sarif_inconclusive_is_a_warning_listing_each_unverified_entry_with_its_evidence():
    assert results_of([samples.inconclusive_report()]) == [
        ("inconclusive", "warning", {"case": "pkg/model.py:g", "backend": "autograd"},
         f"pkg/model.py:g: autograd: {samples.INCONCLUSIVE_MESSAGE}\n"
         f"unverified entry d g[0] / d x[0]: autograd 0.75; {samples.EVIDENCE_00}\n"
         f"unverified entry d g[1] / d x[0]: autograd 3; {samples.EVIDENCE_10}")]


def test_sarif_unusable_reference_is_an_impure_function_error_naming_adc601():
    case = "pkg/state.py:shared_cumprod"
    assert results_of([samples.unusable_report()]) == [
        ("impure-function", "error", {"case": case, "backend": "fd"},
         f"{case}: {samples.UNUSABLE_MESSAGE}; likely causes: ADC601, ADC101"),
        ("inconclusive", "warning", {"case": case, "backend": "autograd"},
         f"{case}: autograd: {samples.NO_REFERENCE_MESSAGE}"),
        ("inconclusive", "warning", {"case": case, "backend": "jax-fwd"},
         f"{case}: jax-fwd: {samples.NO_REFERENCE_MESSAGE}"),
        ("ADC601", "error", {"case": case, "explains": ["fd"]},
         "two identical calls return different values: output 0 is 1, then 2 in a second call"),
        ("ADC101", "error", {"case": case, "explains": ["fd"]},
         "`self.a` writes an attribute of module-level instance `ACC`, which outlives the call"),
    ]


def test_sarif_nothing_checked_is_an_error_with_each_reason():
    assert results_of([samples.nothing_checked_report()]) == [
        ("nothing-checked", "error", {"case": "pkg/model.py:h"},
         "pkg/model.py:h: no AD backend could run the function, so nothing was checked (autograd: autograd is not "
         "installed (pip install autograd); torch-fwd: torch-fwd cannot run numpy code (it runs torch, array-api))")]
    assert descriptors([samples.nothing_checked_report()])["nothing-checked"]["defaultConfiguration"] == {
        "level": "error"}


def test_sarif_nan_disagreement_shows_the_nan_entry():
    (disagreement, *findings) = results_of([samples.nan_report()])
    assert disagreement == (
        "disagreement", "error", {"case": "pkg/where.py:safe_sqrt", "backend": "jax-rev"},
        f"pkg/where.py:safe_sqrt: jax-rev disagrees with finite differences: {samples.NAN_MESSAGE}; worst entry "
        "d safe_sqrt[0] / d x[0]: jax-rev (actual) nan, fd (desired) 0 ± 1.0e-12; likely causes: ADC604, ADC302")
    assert [f[:2] for f in findings] == [("ADC604", "error"), ("ADC302", "error")]


def test_sarif_second_order_failures():
    assert results_of([samples.second_order_report()]) == [
        ("disagreement", "error", {"case": "pkg/rules.py:loss", "backend": "jax-fwd (second order)"},
         f"pkg/rules.py:loss: jax-fwd second derivative {samples.SECOND_ORDER_MESSAGE}; worst entry "
         "d2 loss / d x[1] d x[1]: jax-fwd (actual) 1, fd (desired) 0.25 ± 1.0e-11; likely causes: ADC501"),
        ("backend-error", "error", {"case": "pkg/rules.py:loss", "backend": "jax-rev (second order)"},
         f"pkg/rules.py:loss: jax-rev second derivative failed: {samples.SECOND_ORDER_ERROR}"),
        ("ADC501", "warning", {"case": "pkg/rules.py:loss", "explains": []},
         "`frozen_sin` has a user-defined derivative rule (jax.custom_jvp): jax-fwd, jax-rev use the rule instead "
         "of differentiating the code"),
    ]


def test_sarif_keeps_a_finding_two_cases_share_once_and_each_case_s_failures():
    first = samples.mixed_report()
    second = replace(first, target="pkg/model.py:f[2]")
    results = results_of([first, second])
    assert [(rule, props.get("case")) for rule, _, props, _ in results] == [
        ("disagreement", "pkg/model.py:f"), ("backend-error", "pkg/model.py:f"),
        ("ADC501", "pkg/model.py:f"), ("ADC105", "pkg/model.py:f"), ("ADC605", "pkg/model.py:f"),
        ("disagreement", "pkg/model.py:f[2]"), ("backend-error", "pkg/model.py:f[2]"),
    ]


def test_sarif_uris_use_forward_slashes():
    report = replace(samples.passing_report(),
                     findings=(Finding("ADC105", "error", "pkg\\sub\\model.py", 3, 1, "mutates x"),))
    (result,) = sarif.sarif_dict([report])["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pkg/sub/model.py"


# --- end to end ---------------------------------------------------------------------------------------


def test_check_sarif_of_the_sample_project():
    result = samples.check_sample("sarif", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    run = assert_valid_sarif(json.loads(result.stdout))
    disagreements = [r for r in run["results"] if r["ruleId"] == "disagreement"]
    assert len(disagreements) == 1
    assert disagreements[0]["properties"] == {"case": "funcs.py:bad", "backend": "autograd"}
    assert disagreements[0]["locations"] == [{"physicalLocation": {"artifactLocation": {"uri": "funcs.py"},
                                                                   "region": {"startLine": samples.BAD_DEF_LINE}}}]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert rules["ADC501"] == lint_rule_descriptor("ADC501")
    assert {r["ruleId"] for r in run["results"]} == {"disagreement", "ADC501"}


def test_run_sarif_of_a_function_that_keeps_state():
    result = samples.run_stateful("sarif", "--no-timings")
    assert result.exit_code == ExitCode.FAILED, result.stderr
    run = assert_valid_sarif(json.loads(result.stdout))
    (impure,) = [r for r in run["results"] if r["ruleId"] == "impure-function"]
    assert (impure["level"], impure["properties"]["backend"]) == ("error", "fd")
    assert re.search(r"likely causes: .*ADC601", impure["message"]["text"])
    assert impure["locations"][0]["physicalLocation"]["region"] == {"startLine": samples.STATEFUL_DEF_LINE}
    assert "ADC601" in {r["ruleId"] for r in run["results"]}


def test_run_sarif_when_no_ad_backend_can_run_the_function():
    result = samples.run_nothing_checked("sarif", "--no-timings")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    run = assert_valid_sarif(json.loads(result.stdout))
    (nothing,) = [r for r in run["results"] if r["ruleId"] == "nothing-checked"]
    assert nothing["level"] == "error"
    assert "autograd: autograd cannot run torch code" in nothing["message"]["text"]


def test_sarif_result_of_a_function_without_a_source_points_at_its_file():
    # A function that never loaded has no def line; a result without a location would be dropped
    # by code scanning, so it points at the target's file.
    report = replace(samples.mixed_report(), source=None)
    results = sarif.sarif_dict([report])["runs"][0]["results"]
    assert results[0]["ruleId"] == "disagreement"
    assert results[0]["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "pkg/model.py"}, "region": {"startLine": 1}}}]
    module_target = replace(report, target="pkg.model:f")  # no file to point at
    assert sarif.sarif_dict([module_target])["runs"][0]["results"][0]["locations"] == []
