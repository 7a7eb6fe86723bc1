"""``adcheck merge-reports``: one report from the reports of the shards of a check.

``adcheck check --shard K/N`` lets N CI jobs share the cases; each writes its report with
``--format json|junit|sarif --output``. This merges files of one format into one file of the
same format, as if one check had run every case: the JSON's cases, failures and verdict; the
JUnit's test cases and counts; the SARIF's results and rules.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from .errors import AdcheckError, ExitCode


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AdcheckError(f"{path}: cannot read ({exc})") from None


def kind_of(text: str, path: Path) -> str:
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return "junit"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise AdcheckError(f"{path}: neither JSON nor JUnit XML") from None
    if isinstance(data, dict) and "runs" in data and "version" in data:
        return "sarif"
    if isinstance(data, dict) and "cases" in data:
        return "json"
    raise AdcheckError(f"{path}: not an adcheck check report (--format json, junit or sarif)")


def merge(paths: list[Path]) -> tuple[str, str, int]:
    """(format, merged text, exit code): 1 when the merged reports hold a failure, else 0."""
    if not paths:
        raise AdcheckError("merge-reports needs at least one report")
    texts = [_read(p) for p in paths]
    kinds = {kind_of(t, p) for t, p in zip(texts, paths)}
    if len(kinds) != 1:
        raise AdcheckError(f"the reports are of different formats ({', '.join(sorted(kinds))}); merge one format at a time")
    kind = kinds.pop()
    return kind, *{"json": _merge_json, "junit": _merge_junit, "sarif": _merge_sarif}[kind](texts, paths)


def _merge_json(texts, paths) -> tuple[str, int]:
    reports = [json.loads(t) for t in texts]
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
        for case in tree.iter("testcase"):
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
    ET.indent(root)
    text = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")
    return text, ExitCode.FAILED if counts["failures"] or counts["errors"] else ExitCode.OK


def _merge_sarif(texts, paths) -> tuple[str, int]:
    documents = [json.loads(t) for t in texts]
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
    merged = {"version": documents[0]["version"], "$schema": documents[0].get("$schema"),
              "runs": [{"tool": {"driver": driver}, "results": results}]}
    failing = any(r.get("level") == "error" for r in results)
    return json.dumps(merged, indent=2, ensure_ascii=False), ExitCode.FAILED if failing else ExitCode.OK
