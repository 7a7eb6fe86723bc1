"""``adcheck merge-reports``: one report from the reports of the shards of a check.

``adcheck check --shard K/N`` lets N CI jobs share the cases; each writes its report with
``--format json|junit|sarif --output``. This merges files of one format into one file of the
same format, as if one check had run every case: the JSON's cases, failures and verdict; the
JUnit's test cases and counts; the SARIF's results and rules.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from .errors import AdcheckError, ExitCode
from .report.formats import MERGEABLE


def _read(path: Path) -> str:
    from .fileio import MAX_JSON_BYTES

    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise AdcheckError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB; not an adcheck report")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdcheckError(f"{path}: cannot read ({exc})") from None


def _load_json(text: str, path: Path):
    """The JSON document, with the limits of ``fileio.read_json`` (depth, not just syntax)."""
    from .fileio import MAX_JSON_DEPTH, TOO_DEEP, json_depth

    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise AdcheckError(f"{path}: neither JSON nor JUnit XML") from None
    except RecursionError:
        data = TOO_DEEP
    if data is TOO_DEEP or json_depth(data) > MAX_JSON_DEPTH:
        raise AdcheckError(f"{path}: nested more than {MAX_JSON_DEPTH} deep; not an adcheck report")
    return data


def kind_of(text: str, path: Path) -> str:
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return "junit"
    data = _load_json(text, path)
    if isinstance(data, dict) and "runs" in data and "version" in data:
        return "sarif"
    if isinstance(data, dict) and "cases" in data:
        return "json"
    raise AdcheckError(f"{path}: not an adcheck check report (--format {', '.join(MERGEABLE)})")


# --- the shapes the reports must have (what the merge reads of them) ------------------------------

class _Shape:
    """Checks a report's value against the type the merge needs; the error names the key."""

    def __init__(self, path: Path, kind: str):
        self.path, self.kind = path, kind

    def expect(self, value, types, where: str, what: str):
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            got = "null" if value is None else type(value).__name__
            raise AdcheckError(f"{self.path}: {where}: expected {what}, got {got}; not an adcheck {self.kind} "
                               "check report")
        return value

    def items(self, data: dict, key: str, where: str, what: str) -> list:
        return self.expect(data.get(key), list, f"{where}{key}", f"a list of {what}")


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _check_json_report(data, path: Path) -> dict:
    shape = _Shape(path, "JSON")
    shape.expect(data, dict, "(top level)", "an object")
    shape.expect(data.get("schema"), int, "schema", "a schema number")
    shape.expect(data.get("fail_on"), str, "fail_on", "a policy name")
    for i, case in enumerate(shape.items(data, "cases", "", "case objects")):
        shape.expect(shape.expect(case, dict, f"cases[{i}]", "an object").get("target"), str,
                     f"cases[{i}].target", "a case name")
    for i, failure in enumerate(shape.items(data, "failures", "", "failure objects")):
        shape.expect(failure, dict, f"failures[{i}]", "an object")
        for key in ("case", "subject", "status"):
            shape.expect(failure.get(key), str, f"failures[{i}].{key}", "a string")
        shape.expect(failure.get("baselined"), bool, f"failures[{i}].baselined", "true or false")
    for i, broken in enumerate(shape.items(data, "broken", "", "objects")):
        shape.expect(shape.expect(broken, dict, f"broken[{i}]", "an object").get("case"), str,
                     f"broken[{i}].case", "a case name")
    for i, name in enumerate(shape.expect(data.get("interrupted", []), list, "interrupted", "a list of case names")):
        shape.expect(name, str, f"interrupted[{i}]", "a case name")
    baseline = shape.expect(data.get("baseline"), dict, "baseline", "an object")
    shape.expect(baseline.get("path"), (str, type(None)), "baseline.path", "a path or null")
    shape.items(baseline, "no_longer_failing", "baseline.", "objects")
    return data


def _check_sarif_report(data, path: Path) -> dict:
    shape = _Shape(path, "SARIF")
    shape.expect(data.get("version"), str, "version", "a SARIF version")
    for i, run in enumerate(shape.items(data, "runs", "", "run objects")):
        shape.expect(run, dict, f"runs[{i}]", "an object")
        tool = shape.expect(run.get("tool"), dict, f"runs[{i}].tool", "an object")
        driver = shape.expect(tool.get("driver"), dict, f"runs[{i}].tool.driver", "an object")
        for j, rule in enumerate(shape.items(driver, "rules", f"runs[{i}].tool.driver.", "rule objects")):
            shape.expect(shape.expect(rule, dict, f"runs[{i}].tool.driver.rules[{j}]", "an object").get("id"), str,
                         f"runs[{i}].tool.driver.rules[{j}].id", "a rule id")
        for j, result in enumerate(shape.items(run, "results", f"runs[{i}].", "result objects")):
            shape.expect(shape.expect(result, dict, f"runs[{i}].results[{j}]", "an object").get("ruleId"), str,
                         f"runs[{i}].results[{j}].ruleId", "a rule id")
            if result["ruleId"] not in {r["id"] for r in driver["rules"]}:
                raise AdcheckError(f"{path}: runs[{i}].results[{j}].ruleId: {result['ruleId'][:60]!r} is not among "
                                   "the run's rules; not an adcheck SARIF check report")
    return data


def merge(paths: list[Path]) -> tuple[str, str, int]:
    """(format, merged text, exit code): 1 when the merged reports hold a failure, else 0."""
    if not paths:
        raise AdcheckError("merge-reports needs at least one report")
    texts = [_read(p) for p in paths]
    kinds = {kind_of(t, p) for t, p in zip(texts, paths)}
    if len(kinds) != 1:
        raise AdcheckError(f"the reports are of different formats ({', '.join(sorted(kinds))}); merge one format at a time")
    kind = kinds.pop()
    return kind, *MERGERS[kind](texts, paths)


def _merge_json(texts, paths) -> tuple[str, int]:
    reports = [_check_json_report(_load_json(t, p), p) for t, p in zip(texts, paths)]
    schemas = {r.get("schema") for r in reports}
    if len(schemas) != 1:
        raise AdcheckError(f"the JSON reports have different schemas ({sorted(map(str, schemas))})")
    policies = {r.get("fail_on") for r in reports}
    if len(policies) != 1:
        raise AdcheckError("the shards ran with different --fail-on; merge reports of one policy")
    names = [c["target"] for r in reports for c in r["cases"]]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise AdcheckError(f"case {duplicated[0]!r} is in more than one report: are these shards of one check?")
    merged = {
        "schema": reports[0]["schema"],
        "fail_on": reports[0]["fail_on"],
        "cases": [c for r in reports for c in r["cases"]],
        "failures": [f for r in reports for f in r["failures"]],
        "broken": [b for r in reports for b in r["broken"]],
        "interrupted": [i for r in reports for i in r.get("interrupted", [])],
        "baseline": {"path": next((r["baseline"]["path"] for r in reports if r["baseline"]["path"]), None),
                     "no_longer_failing": [e for r in reports for e in r["baseline"]["no_longer_failing"]]},
    }
    new_failures = [f for f in merged["failures"] if not f["baselined"]]
    if merged["interrupted"]:
        verdict, code = "interrupted", ExitCode.INTERRUPTED
    elif merged["broken"]:
        verdict, code = "broken", ExitCode.USAGE
    elif new_failures:
        verdict, code = "fail", ExitCode.FAILED
    else:
        verdict, code = "pass", ExitCode.OK
    merged = {"schema": merged.pop("schema"), "verdict": verdict, **merged}
    return json.dumps(merged, indent=2), code


def _merge_junit(texts, paths) -> tuple[str, int]:
    root = ET.Element("testsuites", {"name": "adcheck"})
    suite = ET.SubElement(root, "testsuite", {"name": "adcheck"})
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time, timed = 0.0, False
    for text, path in zip(texts, paths):
        try:
            tree = ET.fromstring(text)
        except ET.ParseError as exc:
            raise AdcheckError(f"{path}: not valid XML ({exc})") from None
        if tree.tag not in ("testsuites", "testsuite"):
            raise AdcheckError(f"{path}: the root element is <{tree.tag[:40]}>, not <testsuites>; "
                               "not a JUnit report")
        for case in tree.iter("testcase"):
            _check_time(case.get("time"), path)
            suite.append(case)
            counts["tests"] += 1
            counts["failures"] += case.find("failure") is not None
            counts["errors"] += case.find("error") is not None
            counts["skipped"] += case.find("skipped") is not None
            if case.get("time") is not None:
                timed = True
                total_time += float(case.get("time"))
    for node in (root, suite):
        for key, value in counts.items():
            node.set(key, str(value))
        if timed:
            node.set("time", f"{total_time:.3f}")
    from .report.junit import document

    text = document(root)
    return text, ExitCode.FAILED if counts["failures"] or counts["errors"] else ExitCode.OK


def _check_time(value: str | None, path: Path) -> None:
    try:
        if value is not None and not math.isfinite(float(value)):
            raise ValueError(value)
    except ValueError:
        raise AdcheckError(f"{path}: testcase time={value[:40]!r}: expected seconds; not a JUnit report") from None


def _merge_sarif(texts, paths) -> tuple[str, int]:
    documents = [_check_sarif_report(_load_json(t, p), p) for t, p in zip(texts, paths)]
    rules: dict[str, dict] = {}
    results, seen = [], set()
    for document in documents:
        for run in document.get("runs", []):
            old_rules = run.get("tool", {}).get("driver", {}).get("rules", [])
            for rule in old_rules:
                rules.setdefault(rule["id"], rule)
            for result in run.get("results", []):
                key = json.dumps(result, sort_keys=True)
                if key not in seen:  # two shards checking one function report its lint finding once
                    seen.add(key)
                    results.append(result)
    ordered = sorted(rules)
    index = {rule_id: i for i, rule_id in enumerate(ordered)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    driver = dict(documents[0]["runs"][0]["tool"]["driver"]) if documents[0].get("runs") else {"name": "adcheck"}
    driver["rules"] = [rules[r] for r in ordered]
    run = {"tool": {"driver": driver}, "results": results}
    # A shard that was interrupted says so in an unsuccessful invocation: the merged report keeps it.
    failed_invocations = [invocation for document in documents for run_ in document["runs"]
                          for invocation in run_.get("invocations", []) or []
                          if isinstance(invocation, dict) and invocation.get("executionSuccessful") is False]
    if failed_invocations:
        run["invocations"] = failed_invocations
    merged = {"version": documents[0]["version"], "$schema": documents[0].get("$schema"), "runs": [run]}
    failing = any(r.get("level") == "error" for r in results) or bool(failed_invocations)
    return json.dumps(merged, indent=2, ensure_ascii=False), ExitCode.FAILED if failing else ExitCode.OK


# One merger per format the registry marks ``merges`` (``report.formats.FORMATS``).
MERGERS = {"json": _merge_json, "junit": _merge_junit, "sarif": _merge_sarif}
