"""The command line's own contract: exit code 3 and ``--debug`` for adcheck's bugs, 130 for Ctrl-C,
and a process left as it was found (signal handlers, environment) after an in-process run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from adcheck.errors import ExitCode
from conftest import FIXTURES, REPO, invoke

CUMPROD = f"{FIXTURES / 'cumprod.py'}:ac_cumprod"
SAMPLE = FIXTURES / "sample_project"


class PlantedBug(RuntimeError):
    """Stands in for a bug inside adcheck."""


def raise_planted_bug(*args, **kwargs):
    raise PlantedBug("planted bug in adcheck")


def raise_keyboard_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# Each command, and the function inside adcheck that a bug (or Ctrl-C) is planted in.
COMMANDS = {
    "run": (("run", CUMPROD, "--input", "[1,2,3]", "--backend", "autograd"), "adcheck.run", "check_target"),
    "check": (("check", "--config", str(SAMPLE / "pyproject.toml"), "-q"), "adcheck.check", "run_check"),
    "lint": (("lint", str(FIXTURES / "stateful.py")), "adcheck.lint", "lint_paths"),
}


def plant(monkeypatch, command: str, replacement) -> tuple[str, ...]:
    import importlib

    args, module, name = COMMANDS[command]
    monkeypatch.setattr(importlib.import_module(module), name, replacement)
    return args


# --- exit code 3 and --debug -------------------------------------------------------------------------


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_internal_error_is_exit_3_and_one_line_asking_for_debug(monkeypatch, command):
    args = plant(monkeypatch, command, raise_planted_bug)
    result = invoke(*args)
    assert result.exit_code == ExitCode.INTERNAL == 3
    assert result.stderr == ("adcheck: internal error: PlantedBug: planted bug in adcheck "
                             "(rerun with --debug for the traceback)\n")
    assert result.stdout == ""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_debug_lets_the_internal_errors_traceback_through(monkeypatch, command):
    args = plant(monkeypatch, command, raise_planted_bug)
    with pytest.raises(PlantedBug, match="planted bug in adcheck") as info:
        invoke("--debug", *args)
    # The traceback reaches the planted function: nothing in between swallowed and re-raised it.
    assert info.traceback[-1].name == "raise_planted_bug"


def test_debug_also_shows_a_usage_errors_traceback():
    without = invoke("run", f"{FIXTURES / 'cumprod.py'}:no_such_function", "--input", "[1]")
    assert without.exit_code == ExitCode.USAGE
    assert without.stderr.startswith("adcheck: error: ") and "Traceback" not in without.stderr
    debug = invoke("--debug", "run", f"{FIXTURES / 'cumprod.py'}:no_such_function", "--input", "[1]")
    assert debug.exit_code == ExitCode.USAGE  # the traceback, and still the usage error's exit code
    assert "Traceback" in debug.stderr and "no_such_function" in debug.stderr


def test_debug_changes_nothing_in_a_run_without_errors():
    plain = invoke("run", CUMPROD, "--input", "[1,2,3]", "--backend", "autograd", "--no-timings", "--no-lint")
    debug = invoke("--debug", "run", CUMPROD, "--input", "[1,2,3]", "--backend", "autograd", "--no-timings",
                   "--no-lint")
    assert plain.exit_code == debug.exit_code == ExitCode.OK
    assert debug.stdout.splitlines()[0] == plain.stdout.splitlines()[0] == f"adcheck run {CUMPROD}"
    assert debug.stdout.splitlines()[-1] == "PASS: autograd agrees with finite differences"


# --- Ctrl-C -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("debug", [(), ("--debug",)], ids=["plain", "debug"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_during_a_command_is_exit_130_and_one_line(monkeypatch, command, debug):
    args = plant(monkeypatch, command, raise_keyboard_interrupt)
    result = invoke(*debug, *args)
    assert result.exit_code == ExitCode.INTERRUPTED == 130
    # click ends the line a terminal's ^C was echoed on (an empty line on stderr), then adcheck says why.
    assert result.stderr.strip().splitlines() == ["adcheck: interrupted"]
    assert result.stdout == ""


def test_a_run_leaves_the_signal_handlers_and_the_environment_as_they_were():
    """The in-process CLI (tests, the pytest plugin) must not change the process that calls it."""
    handler = signal.getsignal(signal.SIGTERM)
    environment = dict(os.environ)
    result = invoke("run", CUMPROD, "--input", "[1,2,3]", "--backend", "autograd", "--no-lint")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert signal.getsignal(signal.SIGTERM) is handler
    assert dict(os.environ) == environment


HANGS = textwrap.dedent('''\
    import os

    import autograd.numpy as np


    def hangs_under_autograd(x):
        if type(x).__module__.startswith("autograd"):
            with open(os.environ["ADCHECK_TEST_STARTED"], "w") as handle:
                handle.write(str(os.getpid()))
            while True:
                pass
        return np.sin(x)
    ''')


def marked_processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment holds ``marker``: adcheck and all it started."""
    found = []
    needle = marker.encode() + b"="
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds adcheck's processes through /proc")
def test_nothing_adcheck_started_is_running_once_it_has_exited(tmp_path):
    # The fork server and multiprocessing's resource tracker end with adcheck, not moments after:
    # the moment adcheck's exit status is known, none of its processes is left.
    marker = f"ADCHECK_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(tmp_path / "out", "w") as out:  # files, not pipes: the wait must not depend on who holds them
        proc = subprocess.Popen([sys.executable, "-m", "adcheck", "run", f"{FIXTURES / 'cumprod.py'}:ac_cumprod",
                                 "--input", "[1, 2, 3]", "--backend", "autograd", "--no-lint"],
                                cwd=tmp_path, env=env, stdout=out, stderr=out)
        try:
            assert proc.wait(timeout=120) in (ExitCode.OK, ExitCode.FAILED), (tmp_path / "out").read_text()
            assert marked_processes(marker) == []
        finally:
            for pid in marked_processes(marker):
                os.kill(pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds adcheck's processes through /proc")
def test_sigint_to_a_run_with_a_hanging_worker_is_exit_130_and_kills_the_worker(tmp_path):
    (tmp_path / "user.py").write_text(HANGS)
    started = tmp_path / "started"
    marker = f"ADCHECK_TEST_{uuid.uuid4().hex}"
    env = {**os.environ, marker: "1", "ADCHECK_TEST_STARTED": str(started), "NO_COLOR": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    # Ctrl-C as at a terminal: a suite started in the background by a non-interactive shell
    # inherits SIGINT ignored, and adcheck would inherit that too. A small launcher puts it back
    # and execs adcheck (a preexec_fn would run Python in a fork of this test process, whose JAX
    # threads may hold locks the child then waits for).
    command = [sys.executable, "-m", "adcheck", "run", "user.py:hangs_under_autograd", "--input", "[0.5, 1.5]",
               "--backend", "autograd", "--no-lint", "--timeout", "600"]
    launcher = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                "os.execv(sys.executable, sys.argv[1:])")
    proc = subprocess.Popen([sys.executable, "-c", launcher, *command], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The worker is inside the user's function (it wrote the file) before the signal is sent.
        assert wait_until(lambda: started.exists() and started.read_text().isdigit() or proc.poll() is not None,
                          120), "the autograd worker never started the function"
        assert proc.poll() is None, proc.communicate()
        worker = int(started.read_text())
        assert worker in marked_processes(marker)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        assert time.monotonic() - began < 10
        assert proc.returncode == ExitCode.INTERRUPTED, (proc.returncode, stderr)
        assert stderr.strip().splitlines()[-1] == "adcheck: interrupted"
        assert "Traceback" not in stderr
        assert stdout == ""
        assert wait_until(lambda: not marked_processes(marker), 10), marked_processes(marker)
    finally:
        for pid in marked_processes(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
