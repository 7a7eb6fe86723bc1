"""User code that misbehaves is contained in its worker; adcheck never hangs or prints a traceback.

The functions in fixtures/hostile/ misbehave under one backend only (they look at the type of
their input), so the finite-difference reference still works and the misbehaviour must become
that backend's ``error`` row while the others are reported. Their ``*_everywhere`` twins
misbehave under fd as well: then the function cannot be called at all, which is exit 2 with one
line on stderr.

These run the real CLI in a subprocess: worker processes write to the real stderr, and only a
subprocess sees everything the user would. Each run spawns workers (1-4 s), so the runs start
together in a small pool when the module is first used and each test waits for its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from adcheck.errors import ExitCode
from conftest import FIXTURES, REPO, CliResult

HOSTILE = FIXTURES / "hostile"
HARD_LIMIT = 90  # seconds: a run that takes longer than this is a hang, and the test fails
PARALLEL_RUNS = 3


def target(spec: str) -> str:
    return f"{HOSTILE / spec.split(':')[0]}:{spec.split(':')[1]}"


def autograd_run(spec: str, *extra: str) -> tuple[str, ...]:
    return ("run", target(spec), "--input", "[0.5, 1.5]", "--backend", "autograd", "--format", "json",
            "--no-timings", "--no-lint", *extra)


RUNS: dict[str, tuple[str, ...]] = {
    "raises": autograd_run("raises.py:raises_under_autograd"),
    "raises_everywhere": autograd_run("raises.py:raises_everywhere"),
    "string": autograd_run("returns.py:string_under_autograd"),
    "none": autograd_run("returns.py:none_under_autograd"),
    "none_everywhere": autograd_run("returns.py:none_everywhere"),
    "shape": ("run", target("returns.py:shape_differs_under_jax"), "--input", "[0.5, 1.5]", "--backend", "jax-rev",
              "--format", "json", "--no-timings", "--no-lint"),
    # fd must finish inside the timeout while other runs share the CPU: 10 s is ample for it.
    "loops": autograd_run("loops.py:loops_under_autograd", "--timeout", "10"),
    "loops_everywhere": autograd_run("loops.py:loops_everywhere", "--timeout", "3"),
    "exits": autograd_run("exits.py:exits_under_autograd"),
    "exits_everywhere": autograd_run("exits.py:exits_everywhere"),
    "null_pointer": autograd_run("crashes.py:null_pointer_under_autograd"),
    "sigsegv": autograd_run("crashes.py:sigsegv_under_autograd"),
    "sigsegv_everywhere": autograd_run("crashes.py:sigsegv_everywhere"),
    "memory": autograd_run("memory.py:hogs_memory_under_autograd", "--memory-limit", "1G"),
    "memory_pieces": autograd_run("memory.py:hogs_memory_in_small_pieces_under_autograd", "--memory-limit", "1G"),
    "prints": autograd_run("prints.py:prints"),
    "prints_table": ("run", target("prints.py:prints"), "--input", "0.5", "--backend", "autograd", "--no-lint"),
    "broken_helper": autograd_run("broken_helper.py:f"),
    "import_at_call": autograd_run("import_at_call.py:imports_inside"),
    "decorated_arity": autograd_run("arity.py:decorated_two_arguments"),
}


def adcheck(args: tuple[str, ...]) -> CliResult:
    env = {**os.environ, "NO_COLOR": "1"}
    try:
        proc = subprocess.run([sys.executable, "-m", "adcheck", *args], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=HARD_LIMIT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"adcheck {' '.join(args)} hung for more than {HARD_LIMIT} s")
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="module")
def battery():
    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        futures: dict[str, Future] = {name: pool.submit(adcheck, args) for name, args in RUNS.items()}
        yield futures
        for future in futures.values():
            future.cancel()


def result_of(battery, name: str) -> CliResult:
    return battery[name].result(timeout=HARD_LIMIT * len(RUNS))


def row_error(battery, name: str, backend: str = "autograd") -> dict:
    """The run failed (exit 1) with an error row for ``backend``; fd is still the reference."""
    result = result_of(battery, name)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == ExitCode.FAILED, (result.exit_code, result.stderr)
    report = json.loads(result.stdout)  # stdout holds only the JSON, whatever the function printed
    rows = {row["name"]: row for row in report["backends"]}
    assert rows["fd"]["status"] == "reference"
    assert rows[backend]["status"] == "error", rows[backend]
    assert "\n" not in rows[backend]["message"]
    return rows[backend]


def cannot_be_called(battery, name: str, *fragments: str) -> str:
    """Exit 2, one line on stderr naming the problem, no traceback, no report."""
    result = result_of(battery, name)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("adcheck: error: ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
    return lines[0]


# --- exceptions ---------------------------------------------------------------------------------


def test_exception_in_one_backend_is_that_backends_row_with_message_and_line(battery):
    row = row_error(battery, "raises")
    assert row["message"] == "ValueError: hostile: refusing to run under autograd"
    assert row["location"].endswith("hostile/raises.py:8")


def test_exception_in_every_backend_means_the_function_cannot_be_called(battery):
    cannot_be_called(battery, "raises_everywhere", "raises.py:13", "ValueError: hostile: refusing to run at all")


# --- bad return values --------------------------------------------------------------------------


def test_string_return_is_an_error_row(battery):
    row = row_error(battery, "string")
    assert row["message"].startswith("the function returned a str;")


def test_none_return_is_an_error_row(battery):
    row = row_error(battery, "none")
    assert row["message"].startswith("the function returned None;")


def test_none_return_everywhere_cannot_be_called(battery):
    cannot_be_called(battery, "none_everywhere", "returned None")


def test_different_output_shape_under_adcheck_rebinding_is_not_applicable(battery):
    # autograd code under JAX runs through adcheck's rebinding: other values there mean JAX
    # cannot run this code, not that the code is wrong; nothing was checked (exit 2).
    result = result_of(battery, "shape")
    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stderr)
    rows = {row["name"]: row for row in json.loads(result.stdout)["backends"]}
    assert rows["jax-rev"]["status"] == "not-applicable"
    assert rows["jax-rev"]["message"] == ("returned 4 output values; plain numpy returned 2 "
                                          "(with autograd.numpy rebound to jax.numpy)")


# --- hangs, exits, crashes, memory --------------------------------------------------------------


def test_infinite_loop_is_killed_at_the_timeout(battery):
    row = row_error(battery, "loops")
    assert row["message"] == "timed out after 10 s (--timeout)"


def test_infinite_loop_everywhere_cannot_be_called(battery):
    cannot_be_called(battery, "loops_everywhere", "timed out after 3 s")


def test_sys_exit_is_an_error_row(battery):
    row = row_error(battery, "exits")
    assert row["message"] == "the function called sys.exit(3)"
    assert row["location"].endswith("hostile/exits.py:10")


def test_sys_exit_everywhere_cannot_be_called(battery):
    cannot_be_called(battery, "exits_everywhere", "sys.exit('hostile: bye')")


def test_null_pointer_read_is_reported_as_the_signal(battery):
    row = row_error(battery, "null_pointer")
    assert row["message"] == "the worker crashed with SIGSEGV"


def test_sigsegv_is_reported_as_the_signal(battery):
    row = row_error(battery, "sigsegv")
    assert row["message"] == "the worker crashed with SIGSEGV"


def test_crash_everywhere_cannot_be_called(battery):
    cannot_be_called(battery, "sigsegv_everywhere", "SIGSEGV")


def test_memory_exhaustion_is_an_error_row(battery):
    row = row_error(battery, "memory")
    assert row["message"].startswith("out of memory")
    assert row["location"].endswith("hostile/memory.py:10")


def test_memory_exhausted_in_small_pieces_is_an_error_row_at_the_allocating_line(battery):
    # 16 MiB at a time: no single allocation is refused as absurd; the limit still stops it.
    row = row_error(battery, "memory_pieces")
    assert row["message"] == "out of memory (raise --memory-limit if the function needs more)"
    assert row["location"].endswith("hostile/memory.py:19")


# --- output streams -----------------------------------------------------------------------------


def test_prints_never_reach_stdout_with_json(battery):
    result = result_of(battery, "prints")
    assert result.exit_code == ExitCode.OK, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "pass"
    assert "hostile: printed to stdout" in result.stderr
    assert "hostile: printed at import" in result.stderr


def test_prints_never_reach_stdout_with_the_table(battery):
    result = result_of(battery, "prints_table")
    assert result.exit_code == ExitCode.OK, result.stderr
    assert "hostile:" not in result.stdout
    assert "hostile: written to sys.stdout" in result.stderr


# --- import failures the parent cannot see ------------------------------------------------------


def test_missing_package_in_a_helper_module_names_package_and_line(battery):
    cannot_be_called(battery, "broken_helper", "_broken_helper.py:1",
                     "No module named 'adcheck_no_such_package_in_helper'")


def test_missing_package_imported_at_call_time_names_package_and_line(battery):
    cannot_be_called(battery, "import_at_call", "import_at_call.py:5",
                     "No module named 'adcheck_no_such_package_at_call'")


def test_wrong_argument_count_for_a_decorated_function(battery):
    cannot_be_called(battery, "decorated_arity", "decorated_two_arguments(x, y)", "cannot be called with 1",
                     "missing a required argument: 'y'")
