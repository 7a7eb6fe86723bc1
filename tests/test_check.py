"""``adcheck check``: every case, the exit-code policy, the baseline, parallel runs, ``lint``."""

from __future__ import annotations

import json
from dataclasses import replace
import re
import shutil
import subprocess
import sys
import textwrap
import types
from contextlib import chdir as in_directory

import pytest

from adcheck.baseline import Failure, baseline_text
from adcheck.check import CheckResult, apply_baseline, failures_of
from adcheck.errors import ConfigError, ExitCode
from adcheck.model import BackendVerdict, Comparison, Finding, RunReport, Status
from conftest import FIXTURES, REPO, invoke

SAMPLE = FIXTURES / "sample_project"




@pytest.fixture(scope="module")
def sample_check():
    """One ``adcheck check`` of the sample project (default jobs), reused by several tests."""
    with in_directory(SAMPLE):
        return invoke("check", "--no-timings")


def test_check_sample_project_fails_and_names_the_bad_case(sample_check):
    assert sample_check.exit_code == ExitCode.FAILED
    assert sample_check.stdout.endswith(
        "2 cases: 1 passed, 1 failed (--fail-on disagree)\n"
        "FAIL funcs.py:bad (autograd: disagree)\n"
    )
    assert "adcheck run funcs.py:good" in sample_check.stdout
    assert re.search(r"^PASS: autograd agrees? with finite differences$", sample_check.stdout, re.MULTILINE)


def test_check_progress_goes_to_stderr_only(sample_check):
    assert "adcheck: 2 case(s)" in sample_check.stderr
    assert re.search(r"adcheck: \[\d/2\] funcs.py:bad: FAIL", sample_check.stderr)
    assert "adcheck: [" not in sample_check.stdout


def test_check_without_timings_is_byte_identical_across_runs_and_job_counts(sample_check):
    # A second run, one case at a time: the same bytes in the same order.
    with in_directory(SAMPLE):
        again = invoke("check", "--no-timings", "-j", "1", "-q")
    assert again.exit_code == ExitCode.FAILED
    assert again.stdout == sample_check.stdout
    assert again.stderr == ""
    assert "seconds" not in again.stdout


def test_check_baseline_round_trip(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".adcheck-baseline.json"))
    with in_directory(project):
        recorded = invoke("check", "--update-baseline", "--no-timings", "-q")
    assert recorded.exit_code == ExitCode.OK
    assert "wrote 1 failure(s) to .adcheck-baseline.json" in recorded.stderr
    baseline = project / ".adcheck-baseline.json"
    assert baseline.read_text() == textwrap.dedent('''\
        {
          "failures": {
            "funcs.py:bad": {
              "autograd": "disagree"
            }
          },
          "version": 1
        }
        ''')

    # A stale entry (a case that passes now) is reported, and the known failure is accepted.
    data = json.loads(baseline.read_text())
    data["failures"]["funcs.py:good"] = {"autograd": "disagree"}
    baseline.write_text(json.dumps(data))
    with in_directory(project):
        checked = invoke("check", "--no-timings", "-q")
    assert checked.exit_code == ExitCode.OK, checked.stdout + checked.stderr
    assert checked.stdout.endswith(
        "2 cases: 2 passed, 0 failed (--fail-on disagree)\n"
        "1 known failure(s) accepted by the baseline .adcheck-baseline.json\n"
        "baseline entries that no longer fail (rerun with --update-baseline to drop them):\n"
        "  funcs.py:good (autograd)\n"
    )


DECORATED = textwrap.dedent('''\
    import numpy as np
    import adcheck


    @adcheck.case(input=[0.1, 0.2])
    def smooth(x):
        return np.tanh(x)


    @adcheck.case(input=1.0)
    def broken(x):
        raise ValueError("this function cannot be called")
''')


def test_check_decorated_cases_and_a_case_that_cannot_run(tmp_path):
    (tmp_path / "model.py").write_text(DECORATED)
    with in_directory(tmp_path):
        result = invoke("check", "model.py", "--backend", "autograd", "--no-timings", "-q", "--format", "json")
    # The case whose function raises cannot be checked at all: a usage-level error, after every report.
    assert result.exit_code == ExitCode.USAGE
    data = json.loads(result.stdout)
    assert [c["target"] for c in data["cases"]] == ["model.py:smooth", "model.py:broken"]
    assert [c["verdict"] for c in data["cases"]] == ["pass", "fail"]
    assert data["broken"][0]["case"] == "model.py:broken"
    assert "ValueError: this function cannot be called" in data["broken"][0]["message"]
    assert "BROKEN model.py:broken" in result.stderr


def test_run_accepts_every_format_and_output_writes_it_while_the_table_goes_to_stdout(tmp_path):
    junit = tmp_path / "report.xml"
    result = invoke("run", f"{SAMPLE}/funcs.py:bad", "--input", "[-1.0, 0.0, 1.5]", "--backend", "autograd",
                    "--no-timings", "--format", "junit", "--output", str(junit))
    assert result.exit_code == ExitCode.FAILED
    assert result.stdout.startswith(f"adcheck run {SAMPLE}/funcs.py:bad\n")
    assert result.stdout.endswith("FAIL: autograd\n")
    text = junit.read_text()
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="adcheck" tests="1" failures="1"')


# --- the policy and the baseline, on hand-made reports ---------------------------------------------


def report_with(*statuses: tuple[str, Status], findings=()) -> RunReport:
    verdicts = [BackendVerdict("fd", Status.REFERENCE, 0.0)] + [BackendVerdict(n, s, 0.0) for n, s in statuses]
    return RunReport(target="f.py:f", arguments=(), output_shapes=(), framework="numpy", runs=(),
                     comparison=Comparison(verdicts=tuple(verdicts)), findings=tuple(findings))


WARNING = Finding("ADC101", "warning", "f.py", 3, 5, "something suspicious")
INFO = Finding("ADC900", "info", "f.py", 4, 1, "a remark")


@pytest.mark.parametrize(("fail_on", "expected"), [
    ("error", [("jax-rev", "error")]),
    ("disagree", [("autograd", "disagree"), ("jax-rev", "error")]),
    ("inconclusive", [("autograd", "disagree"), ("jax-rev", "error"), ("torch-rev", "inconclusive")]),
    ("warning", [("autograd", "disagree"), ("jax-rev", "error"), ("torch-rev", "inconclusive"),
                 ("lint:ADC101", "warning")]),
])
def test_fail_on_levels(fail_on, expected):
    report = report_with(("autograd", Status.DISAGREE), ("jax-fwd", Status.KINK), ("jax-rev", Status.ERROR),
                         ("torch-rev", Status.INCONCLUSIVE), findings=[WARNING, INFO])
    assert [(f.subject, f.status) for f in failures_of(report, fail_on)] == expected


def test_an_impure_function_fails_from_disagree_up():
    report = report_with(("autograd", Status.INCONCLUSIVE))
    report = RunReport(**{**report.__dict__, "comparison": Comparison(
        (BackendVerdict("fd", Status.UNUSABLE, 0.0),) + report.comparison.verdicts[1:])})
    assert failures_of(report, "error") == []
    assert [(f.subject, f.status) for f in failures_of(report, "disagree")] == [("fd", "unusable")]


def test_lint_warnings_do_not_fail_by_default():
    report = report_with(("autograd", Status.AGREE), findings=[WARNING])
    assert failures_of(report) == []
    assert [f.subject for f in failures_of(report, "warning")] == ["lint:ADC101"]


def test_nothing_checked_is_not_a_failure_but_a_broken_case():
    report = report_with(("autograd", Status.UNAVAILABLE), ("jax-rev", Status.NOT_APPLICABLE))
    assert report.nothing_checked and not report.failed
    for fail_on in ("error", "disagree", "warning"):
        assert failures_of(report, fail_on) == []


def ran(*targets: str) -> tuple:
    """Case results for cases that ran (what a baseline entry's staleness is judged by)."""
    from adcheck.check import CaseResult
    from adcheck.config import Case

    return tuple(CaseResult(Case(target=t, file=None, attribute="f", origin="", name=t),
                            replace(report_with(("autograd", Status.AGREE)), target=t), 0.0) for t in targets)


def test_baseline_accepts_known_failures_and_lists_stale_entries(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(baseline_text([Failure("a.py:f", "autograd", "disagree"), Failure("b.py:g", "jax-rev", "error"),
                                   Failure("c.py:h", "jax-rev", "error")]))
    result = CheckResult(results=ran("a.py:f", "b.py:g"), fail_on="disagree",
                         failures=(Failure("a.py:f", "autograd", "disagree"), Failure("a.py:f", "jax-fwd", "disagree")))
    applied = apply_baseline(result, path)
    assert [f.key for f in applied.new_failures] == [("a.py:f", "jax-fwd")]
    # b.py:g ran and no longer fails; c.py:h did not run here (another shard's): nothing is known of it.
    assert applied.fixed == (("b.py:g", "jax-rev"),)
    assert applied.exit_code == ExitCode.FAILED


def test_baseline_text_is_sorted_and_stable():
    failures = [Failure("z.py:f", "jax-rev", "error"), Failure("a.py:f", "autograd", "disagree")]
    assert baseline_text(failures) == baseline_text(list(reversed(failures)))
    assert list(json.loads(baseline_text(failures))["failures"]) == ["a.py:f", "z.py:f"]


def test_corrupt_baseline_is_a_usage_error(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as info:
        apply_baseline(CheckResult(results=(), fail_on="disagree", failures=()), path)
    assert info.value.exit_code == ExitCode.USAGE
    assert "cannot read the baseline" in str(info.value)


# --- lint --------------------------------------------------------------------------------------


@pytest.fixture
def fake_rules(monkeypatch):
    """Stand in for the lint so the CLI wiring is tested on its own."""
    import adcheck.lint

    module = types.SimpleNamespace(specs=None)
    found = []

    def lint_paths(specs, skipped=None):
        module.specs = list(specs)
        return list(found)

    monkeypatch.setattr(adcheck.lint, "lint_paths", lint_paths)
    return module, found


def test_lint_prints_findings_sorted_and_exits_1_on_a_warning(fake_rules):
    module, found = fake_rules
    found += [Finding("ADC102", "error", "b.py", 2, 1, "second"), WARNING]
    result = invoke("lint", "f.py:f", "b.py")
    assert module.specs == ["f.py:f", "b.py"]
    assert result.stdout == "b.py:2:1: ADC102 second\nf.py:3:5: ADC101 something suspicious\n"
    assert result.exit_code == ExitCode.FAILED


def test_lint_exits_0_with_only_info_findings(fake_rules):
    _, found = fake_rules
    found.append(INFO)
    result = invoke("lint", "f.py")
    assert result.stdout == "f.py:4:1: ADC900 a remark\n"
    assert result.exit_code == ExitCode.OK


def test_python_dash_m_adcheck_works_like_adcheck():
    result = subprocess.run([sys.executable, "-m", "adcheck", "check", "--help"], capture_output=True, text=True,
                            cwd=REPO, check=False)
    assert result.returncode == 0
    assert "--fail-on [error|disagree|inconclusive|warning]" in result.stdout
    assert "--update-baseline" in result.stdout


def test_pre_commit_hook_runs_adcheck_check():
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert re.search(r"^- id: adcheck$", text, re.MULTILINE)
    assert re.search(r"^  entry: adcheck check$", text, re.MULTILINE)


def test_cases_of_one_function_run_in_one_stream_one_after_another():
    from types import SimpleNamespace

    from adcheck.check import _streams

    cases = [SimpleNamespace(run_target=name) for name in ["f"] * 3 + ["g"] * 2 + ["h"] * 2 + ["k"]]
    order = _streams(cases, 2)
    assert sorted(index for index, _ in order) == list(range(len(cases)))  # every case, once
    stream_of = {cases[index].run_target: set() for index, _ in order}
    for index, stream in order:
        stream_of[cases[index].run_target].add(stream)
    assert all(len(streams) == 1 for streams in stream_of.values())  # a function never in two streams
    for name in stream_of:  # and its cases in their own order
        indices = [index for index, _ in order if cases[index].run_target == name]
        assert indices == sorted(indices)
    first_two = {cases[index].run_target for index, _ in order[:2]}
    assert len(first_two) == 2  # the cases that start side by side are of different functions


def test_default_jobs_are_the_cpus_adcheck_may_use(monkeypatch):
    """A CI container or ``taskset`` gives adcheck fewer CPUs than the machine has: -j follows them."""
    import os

    from adcheck.check import default_jobs

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {2, 5})
    assert default_jobs() == 2
