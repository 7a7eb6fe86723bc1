"""An interrupted check says so in every format; a closed stdout or stderr stops nothing.

The formats are checked on hand-made reports (``report_samples``) with an ``Interruption``; the
end-to-end tests send SIGHUP to a real ``adcheck check`` and close its streams from a shell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import report_samples as samples
from adcheck.errors import ExitCode
from adcheck.merge import merge
from adcheck.report import github, junit, markdown, sarif
from adcheck.report.common import Interruption
from conftest import FIXTURES
from test_report_sarif import assert_valid_sarif

STOPPED = Interruption(finished=1, unfinished=("slow.py:f", "slow.py:g"))
ADCHECK = [sys.executable, "-m", "adcheck"]


def test_junit_marks_each_unfinished_case_as_an_error_with_the_reason():
    root = ET.fromstring(junit.render([samples.passing_report()], interrupted=STOPPED))
    assert root.get("errors") == "2" and root.get("tests") == str(1 + 2)
    unfinished = {case.get("classname"): case.find("error") for case in root.iter("testcase")
                  if case.find("error") is not None}
    assert set(unfinished) == {"slow.py:f", "slow.py:g"}
    assert all(error.get("type") == "interrupted" and "interrupted" in error.get("message")
               for error in unfinished.values())


def test_markdown_and_github_say_interrupted_after_n_of_m_cases():
    text = markdown.render([samples.passing_report()], interrupted=STOPPED)
    assert text.splitlines()[0] == "### adcheck: ⛔ interrupted after 1 of 3 cases"
    assert "passed" not in text.splitlines()[0]
    assert "`slow.py:f`, `slow.py:g`" in text
    lines = github.render([samples.passing_report()], interrupted=STOPPED).splitlines()
    assert lines[-1] == ("::error title=adcheck%3A interrupted::interrupted after 1 of 3 cases; not finished: "
                         "slow.py:f, slow.py:g")


def test_sarif_carries_an_unsuccessful_invocation_and_merging_keeps_it(tmp_path):
    data = json.loads(sarif.render([samples.mixed_report()], interrupted=STOPPED))
    run = assert_valid_sarif(data)
    assert run["invocations"][0]["executionSuccessful"] is False
    assert "interrupted after 1 of 3 cases" in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    assert "invocations" not in json.loads(sarif.render([samples.mixed_report()]))["runs"][0]
    (tmp_path / "a.sarif").write_text(json.dumps(data))
    (tmp_path / "b.sarif").write_text(sarif.render([samples.passing_report()]))
    _, text, code = merge([tmp_path / "a.sarif", tmp_path / "b.sarif"])
    assert json.loads(text)["runs"][0]["invocations"][0]["executionSuccessful"] is False
    assert code == ExitCode.FAILED


HANGING_PROJECT = '''\
[tool.adcheck]
backends = ["autograd"]

[[tool.adcheck.case]]
target = "funcs.py:good"
input = [0.5]

[[tool.adcheck.case]]
target = "funcs.py:hangs"
input = [0.5]
'''
HANGING_FUNCS = '''\
import os
import time

import autograd.numpy as np


def good(x):
    return np.sin(x)


def hangs(x):
    if type(x).__name__ == "ArrayBox":
        open(os.path.join(os.environ["FLAG_DIR"], "started"), "w").close()
        time.sleep(600)
    return np.sin(x)
'''


def start_hanging_check(tmp_path: Path, *args: str) -> subprocess.Popen:
    (tmp_path / "pyproject.toml").write_text(HANGING_PROJECT)
    (tmp_path / "funcs.py").write_text(HANGING_FUNCS)
    env = {**os.environ, "FLAG_DIR": str(tmp_path)}
    # As started from a terminal: a suite run under nohup would hand its ignored SIGHUP down, and
    # adcheck keeps an ignored SIGHUP ignored (as nohup asks), so the hang-up would never arrive.
    return subprocess.Popen([*ADCHECK, "check", "-j", "1", "-q", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=_hang_up_as_a_terminal_would)


def _hang_up_as_a_terminal_would() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


@pytest.mark.parametrize("output_format", ["junit", "markdown"])
def test_sighup_to_check_keeps_the_finished_cases_report_and_says_it_was_interrupted(tmp_path, output_format):
    process = start_hanging_check(tmp_path, "--format", output_format, "--output", "report.out")
    try:
        wait_for(tmp_path / "started")
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    text = (tmp_path / "report.out").read_text()
    if output_format == "junit":
        root = ET.fromstring(text)
        assert root.get("errors") == "1"
        assert {c.get("classname") for c in root.iter("testcase")} == {"funcs.py:good", "funcs.py:hangs"}
    else:
        assert text.startswith("### adcheck: ⛔ interrupted after 1 of 2 cases")


@pytest.mark.parametrize("closed", ["1", "2", "1 2"])
def test_a_closed_stdout_or_stderr_stops_nothing_and_the_output_is_written(tmp_path, closed):
    redirections = " ".join(f"{fd}>&-" for fd in closed.split())
    command = (f"{' '.join(ADCHECK)} run {FIXTURES}/sample_project/funcs.py:good --input '[0.5]' --backend autograd "
               f"--format json --output out.json {redirections}; echo $? > rc")
    subprocess.run(["bash", "-c", command], cwd=tmp_path, timeout=300, capture_output=True)
    assert (tmp_path / "rc").read_text().strip() == "0"
    assert json.loads((tmp_path / "out.json").read_text())["verdict"] == "pass"
