"""``adcheck.check`` and ``adcheck.testing.assert_derivatives``: any callable, any pytree of arrays."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading

import numpy as np
import pytest

import adcheck
from adcheck.api import DerivativeMismatch, Report
from adcheck.errors import InputError
from conftest import FIXTURES

jnp = pytest.importorskip("jax.numpy")
API_TESTS = FIXTURES / "api_tests"


def make_loss(scale):
    def loss(params, x):
        return scale * jnp.sum(jnp.tanh(params["w"] * x + params["b"]))

    return loss


PARAMS = {"w": jnp.array([0.5, -1.0, 2.0]), "b": jnp.array(0.3)}
X = jnp.array([0.1, 0.2, 0.3])


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_a_closure_over_a_dict_of_jax_arrays_passes(isolation):
    report = adcheck.check(make_loss(2.0), PARAMS, X, isolation=isolation)
    assert isinstance(report, Report)
    assert report.verdict == "pass" and report.ok and report.isolation == isolation
    assert {row.backend: row.status for row in report.rows}["jax-rev"] == "agree"
    assert report.entries == {}
    report.raise_for_failure()
    assert "PASS: jax-fwd, jax-rev agree with finite differences" in str(report)
    assert 'params["w"] 3 + params["b"] scalar + x 3' in str(report)
    assert repr(report) == f"<adcheck Report pass: jax-fwd agree, jax-rev agree (isolation={isolation!r})>"


def test_the_callers_jax_settings_are_left_as_they_were():
    import jax

    before = jax.config.jax_enable_x64
    adcheck.check(make_loss(1.0), PARAMS, X, isolation="none")
    assert jax.config.jax_enable_x64 == before


def test_a_wrong_custom_rule_fails_with_the_entries_by_name():
    sys.path.insert(0, str(API_TESTS))
    try:
        from models import bad_softplus
    finally:
        sys.path.remove(str(API_TESTS))
    report = adcheck.check(lambda x: jnp.sum(bad_softplus(x)), np.array([0.5, -1.0]), isolation="none")
    assert report.verdict == "fail" and not report.ok
    assert report.row("jax-fwd").status == "disagree" and report.row("jax-fwd").error > 1
    assert set(report.entries) == {"d f / d x[0]", "d f / d x[1]"}  # a lambda has no name: f
    assert {e.backend for e in report.entries["d f / d x[0]"]} == {"jax-fwd", "jax-rev"}
    assert "ADC502" in {f.code for f in report.findings}
    with pytest.raises(DerivativeMismatch) as info:
        report.raise_for_failure()
    assert info.value.report is report
    assert str(info.value).rstrip().endswith("FAIL: jax-fwd, jax-rev")


def test_a_function_that_cannot_be_pickled_runs_in_process_and_says_so():
    lock = threading.Lock()

    def locked(x):
        with lock:
            return jnp.sum(x**2)

    report = adcheck.check(locked, np.array([1.0, 2.0]))
    assert report.ok and report.isolation == "none"
    assert "cannot be pickled for a worker process" in str(report)


def test_numpy_code_given_as_a_partial_is_checked_by_nothing_and_says_why():
    report = adcheck.check(functools.partial(np.dot, np.array([1.0, 2.0])), np.array([3.0, 4.0]), isolation="none")
    assert report.verdict == "nothing checked" and not report.ok
    assert "needs the function imported from its file" in str(report)


def test_a_module_level_numpy_function_is_checked_from_its_file_with_rebinding():
    sys.path.insert(0, str(FIXTURES / "sample_project"))
    try:
        import funcs
    finally:
        sys.path.remove(str(FIXTURES / "sample_project"))
    report = adcheck.check(funcs.good, np.array([0.5, 1.0]), backends=["autograd"])
    assert report.row("autograd").status == "agree"


def test_wrong_arguments_are_errors_with_the_argument_named():
    with pytest.raises(InputError, match=r"argument 1\['mode'\]: expected an array or a number, got a str"):
        adcheck.check(make_loss(1.0), PARAMS, {"mode": "train"})
    with pytest.raises(InputError, match="isolation"):
        adcheck.check(make_loss(1.0), PARAMS, X, isolation="thread")
    with pytest.raises(TypeError, match="unknown option"):
        adcheck.check(make_loss(1.0), PARAMS, X, tolerance=1e-3)
    with pytest.raises(InputError, match="wrt"):
        adcheck.check(make_loss(1.0), PARAMS, X, wrt="params.q")


def test_wrt_by_name_differentiates_that_leaf_only():
    report = adcheck.check(make_loss(1.0), PARAMS, X, wrt="params.w", isolation="none")
    assert [info.name for info in report.run.arguments if info.differentiated] == ['params["w"]']


def test_adcheck_check_stays_the_function_after_the_check_module_is_imported():
    from adcheck.check import failures_of

    assert sys.modules["adcheck.check"].failures_of is failures_of
    assert callable(adcheck.check) and adcheck.check is not sys.modules["adcheck.check"]
    assert adcheck.check.__module__ == "adcheck"


def test_assert_derivatives_in_pytest_passes_and_its_planted_twin_fails_with_the_report():
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "-q",
                             "test_derivatives.py", "test_derivatives_planted.py"], cwd=API_TESTS,
                            capture_output=True, text=True, check=False, timeout=600)
    out = result.stdout
    assert "4 failed, 4 passed" in out, out + result.stderr
    for name in ("test_closure_over_a_batch", "test_dict_of_params_loss", "test_torch_module", "test_partial"):
        assert f"FAILED test_derivatives_planted.py::{name}" in out
    assert out.count("E       FAIL: ") == 4  # each failure's text is the report, to its last line
    assert "__tracebackhide__" not in out and "report = check(f" not in out  # not the helper's source


def test_assert_derivatives_turns_a_function_that_fails_into_one_line():
    from adcheck.testing import assert_derivatives

    def broken(x):
        raise ValueError("no such layer")

    with pytest.raises(AssertionError, match="ValueError: no such layer") as info:
        assert_derivatives(broken, np.array([1.0, 2.0]), isolation="none")
    assert "\n" not in str(info.value)


def test_a_jitted_function_is_named_and_checked_as_jax_code():
    import jax

    jitted = jax.jit(make_loss(1.0))
    report = adcheck.check(jitted, PARAMS, X, isolation="none")
    assert report.ok and report.run.framework == "jax"
    assert report.run.target.endswith("make_loss.<locals>.loss")
