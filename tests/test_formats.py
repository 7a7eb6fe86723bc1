"""Report formats: junit, github, sarif, markdown and the ``check`` JSON, validated and compared literally."""

from __future__ import annotations

import importlib
import json
import re
import sys
import types
import xml.etree.ElementTree as ET
from contextlib import chdir as in_directory
from dataclasses import dataclass

import jsonschema
import numpy as np
import pytest

from adcheck.check import CheckOptions, result_dict, run_check
from adcheck.config import load_project
from adcheck.model import BackendRun, BackendVerdict, Comparison, EntryMismatch, Finding, Location, RunReport, Status
from adcheck.report import FORMATS, github, junit, markdown, sarif
from conftest import FIXTURES

SAMPLE = FIXTURES / "sample_project"
BAD_DEF_LINE = next(i for i, line in enumerate((SAMPLE / "funcs.py").read_text().splitlines(), 1)
                    if line.startswith("def bad("))




@pytest.fixture(scope="module")
def sample_result():
    """One check of the sample project, shared by every format test."""
    with in_directory(SAMPLE):
        return run_check(load_project(), CheckOptions())


@pytest.fixture(scope="module")
def sample_reports(sample_result):
    return sample_result.reports


# --- a hand-made report: every status and finding kind, exact expected text ---------------------------


def synthetic_report() -> RunReport:
    fd_jacobian = np.array([[1.0, 0.5], [0.0, 2.0]])
    mismatch = EntryMismatch(row=0, col=1, value=2.5, reference=0.5, reference_error=1e-12, abs_error=2.0, rel_error=4.0)
    verdicts = (
        BackendVerdict("fd", Status.REFERENCE, 0.04),
        BackendVerdict("autograd", Status.DISAGREE, 1.25, message="1 of 4 entries outside tolerance",
                       max_abs_error=2.0, max_rel_error=4.0, worst_entry=(0, 1), mismatches=(mismatch,),
                       n_mismatches=1),
        BackendVerdict("jax-fwd", Status.AGREE, 2.5, max_abs_error=0.0, max_rel_error=0.0, worst_entry=(0, 0)),
        BackendVerdict("jax-rev", Status.ERROR, 0.5, message="TypeError: bad, with: punctuation",
                       location=Location("pkg/model.py", 13)),
        BackendVerdict("torch-fwd", Status.NOT_APPLICABLE, 0.0, message="torch-fwd cannot run numpy code"),
    )
    runs = (
        BackendRun("fd", Status.REFERENCE, 0.04, jacobian=fd_jacobian, error=np.full((2, 2), 1e-12)),
        BackendRun("autograd", Status.COMPUTED, 1.25, jacobian=np.array([[1.0, 2.5], [0.0, 2.0]])),
        BackendRun("jax-fwd", Status.COMPUTED, 2.5, jacobian=fd_jacobian),
        BackendRun("jax-rev", Status.ERROR, 0.5, message="TypeError: bad, with: punctuation"),
        BackendRun("torch-fwd", Status.NOT_APPLICABLE, message="torch-fwd cannot run numpy code"),
    )
    findings = (
        Finding("ADC201", "error", "pkg/model.py", 20, 5, "the VJP of softplus drops a minus sign",
                explains=("autograd",)),
        Finding("ADC101", "warning", "pkg/model.py", 14, 9, "in-place update of an argument: x[0] += 1"),
        Finding("ADC900", "info", "pkg/model.py", 15, 1, "a remark nobody needs"),
    )
    return RunReport(target="pkg/model.py:f", arguments=(), output_shapes=((2,),), framework="numpy", runs=runs,
                     comparison=Comparison(verdicts=verdicts, odd_one_out=("autograd",),
                                           consensus="autograd is the odd one out"),
                     findings=findings, source=Location("pkg/model.py", 12))


def test_every_format_module_renders_a_list_of_reports():
    for name in FORMATS:
        if name in ("table", "json"):
            continue  # single-report renderers; check wraps them in the CLI
        module = importlib.import_module(f"adcheck.report.{name}")
        assert isinstance(module.render([synthetic_report()], timings=False), str)


def test_github_synthetic_report_exact_text():
    assert github.render([synthetic_report()], timings=True) == (
        "::error file=pkg/model.py,line=12,title=adcheck%3A autograd disagrees::pkg/model.py:f: autograd disagrees "
        "with finite differences: 1 of 4 entries outside tolerance; worst entry (out 0, in 1): autograd (actual) 2.5, "
        "fd (desired) 0.5 ± 1.0e-12; likely causes: ADC201\n"
        "::error file=pkg/model.py,line=12,title=adcheck%3A jax-rev error::pkg/model.py:f: jax-rev failed at "
        "pkg/model.py:13: TypeError: bad, with: punctuation\n"
        "::error file=pkg/model.py,line=20,col=5,title=adcheck ADC201::ADC201 the VJP of softplus drops a minus sign\n"
        "::warning file=pkg/model.py,line=14,col=9,title=adcheck ADC101::ADC101 in-place update of an argument: "
        "x[0] += 1"
    )


def test_github_escapes_newlines_and_property_separators():
    assert github.command("error", "50% done\nnext", file="a,b:c.py", line=3, title="t") == \
        "::error file=a%2Cb%3Ac.py,line=3,title=t::50%25 done%0Anext"


def test_markdown_synthetic_report_exact_text():
    assert markdown.render([synthetic_report()], timings=False) == """\
### adcheck: 1 of 1 case failed

| case | backend | status | max abs err | max rel err | worst entry | likely causes |
|---|---|---|---|---|---|---|
| `pkg/model.py:f` | autograd | ❌ disagree | 2 | 4 | (0, 1) | `ADC201` |
| `pkg/model.py:f` | jax-fwd | ✅ agree | 0 | 0 | (0, 0) | - |
| `pkg/model.py:f` | jax-rev | ❌ error | - | - | - | - |
| `pkg/model.py:f` | torch-fwd | ➖ not applicable | - | - | - | - |

<details><summary><code>pkg/model.py:f</code>: autograd disagree</summary>

```
entry (out, in)    autograd (actual)    fd (desired)    fd error    jax-fwd
-----------------  -------------------  --------------  ----------  ---------
(0, 1)             2.5                  0.5             ±1.0e-12    0.5
```

Likely causes:

- `pkg/model.py:20:5: ADC201 the VJP of softplus drops a minus sign`

</details>

<details><summary><code>pkg/model.py:f</code>: jax-rev error</summary>

jax-rev failed at `pkg/model.py:13`: TypeError: bad, with: punctuation

</details>"""


def test_markdown_timings_add_a_seconds_column():
    text = markdown.render([synthetic_report()], timings=True)
    assert "| likely causes | seconds |" in text
    assert "| `pkg/model.py:f` | autograd | ❌ disagree | 2 | 4 | (0, 1) | `ADC201` | 1.25 |" in text


def test_junit_synthetic_report_statuses():
    root = ET.fromstring(junit.render([synthetic_report()], timings=True))
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped", "time")} == \
        {"tests": "4", "failures": "1", "errors": "1", "skipped": "1", "time": "4.250"}
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert list(cases) == ["autograd", "jax-fwd", "jax-rev", "torch-fwd"]
    failure = cases["autograd"].find("failure")
    assert failure.get("message") == "autograd: 1 of 4 entries outside tolerance"
    assert "(0, 1)             2.5                  0.5" in failure.text
    assert "Likely causes:\n  pkg/model.py:20:5: ADC201 the VJP of softplus drops a minus sign" in failure.text
    assert cases["jax-rev"].find("error").get("message") == "TypeError: bad, with: punctuation"
    assert cases["torch-fwd"].find("skipped") is not None
    assert cases["jax-fwd"].find("failure") is None


@dataclass(frozen=True)
class FakeRule:
    code: str
    name: str
    severity: str
    summary: str


def test_sarif_takes_rule_metadata_from_the_lint_rules(monkeypatch):
    module = types.ModuleType("adcheck.explain.rules")
    module.RULES = {"ADC201": FakeRule("ADC201", "wrong-vjp-sign", "error", "A VJP rule has the wrong sign.")}
    monkeypatch.setitem(sys.modules, "adcheck.explain.rules", module)
    data = sarif.sarif_dict([synthetic_report()])
    rules = {r["id"]: r for r in data["runs"][0]["tool"]["driver"]["rules"]}
    assert list(rules) == ["ADC101", "ADC201", "ADC900", "backend-error", "disagreement"]
    assert rules["ADC201"]["name"] == "wrong-vjp-sign"
    assert rules["ADC201"]["shortDescription"]["text"] == "A VJP rule has the wrong sign."
    assert rules["ADC201"]["defaultConfiguration"]["level"] == "error"
    results = data["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("disagreement", "error"), ("backend-error", "error"),
        ("ADC201", "error"), ("ADC101", "warning"), ("ADC900", "note")]
    finding = results[2]["locations"][0]["physicalLocation"]
    assert finding == {"artifactLocation": {"uri": "pkg/model.py"}, "region": {"startLine": 20, "startColumn": 5}}
    for result in results:
        assert data["runs"][0]["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_without_lint_rules_still_describes_every_rule(monkeypatch):
    monkeypatch.setitem(sys.modules, "adcheck.explain.rules", None)  # import fails
    data = sarif.sarif_dict([synthetic_report()])
    rules = data["runs"][0]["tool"]["driver"]["rules"]
    assert all(r["shortDescription"]["text"] for r in rules)


# --- the sample project's real run in every format ------------------------------------------------------


def assert_valid_sarif(data: dict) -> None:
    assert data["version"] == "2.1.0"
    assert data["$schema"].endswith("sarif-2.1.0.json")
    assert data["runs"]
    for run in data["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"] == "adcheck"
        rule_ids = [r["id"] for r in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids))
        for rule in driver["rules"]:
            assert rule["shortDescription"]["text"]
        for result in run["results"]:
            assert result["ruleId"] in rule_ids
            assert result["message"]["text"]
            assert result["level"] in ("error", "warning", "note", "none")
            assert result["locations"]
            for location in result["locations"]:
                physical = location["physicalLocation"]
                assert physical["artifactLocation"]["uri"]
                assert physical["region"]["startLine"] >= 1


def test_sarif_sample_project(sample_reports):
    data = json.loads(sarif.render(sample_reports, timings=False))
    assert_valid_sarif(data)
    disagreements = [r for r in data["runs"][0]["results"] if r["ruleId"] == "disagreement"]
    assert len(disagreements) == 1
    assert disagreements[0]["properties"] == {"case": "funcs.py:bad", "backend": "autograd"}
    region = disagreements[0]["locations"][0]["physicalLocation"]
    assert region == {"artifactLocation": {"uri": "funcs.py"}, "region": {"startLine": BAD_DEF_LINE}}


def test_junit_sample_project(sample_reports):
    root = ET.fromstring(junit.render(sample_reports, timings=True))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    good, bad = suite.findall("testcase")
    assert (good.get("classname"), good.get("name")) == ("funcs.py:good", "autograd")
    assert good.find("failure") is None
    assert (bad.get("classname"), bad.get("name")) == ("funcs.py:bad", "autograd")
    assert "entry (out, in)" in bad.find("failure").text
    assert float(bad.get("time")) >= 0
    assert "time=" not in junit.render(sample_reports, timings=False)


GITHUB_LINE = re.compile(r"^::(error|warning|notice) file=[^,:]+,line=\d+(,col=\d+)?,title=[^:]+::\S.*$")


def test_github_sample_project(sample_reports):
    lines = github.render(sample_reports, timings=False).splitlines()
    assert lines
    assert all(GITHUB_LINE.match(line) for line in lines), lines
    assert lines[0].startswith(f"::error file=funcs.py,line={BAD_DEF_LINE},title=adcheck%3A autograd disagrees::"
                               "funcs.py:bad: autograd disagrees")
    assert not any("funcs.py:good" in line for line in lines)


def test_markdown_sample_project(sample_reports):
    lines = markdown.render(sample_reports, timings=False).splitlines()
    assert lines[0] == "### adcheck: 1 of 2 cases failed"
    assert lines[2] == "| case | backend | status | max abs err | max rel err | worst entry | likely causes |"
    assert lines[3] == "|---|---|---|---|---|---|---|"
    assert lines[4].startswith("| `funcs.py:good` | autograd | ✅ agree |")
    assert lines[5].startswith("| `funcs.py:bad` | autograd | ❌ disagree |")
    assert all(line.count("|") == 8 for line in lines[2:6])


NUMBER_OR_NULL = {"type": ["number", "null"]}
RUN_SCHEMA = {
    "type": "object",
    "required": ["schema", "target", "verdict", "framework", "inputs", "odd_one_out", "consensus", "backends",
                 "jacobians", "fd_error", "findings", "notes"],
    "properties": {
        "schema": {"const": 1},
        "target": {"type": "string"},
        "verdict": {"enum": ["pass", "fail"]},
        "inputs": {"type": "array", "items": {
            "type": "object", "required": ["index", "shape", "dtype", "differentiated", "promoted_from"]}},
        "backends": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["name", "status", "max_abs_error", "max_rel_error", "worst_entry", "seconds", "message",
                         "location", "mismatches"],
            "properties": {
                "status": {"enum": [str(s) for s in Status if s != Status.COMPUTED]},
                "max_abs_error": NUMBER_OR_NULL,
                "max_rel_error": NUMBER_OR_NULL,
                "seconds": NUMBER_OR_NULL,
            },
        }},
        "findings": {"type": "array", "items": {
            "type": "object", "required": ["code", "severity", "path", "line", "col", "message", "explains"]}},
    },
}
CHECK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema", "verdict", "fail_on", "cases", "failures", "broken", "baseline"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": 1},
        "verdict": {"enum": ["pass", "fail"]},
        "fail_on": {"enum": ["disagree", "error", "warning"]},
        "cases": {"type": "array", "items": RUN_SCHEMA},
        "failures": {"type": "array", "items": {
            "type": "object", "required": ["case", "subject", "status", "baselined"], "additionalProperties": False,
            "properties": {"case": {"type": "string"}, "subject": {"type": "string"}, "status": {"type": "string"},
                           "baselined": {"type": "boolean"}}}},
        "broken": {"type": "array", "items": {"type": "object", "required": ["case", "message"]}},
        "baseline": {"type": "object", "required": ["path", "no_longer_failing"]},
    },
}


@pytest.mark.parametrize("timings", [True, False])
def test_check_json_matches_its_schema(sample_result, timings):
    from adcheck.cli import check_json

    data = json.loads(check_json(sample_result, timings=timings))
    jsonschema.validate(data, CHECK_SCHEMA)
    assert data["verdict"] == "fail"
    assert [c["target"] for c in data["cases"]] == ["funcs.py:good", "funcs.py:bad"]
    assert data["failures"] == [{"case": "funcs.py:bad", "subject": "autograd", "status": "disagree",
                                 "baselined": False}]
    seconds = [b["seconds"] for c in data["cases"] for b in c["backends"]]
    assert all((s is not None) == timings for s in seconds)


def test_check_json_equals_result_dict(sample_result):
    from adcheck.cli import check_json

    assert json.loads(check_json(sample_result, timings=False)) == result_dict(sample_result, timings=False)


def test_without_timings_no_format_mentions_seconds(sample_reports):
    for module in (junit, github, sarif, markdown):
        text = module.render(sample_reports, timings=False)
        assert "seconds" not in text and "time=" not in text, module.__name__
