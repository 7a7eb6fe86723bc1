"""The baseline through the command line: ``--baseline PATH``, a malformed file, and
``--update-baseline`` when a case cannot run.

Each test copies the sample project (one passing and one failing case, autograd only) into its
own directory; ``check`` runs there, as a user runs it at the root of a project.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from contextlib import chdir as in_directory

import pytest

from adcheck.errors import ExitCode
from conftest import FIXTURES, assert_usage_error, invoke

SAMPLE = FIXTURES / "sample_project"
DEFAULT = ".adcheck-baseline.json"
KNOWN = {"failures": {"funcs.py:bad": {"autograd": "disagree"}}, "version": 1}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(SAMPLE, root, ignore=shutil.ignore_patterns("__pycache__", DEFAULT))
    return root


def check(project, *args: str):
    with in_directory(project):
        return invoke("check", "--no-timings", "-q", *args)


# --- --baseline PATH --------------------------------------------------------------------------------


def test_baseline_at_another_path_round_trip(project):
    (project / "ci").mkdir()
    recorded = check(project, "--update-baseline", "--baseline", "ci/known.json")
    assert recorded.exit_code == ExitCode.OK, recorded.stderr
    assert recorded.stderr == "adcheck: wrote 1 failure(s) to ci/known.json\n"
    assert json.loads((project / "ci" / "known.json").read_text()) == KNOWN
    assert not (project / DEFAULT).exists()  # the other path only

    accepted = check(project, "--baseline", "ci/known.json")
    assert accepted.exit_code == ExitCode.OK, accepted.stdout[-2000:]
    assert accepted.stdout.endswith("2 cases: 2 passed, 0 failed (--fail-on disagree)\n"
                                    "1 known failure(s) accepted by the baseline ci/known.json\n")

    # The default place holds no baseline: the same failure is new there.
    unaccepted = check(project)
    assert unaccepted.exit_code == ExitCode.FAILED
    assert unaccepted.stdout.endswith("FAIL funcs.py:bad (autograd: disagree)\n")


def test_baseline_path_outside_the_project_is_named_as_given(project, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(KNOWN))
    accepted = check(project, "--baseline", str(elsewhere), "--format", "json")
    assert accepted.exit_code == ExitCode.OK, accepted.stdout[-2000:]
    data = json.loads(accepted.stdout)
    assert [f["baselined"] for f in data["failures"]] == [True]
    assert data["baseline"]["path"] == str(elsewhere)


# --- a malformed baseline ---------------------------------------------------------------------------

MALFORMED = {
    "not JSON": "{not json",
    "not UTF-8": b"\xff\xfe{}",
    "a list": "[1, 2]",
    "failures is a list": '{"failures": [], "version": 1}',
    "a case maps to a string": '{"failures": {"funcs.py:bad": "autograd"}, "version": 1}',
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("where", ["default", "--baseline"])
def test_a_malformed_baseline_is_exit_2_with_one_line_naming_the_file(project, content, where):
    path = project / (DEFAULT if where == "default" else "known.json")
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    args = () if where == "default" else ("--baseline", "known.json")
    result = check(project, *args)
    assert_usage_error(result, DEFAULT if where == "default" else "known.json")
    assert path.read_bytes() == (content if isinstance(content, bytes) else content.encode())


def test_update_baseline_replaces_a_malformed_baseline_as_the_message_says(project):
    (project / DEFAULT).write_text("{not json")
    broken = check(project)
    assert broken.exit_code == ExitCode.USAGE
    assert "rerun with --update-baseline" in broken.stderr
    repaired = check(project, "--update-baseline")
    assert repaired.exit_code == ExitCode.OK, repaired.stderr
    assert json.loads((project / DEFAULT).read_text()) == KNOWN


# --- --update-baseline when a case cannot run --------------------------------------------------------

# A third case: the failing function at an input where it cannot be called (it raises).
CANNOT_RUN = textwrap.dedent('''\

    [[tool.adcheck.case]]
    target = "funcs.py:bad"
    input = [0.5, 1.0]
    ''')
RAISES_AT_TWO_INPUTS = textwrap.dedent('''\


    _checked_bad = bad


    def bad(x):  # noqa: F811 - the case cannot be called at two inputs
        if x.size == 2:
            raise RuntimeError("cannot run at two inputs")
        return _checked_bad(x)
    ''')


@pytest.fixture
def project_with_a_case_that_cannot_run(project):
    with open(project / "pyproject.toml", "a") as handle:
        handle.write(CANNOT_RUN)
    # First every case runs: the baseline records both failing cases.
    recorded = check(project, "--update-baseline")
    assert recorded.exit_code == ExitCode.OK, recorded.stderr
    known = json.loads((project / DEFAULT).read_text())
    assert known["failures"] == {"funcs.py:bad": {"autograd": "disagree"},
                                 "funcs.py:bad[2]": {"autograd": "disagree"}}
    # Then the third case's function breaks at its input.
    with open(project / "funcs.py", "a") as handle:
        handle.write(RAISES_AT_TWO_INPUTS)
    return project


def test_update_baseline_with_a_case_that_cannot_run_is_exit_2_naming_it(project_with_a_case_that_cannot_run):
    project = project_with_a_case_that_cannot_run
    result = check(project, "--update-baseline")
    assert result.exit_code == ExitCode.USAGE
    assert "BROKEN funcs.py:bad[2]: " in result.stdout
    assert "RuntimeError: cannot run at two inputs" in result.stdout


def test_update_baseline_keeps_what_it_knew_about_a_case_that_cannot_run(project_with_a_case_that_cannot_run):
    """A case that could not run says nothing about its failures: its recorded entries stay as
    they were (as ``apply_baseline`` treats it), and nothing new is recorded for it. Otherwise
    its known failure is 'new' again the day it runs, and fails CI."""
    project = project_with_a_case_that_cannot_run
    result = check(project, "--update-baseline")
    assert result.exit_code == ExitCode.USAGE
    assert json.loads((project / DEFAULT).read_text())["failures"] == {
        "funcs.py:bad": {"autograd": "disagree"}, "funcs.py:bad[2]": {"autograd": "disagree"}}


def test_update_baseline_records_nothing_for_a_new_case_that_cannot_run(project):
    with open(project / "pyproject.toml", "a") as handle:
        handle.write(CANNOT_RUN)
    with open(project / "funcs.py", "a") as handle:
        handle.write(RAISES_AT_TWO_INPUTS)
    result = check(project, "--update-baseline")
    assert result.exit_code == ExitCode.USAGE
    # Only the failure that was checked; no "*" or error entry for the case that could not run.
    assert json.loads((project / DEFAULT).read_text()) == KNOWN
