"""Every mistake a user can make in an option or a file is one line and exit 2, naming what is wrong.

Options are checked before anything runs; baselines, shard reports, pyproject.toml and inputs are
read with limits (size, depth) and held to their shape, and the message names the key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import chdir as in_directory

import pytest

from adcheck.errors import ExitCode
from conftest import FIXTURES, assert_usage_error, invoke

SAMPLE = FIXTURES / "sample_project"
DEEP = 100_000  # far past Python's recursion limit


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", ".adcheck-baseline.json"))
    return root


def check(project, *args: str):
    with in_directory(project):
        return invoke("check", "--no-timings", "-q", *args)


def nested(depth: int, leaf: str = "0.5") -> str:
    return "[" * depth + leaf + "]" * depth


# --- options --------------------------------------------------------------------------------------


def test_a_memory_limit_no_rlimit_can_hold_is_a_usage_error_naming_the_option():
    result = invoke("run", f"{SAMPLE}/funcs.py:good", "--input", "[0.5]", "--memory-limit", "1e30")
    assert_usage_error(result, "--memory-limit", "1e30")


@pytest.mark.parametrize("spec", ["¹/²", "", " ", "1/", "0/2", "3/2", "1/2/3", "١/٢"])
def test_a_malformed_shard_is_a_usage_error_naming_the_option(project, spec):
    assert_usage_error(check(project, "--shard", spec), "--shard")


# --- baselines --------------------------------------------------------------------------------------

BASELINE_MISTAKES = {
    "nested 10^5 deep": '{"version": 1, "failures": ' + nested(DEEP, "") + "}",
    "nested 100 deep": '{"version": 1, "failures": ' + nested(100, "") + "}",
    "an unknown version": '{"version": 99, "failures": {}}',
    "a version that is a string": '{"version": "1", "failures": {}}',
    "an unknown key": '{"version": 1, "failures": {}, "falures": {}}',
    "a status that is not a string": '{"version": 1, "failures": {"funcs.py:bad": {"autograd": 3}}}',
}


@pytest.mark.parametrize("content", BASELINE_MISTAKES.values(), ids=BASELINE_MISTAKES.keys())
def test_a_baseline_of_the_wrong_shape_is_one_line_naming_the_file(project, content):
    (project / "known.json").write_text(content)
    result = check(project, "--baseline", "known.json")
    assert_usage_error(result, "known.json")


def test_the_message_names_the_wrong_key(project):
    (project / "known.json").write_text('{"version": 99, "failures": {}}')
    assert_usage_error(check(project, "--baseline", "known.json"), "version", "99")
    (project / "known.json").write_text('{"version": 1, "failures": {"funcs.py:bad": {"autograd": 3}}}')
    assert_usage_error(check(project, "--baseline", "known.json"), "failures.funcs.py:bad.autograd")


def test_update_baseline_refuses_a_symlink_to_a_file_that_is_not_a_baseline(project):
    notes = project / "notes.txt"
    notes.write_text("my notes, not a baseline\n")
    (project / ".adcheck-baseline.json").symlink_to(notes)
    result = check(project, "--update-baseline")
    assert_usage_error(result, ".adcheck-baseline.json", "not an adcheck baseline")
    assert notes.read_text() == "my notes, not a baseline\n"


def test_update_baseline_refuses_a_baseline_path_that_is_the_pyproject(project):
    before = (project / "pyproject.toml").read_bytes()
    result = check(project, "--update-baseline", "--baseline", "pyproject.toml")
    assert_usage_error(result, "--baseline", "pyproject.toml")
    assert (project / "pyproject.toml").read_bytes() == before


def test_update_baseline_still_writes_through_a_symlink_to_a_baseline(project, tmp_path):
    shared = tmp_path / "shared.json"
    shared.write_text('{"version": 1, "failures": {}}')
    (project / ".adcheck-baseline.json").symlink_to(shared)
    assert check(project, "--update-baseline").exit_code == ExitCode.OK
    assert (project / ".adcheck-baseline.json").is_symlink()
    assert json.loads(shared.read_text())["failures"] == {"funcs.py:bad": {"autograd": "disagree"}}


# --- merge-reports ------------------------------------------------------------------------------------

SHARD_MISTAKES = {
    "cases is a number": ('{"schema": 2, "fail_on": "disagree", "cases": 5}', "cases"),
    "a case without a target": ('{"schema": 2, "fail_on": "disagree", "cases": [{"x": 1}], "failures": [], '
                                '"broken": [], "baseline": {"path": null, "no_longer_failing": []}}', "cases[0].target"),
    "no baseline object": ('{"schema": 2, "fail_on": "disagree", "cases": [], "failures": [], "broken": []}',
                           "baseline"),
    "a failure without baselined": ('{"schema": 2, "fail_on": "disagree", "cases": [], "failures": '
                                    '[{"case": "a", "subject": "b", "status": "c"}], "broken": [], '
                                    '"baseline": {"path": null, "no_longer_failing": []}}', "failures[0].baselined"),
    "nested 10^5 deep": ('{"cases": ' + nested(DEEP, "") + "}", "nested"),
    "SARIF runs is a number": ('{"version": "2.1.0", "runs": 3}', "runs"),
    "SARIF result of an unknown rule": ('{"version": "2.1.0", "runs": [{"tool": {"driver": {"rules": []}}, '
                                        '"results": [{"ruleId": "x"}]}]}', "ruleId"),
}


@pytest.mark.parametrize("content, key", SHARD_MISTAKES.values(), ids=SHARD_MISTAKES.keys())
def test_a_shard_report_of_the_wrong_shape_is_one_line_naming_the_key(tmp_path, content, key):
    report = tmp_path / "shard.json"
    report.write_text(content)
    assert_usage_error(invoke("merge-reports", str(report)), "shard.json", key)


@pytest.mark.parametrize("content, key", [
    ('<testsuites><testcase time="abc"/></testsuites>', "time"),
    ("<a>" * 1000 + "</a>" * 1000, "<a>"),
])
def test_a_junit_shard_of_the_wrong_shape_is_one_line(tmp_path, content, key):
    report = tmp_path / "shard.xml"
    report.write_text(content)
    assert_usage_error(invoke("merge-reports", str(report)), "shard.xml", key)


# --- pyproject.toml and inputs ----------------------------------------------------------------------


@pytest.mark.parametrize("depth", [40, DEEP])
def test_a_pyproject_input_nested_too_deep_is_one_line(project, depth):
    text = (project / "pyproject.toml").read_text()
    text += f'\n[[tool.adcheck.case]]\ntarget = "funcs.py:good"\ninput = {nested(depth)}\n'
    (project / "pyproject.toml").write_text(text)
    assert_usage_error(check(project), "pyproject.toml", "nested")


@pytest.mark.parametrize("depth", [40, 5000])
def test_an_input_nested_too_deep_is_one_line(tmp_path, depth):
    (tmp_path / "x.json").write_text(nested(depth))
    for given, named in ((nested(depth), "--input"), (f"@{tmp_path / 'x.json'}", "x.json")):
        assert_usage_error(invoke("run", f"{SAMPLE}/funcs.py:good", "--input", given), named, "nested")


# --- the lint ------------------------------------------------------------------------------------------


def test_the_lint_skips_a_function_too_deep_to_walk_and_says_so(tmp_path):
    terms = " + ".join(f"np.sin(x * {i})" for i in range(1200))
    (tmp_path / "generated.py").write_text(
        "import autograd.numpy as np\n\n\ndef f(x):\n    return " + terms + "\n\n\n"
        "def g(x):\n    return np.sin(x) + x.__array__()\n")
    result = invoke("lint", str(tmp_path / "generated.py"))
    assert result.exit_code in (ExitCode.OK, ExitCode.FAILED), result.stderr
    assert "generated.py:f: not fully linted" in result.stderr
    assert "generated.py:g" not in result.stderr


# --- pytest --adcheck -------------------------------------------------------------------------------------


def test_pytest_adcheck_with_a_misspelt_config_key_is_a_usage_error(project):
    text = (project / "pyproject.toml").read_text().replace("[tool.adcheck]\n", "[tool.adcheck]\ntimout = 5\n", 1)
    (project / "pyproject.toml").write_text(text)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--adcheck"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert "tool.adcheck.timout: unknown key" in result.stderr


# --- resource limits ------------------------------------------------------------------------------------


def test_too_low_an_open_file_limit_is_one_line_naming_it():
    command = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (20, 20)); "
               "from adcheck.cli import entry_point; sys.argv = ['adcheck'] + sys.argv[1:]; entry_point()")
    result = subprocess.run([sys.executable, "-c", command, "run", f"{SAMPLE}/funcs.py:good", "--input", "[0.5]"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stderr.strip().splitlines() == [
        "adcheck: error: the open-file limit (ulimit -n) is 20; adcheck needs at least 64 (raise it with ulimit -n 1024)"]


def test_a_low_soft_open_file_limit_is_raised_and_the_run_goes_on():
    command = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (20, 4096)); "
               "from adcheck.cli import entry_point; sys.argv = ['adcheck'] + sys.argv[1:]; entry_point()")
    result = subprocess.run([sys.executable, "-c", command, "run", f"{SAMPLE}/funcs.py:good", "--input", "[0.5]",
                             "--backend", "autograd"], capture_output=True, text=True, timeout=300)
    assert result.returncode == ExitCode.OK, result.stderr
    assert "Traceback" not in result.stderr


def test_a_process_limit_leaving_too_little_room_is_one_line(monkeypatch):
    import resource

    from adcheck import limits

    if os.geteuid() == 0:
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real = resource.getrlimit
    monkeypatch.setattr(resource, "getrlimit",
                        lambda which: (40, 40) if which == resource.RLIMIT_NPROC else real(which))
    monkeypatch.setattr(limits, "_processes_of", lambda uid: 35)
    with pytest.raises(limits.ResourceLimitError) as caught:
        limits.ensure_resource_limits()
    assert caught.value.exit_code == ExitCode.USAGE
    assert "ulimit -u" in str(caught.value) and "40" in str(caught.value)


def test_a_fork_server_that_hangs_up_is_a_usage_error_not_an_interrupt(monkeypatch):
    from adcheck import run as run_module

    def hangs_up(*args, **kwargs):
        raise EOFError

    monkeypatch.setattr(run_module, "check_target", hangs_up)
    result = invoke("run", f"{SAMPLE}/funcs.py:good", "--input", "[0.5]", "--backend", "autograd")
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert "interrupted" not in result.stderr
    assert "a worker process could not be started" in result.stderr
