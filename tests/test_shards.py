"""Beyond one machine: ``check --shard K/N``, ``merge-reports``, and ``pytest --adcheck -n`` (xdist)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import chdir

import pytest

from adcheck.check import shard
from adcheck.config import Case
from adcheck.errors import AdcheckError, ExitCode
from conftest import FIXTURES, REPO, invoke

SAMPLE = FIXTURES / "sample_project"


def cases(n: int) -> tuple[Case, ...]:
    return tuple(Case(target=f"f.py:f{i}", file=None, attribute=f"f{i}", origin="", name=f"f.py:f{i}")
                 for i in range(n))


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_cover_every_case_exactly_once(n):
    everything = cases(40)
    parts = [shard(everything, f"{k}/{n}") for k in range(1, n + 1)]
    names = [c.name for part in parts for c in part]
    assert sorted(names) == sorted(c.name for c in everything)
    assert len(names) == len(set(names))
    if n > 1:
        assert all(part for part in parts)  # 40 cases: no shard is empty


def test_a_shard_does_not_depend_on_the_order_cases_are_found_in():
    everything = cases(30)
    assert {c.name for c in shard(everything, "2/3")} == {c.name for c in shard(everything[::-1], "2/3")}


@pytest.mark.parametrize("spec", ["0/2", "3/2", "a/b", "1", "1/0"])
def test_a_bad_shard_is_a_usage_error(spec):
    with pytest.raises(AdcheckError, match="expected K/N"):
        shard(cases(3), spec)


@pytest.fixture
def project(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", ".adcheck-baseline.json"))
    return copy


def shard_reports(project, output_format: str, n: int = 2) -> list:
    paths = []
    with chdir(project):
        for k in range(1, n + 1):
            path = project / f"shard{k}.{output_format}"
            result = invoke("check", "--shard", f"{k}/{n}", "--format", output_format, "--output", str(path),
                            "--no-timings", "-q")
            assert result.exit_code in (ExitCode.OK, ExitCode.FAILED), result.stderr
            paths.append(path)
    return paths


def test_shards_merge_into_the_report_of_one_check(project):
    merged_path = project / "merged.json"
    with chdir(project):
        whole = invoke("check", "--format", "json", "--no-timings", "-q")
    paths = shard_reports(project, "json")
    merged = invoke("merge-reports", *map(str, paths), "--output", str(merged_path))
    assert merged.exit_code == whole.exit_code == ExitCode.FAILED
    one, both = json.loads(whole.stdout), json.loads(merged_path.read_text())
    assert sorted(c["target"] for c in both["cases"]) == sorted(c["target"] for c in one["cases"])
    assert both["verdict"] == one["verdict"] == "fail"
    assert sorted((f["case"], f["subject"]) for f in both["failures"]) == \
        sorted((f["case"], f["subject"]) for f in one["failures"])


def test_junit_and_sarif_shards_merge(project):
    junit = invoke("merge-reports", *map(str, shard_reports(project, "junit")))
    assert junit.exit_code == ExitCode.FAILED
    root = ET.fromstring(junit.stdout)
    assert root.get("tests") == str(len(list(root.iter("testcase")))) == "2"
    assert root.get("failures") == "1"
    sarif = invoke("merge-reports", *map(str, shard_reports(project, "sarif")))
    document = json.loads(sarif.stdout)
    (run,) = document["runs"]
    assert [r["ruleId"] for r in run["results"]].count("disagreement") == 1
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


def test_merging_one_case_twice_or_two_formats_is_refused(project):
    (path,) = shard_reports(project, "json", n=1)
    assert invoke("merge-reports", str(path), str(path)).exit_code == ExitCode.USAGE
    (junit,) = shard_reports(project, "junit", n=1)
    result = invoke("merge-reports", str(path), str(junit))
    assert result.exit_code == ExitCode.USAGE and "different formats" in result.stderr


def test_updating_the_baseline_from_a_shard_keeps_the_other_shards_entries(project):
    baseline = project / ".adcheck-baseline.json"
    baseline.write_text(json.dumps({"version": 1, "failures": {"elsewhere.py:f": {"jax-rev": "disagree"}}}))
    with chdir(project):
        result = invoke("check", "--update-baseline", "--shard", "1/1", "-q", "--no-timings")
    assert result.exit_code == ExitCode.OK
    recorded = json.loads(baseline.read_text())["failures"]
    assert recorded == {"elsewhere.py:f": {"jax-rev": "disagree"}, "funcs.py:bad": {"autograd": "disagree"}}


def test_pytest_xdist_runs_the_cases_in_parallel(project):
    pytest.importorskip("xdist", reason="pytest-xdist is in the test extras: pip install -e '.[test]'")
    result = subprocess.run([sys.executable, "-m", "pytest", "--adcheck", "-n", "2", "-p", "no:randomly",
                             "-p", "no:cacheprovider", "-q", str(project / "pyproject.toml")],
                            cwd=project, capture_output=True, text=True, timeout=600,
                            env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "[gw" in result.stdout or "created: 2/2 workers" in result.stdout
