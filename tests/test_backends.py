"""The backend registry and the matrix: every backend, in every mode and order, on code written
for every framework, ends with a status per backend and exit 0, 1 or 2 — never an internal error.

The matrix runs the real CLI in subprocesses, two at a time (each run starts its own workers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from adcheck.backends import REGISTRY, Unsupported, resolve
from adcheck.errors import AdcheckError, ExitCode
from adcheck.model import Framework, Mode, Status
from conftest import FIXTURES, REPO

STATUSES = {str(s) for s in Status} - {"computed"}

# One function per framework, at three inputs; some right, some wrong (the exit code says which).
MATRIX_FIXTURES = {
    "numpy": ("cumprod.py:ac_cumprod", "[1.0, 2.0, 3.0]", ExitCode.OK),
    "autograd": ("wrong_rules_autograd.py:exp_sum", "[0.1, 0.2, 0.3]", ExitCode.FAILED),
    "jax": ("second_order.py:vector", "[0.1, 0.2, 0.3]", None),  # wrong at order 2 only
    "torch": ("torch_funcs.py:sin_times_sum", "[0.1, 0.2, 0.3]", ExitCode.OK),
    "array-api": ("array_api_funcs.py:softplus_poly", "[0.1, -0.2, 0.3]", ExitCode.OK),
}
MODES_AND_ORDERS = [("full", "1"), ("full", "2"), ("fast", "1")]


def run(framework: str, mode: str, order: str) -> subprocess.CompletedProcess:
    target, value, _ = MATRIX_FIXTURES[framework]
    args = [sys.executable, "-m", "adcheck", "run", f"{FIXTURES / target}", "--input", value, "--mode", mode,
            "--order", order, "--format", "json", "--no-timings"]
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)


@pytest.fixture(scope="module")
def matrix():
    cells = [(f, m, o) for f in MATRIX_FIXTURES for m, o in MODES_AND_ORDERS]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(cells, pool.map(lambda cell: run(*cell), cells)))


@pytest.mark.parametrize("framework", MATRIX_FIXTURES)
@pytest.mark.parametrize(("mode", "order"), MODES_AND_ORDERS)
def test_every_backend_in_every_mode_and_order_ends_with_a_status(matrix, framework, mode, order):
    result = matrix[(framework, mode, order)]
    assert result.returncode in (ExitCode.OK, ExitCode.FAILED), (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["backends"]}
    assert set(rows) == set(REGISTRY)
    assert {row["status"] for row in rows.values()} <= STATUSES
    assert rows["fd"]["status"] == "reference"
    checked = [name for name, row in rows.items() if row["status"] in ("agree", "disagree", "kink", "inconclusive")]
    assert checked, rows  # somebody ran: every fixture is written for a framework that has backends
    for name, row in rows.items():
        if row["status"] == "not-applicable":
            assert row["message"], name  # always with the reason
    expected = MATRIX_FIXTURES[framework][2]
    if expected is not None and order == "1":
        assert result.returncode == expected
    if order == "2":
        assert ("second_order" in report) == any(
            REGISTRY[name].orders >= {2} and rows[name]["status"] != "not-applicable" for name in rows if name != "fd")


def test_a_jacobian_rule_that_is_wrong_only_in_its_own_derivative_fails_at_order_2(matrix):
    first, second = matrix[("jax", "full", "1")], matrix[("jax", "full", "2")]
    assert first.returncode == ExitCode.OK and second.returncode == ExitCode.FAILED


def test_torch_backends_check_big_functions_in_fast_mode(matrix):
    # The crash: above 4000 inputs auto mode is fast mode, which the torch backends ignored.
    result = subprocess.run([sys.executable, "-m", "adcheck", "run", f"{FIXTURES / 'torch_funcs.py'}:sin_times_sum",
                             "--random", "5000", "--format", "json", "--no-timings"],
                            capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    assert result.returncode == ExitCode.OK, result.stderr
    rows = {row["name"]: row["status"] for row in json.loads(result.stdout)["backends"]}
    assert rows["torch-fwd"] == rows["torch-rev"] == "agree"
    fast = matrix[("torch", "fast", "1")]
    rows = {row["name"]: row["status"] for row in json.loads(fast.stdout)["backends"]}
    assert rows["torch-fwd"] == rows["torch-rev"] == "agree"


def test_fast_mode_and_order_2_together_check_second_directional_derivatives():
    result = subprocess.run([sys.executable, "-m", "adcheck", "run", f"{FIXTURES / 'cumprod.py'}:ac_cumprod",
                             "--input", "[1.0, 2.0]", "--mode", "fast", "--order", "2", "--backend", "jax-fwd",
                             "--no-lint", "--format", "json"],
                            capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert result.returncode == ExitCode.OK, result.stderr
    assert {row["name"]: row["status"] for row in json.loads(result.stdout)["second_order"]["backends"]} == {
        "jax-fwd": "agree"}


# --- the registry ------------------------------------------------------------------------------------


def test_each_backend_declares_what_it_runs_natively_and_through_rebinding():
    assert REGISTRY["jax-rev"].rebinding("jax", installed_target=False) is None
    assert REGISTRY["jax-rev"].rebinding("numpy", installed_target=False).description == "numpy rebound to jax.numpy"
    assert REGISTRY["autograd"].rebinding("autograd", installed_target=False) is None
    with pytest.raises(Unsupported, match="cannot run torch code"):
        REGISTRY["autograd"].rebinding("torch", installed_target=False)
    with pytest.raises(Unsupported, match="inside an installed package"):
        REGISTRY["jax-fwd"].rebinding("numpy", installed_target=True)
    for backend in REGISTRY.values():
        assert set(backend.runs) <= {str(f) for f in Framework}
        assert backend.modes == frozenset(Mode)  # every backend supports both modes now
        assert 1 in backend.orders


def test_an_unsupported_mode_is_a_reason_not_a_crash(monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(REGISTRY, "torch-fwd", replace(REGISTRY["torch-fwd"], modes=frozenset({Mode.FULL})))
    with pytest.raises(Unsupported, match="does not support --mode fast"):
        REGISTRY["torch-fwd"].check_supports(Mode.FAST, 1)


def test_an_unknown_backend_lists_the_known_ones():
    with pytest.raises(AdcheckError, match="unknown backend 'autograf'; known backends: fd, autograd"):
        resolve(("autograf",))
    assert [b.name for b in resolve(("jax-rev",))] == ["fd", "jax-rev"]  # the reference always runs
