"""No accusation on one witness, no pass on none.

Finite differences on the input's own scale are confidently wrong far from the origin, at high
frequency, next to overflow and at underflow; the AD backends are right there, and must pass.
The same functions with a planted wrong rule must still fail, with the rule named. A value that
is not finite, or a run that verifies nothing, must not pass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from adcheck.verdict.taylor import walk_decisions
from adcheck.errors import ExitCode
from adcheck.finite_differences import witness_ladders
from adcheck.model import TaylorLadder
from conftest import FIXTURES, assert_usage_error, invoke

FAR = FIXTURES / "far_and_fast.py"


def run_json(target, value, *options):
    result = invoke("run", f"{FAR}:{target}", "--input", value, "--format", "json", "--no-timings", *options)
    return result.exit_code, json.loads(result.stdout)


def statuses(report):
    return {b["name"]: b["status"] for b in report["backends"] if b["status"] not in ("not-applicable", "reference")}


@pytest.mark.parametrize("target,value", [
    ("sin_far", "[4e7, 123456789.0, 1e10, 1e12]"),
    ("cos_far", "[1e7, 1e12]"),
    ("high_frequency", "[0.2]"),
    ("very_high_frequency", "[0.3, 1.2]"),
    ("exp_near_overflow", "[700.0]"),
    ("square_subnormal", "[1e-310, 3e-311]"),
])
def test_correct_functions_at_hostile_inputs_pass(target, value):
    code, report = run_json(target, value, "--no-lint")
    assert code == ExitCode.OK, report
    found = statuses(report)
    assert found and set(found.values()) <= {"agree", "inconclusive"}, found
    assert "agree" in found.values()
    assert "share is wrong" not in report["consensus"]


def test_the_report_says_where_finite_differences_were_overruled_and_why():
    code, report = run_json("sin_far", "[4e7]", "--no-lint")
    assert code == ExitCode.OK
    message = next(b["message"] for b in report["backends"] if b["name"] == "autograd")
    assert "finite differences overruled at 1 entry by the" in message
    assert "long against how fast the function varies there" in message


@pytest.mark.parametrize("target,value,backend,rule_line", [
    ("sin_far_wrong_sign", "[4e7]", "jax-rev", "_sin_jvp"),
    ("high_frequency_dropped_term", "[0.2]", "jax-fwd", "_wave_jvp"),
    ("exp_near_overflow_dropped_term", "[700.0]", "autograd", "_x_exp"),
    ("square_subnormal_wrong_sign", "[1e-155]", "autograd", "_square"),
])
def test_planted_wrong_rules_still_fail_at_the_same_inputs(target, value, backend, rule_line):
    code, report = run_json(target, value)
    assert code == ExitCode.FAILED, report
    assert statuses(report)[backend] == "disagree"
    assert any(f["code"] == "ADC501" and rule_line in f["message"] and backend in f["explains"]
               for f in report["findings"]), report["findings"]


def test_a_wrong_rule_at_a_subnormal_value_is_blamed_at_run_time():
    # x * x at 1e-155 is 1e-310: subnormal, and numpy keeps its 45 bits. FD and the Taylor walk
    # (whose noise floor is the subnormal spacing, not the smallest normal number) both see the
    # wrong sign, and the per-primitive replay names the rule, not only the static lint.
    code, report = run_json("square_subnormal_wrong_sign", "[1e-155, 3e-156]")
    assert code == ExitCode.FAILED, report
    assert statuses(report)["autograd"] == "disagree"
    assert any(f["code"] == "ADC501" and f["severity"] == "error" and "_square" in f["message"]
               and "is wrong at the inputs it gets here" in f["message"] for f in report["findings"]), report["findings"]


def test_a_derivative_jax_flushes_to_zero_is_no_witness():
    # A correct numpy square at subnormal inputs: autograd's 2e-310 is right; FD sees a flat 0
    # (the value underflows) and JAX a flushed 0. The flush seconds no accusation.
    result = invoke("run", f"{FIXTURES / 'subnormal.py'}:square", "--input", "[1e-310, 3e-311]", "--no-lint",
                    "--no-timings", "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == ExitCode.OK, report
    autograd = next(b for b in report["backends"] if b["name"] == "autograd")
    assert autograd["status"] == "inconclusive"
    assert "flush subnormal numbers to zero" in autograd["message"]


def test_a_wrong_rule_at_a_subnormal_input_is_not_convicted_on_the_flush():
    # At 1e-310 no evaluation of x * x can tell 2e-310 from -2e-310 (the value underflows on every
    # step), and JAX's 0 is the flush: the planted sign is inconclusive, and the report says why.
    code, report = run_json("square_subnormal_wrong_sign", "[1e-310]", "--no-lint")
    assert code == ExitCode.OK, report
    autograd = next(b for b in report["backends"] if b["name"] == "autograd")
    assert autograd["status"] == "inconclusive"
    assert "flush subnormal numbers to zero" in autograd["message"]
    assert "flush subnormal numbers to zero" in autograd["inconclusive"][0]["evidence"]


def test_a_one_sided_infinite_slope_is_not_an_accusation():
    # The double-where entropy at an exact 0: FD grows like -log(h)/2 and never settles.
    code, report = run_json("entropy", "[0.0, 0.3, 0.7]", "--no-lint")
    assert code == ExitCode.OK
    assert set(statuses(report).values()) == {"inconclusive"}
    evidence = report["backends"][2]["inconclusive"][0]["evidence"]
    assert "disagrees, alone" in evidence and "Taylor walk" in evidence


def test_a_run_that_verifies_nothing_exits_2():
    code, report = run_json("entropy", "[0.0]", "--no-lint")
    assert code == ExitCode.USAGE
    assert report["verdict"] == "nothing-verified"


def test_a_run_that_verifies_nothing_says_so_in_the_table():
    result = invoke("run", f"{FAR}:entropy", "--input", "[0.0]", "--no-lint", "--no-timings")
    assert result.exit_code == ExitCode.USAGE
    assert "NOTHING VERIFIED: no entry could be verified" in result.stdout


@pytest.mark.parametrize("source,fragment", [
    ("def f(x):\n    return np.log(x - 5.0) * 2.0\n", "is nan at f[0]"),
    ("def f(x):\n    return np.full(2, np.inf) * x\n", "is inf at f[0]"),
])
def test_a_value_that_is_not_finite_at_the_input_exits_2_in_one_line(tmp_path, source, fragment):
    path = tmp_path / "domain.py"
    path.write_text("import numpy as np\n\n\n" + source)
    result = invoke("run", f"{path}:f", "--input", "[0.5, 1.0]", "--no-lint")
    assert_usage_error(result, fragment, "no derivative can be checked there")


# --- the walk itself ------------------------------------------------------------------------------


def walk(f, x, jac, tolerance):
    x0 = np.array([x])
    value = np.atleast_1d(f(x0))
    plus, minus = witness_ladders(f, x0, value, np.array([0]))
    decisions = []
    for sign, side in ((1.0, plus), (-1.0, minus)):
        agree, disagree, _ = walk_decisions(np.array([[sign * jac]]), value, TaylorLadder(np.array([0]), *side),
                                            np.array([[tolerance]]), np.array([[tolerance]]),
                                            np.ones((1, 1), dtype=bool), 1e3, strict=True, disagree_factor=1.0)
        decisions.append(("agree" if agree[0, 0] else "") + ("disagree" if disagree[0, 0] else ""))
    return decisions


@pytest.mark.parametrize("f,x,truth", [
    (np.sin, 4e7, np.cos(4e7)),
    (np.cos, 1e12, -np.sin(1e12)),
    (lambda x: np.sin(3000.0 * x) + x, 0.2, 3000.0 * np.cos(600.0) + 1.0),
    (lambda x: x * np.exp(x), 700.0, 701.0 * np.exp(700.0)),
], ids=["sin-4e7", "cos-1e12", "sin-3000x", "x-exp-700"])
def test_the_walk_confirms_a_right_derivative_and_convicts_a_wrong_one(f, x, truth):
    tolerance = 1e-6 * abs(truth)
    assert walk(f, x, truth, tolerance) == ["agree", "agree"]
    assert walk(f, x, truth * (1 + 1e-3) + 1e-3, tolerance) == ["disagree", "disagree"]


def test_the_walk_says_nothing_about_a_one_sided_infinite_slope():
    def entropy(p):
        return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)

    assert walk(entropy, 0.0, 0.0, 1e-9)[0] == ""  # h log h: r/h never settles


@pytest.mark.parametrize("x", [-7.5e11, -1.5e10])
def test_the_walk_convicts_nothing_on_steps_that_alias_a_periodic_function(x):
    # sinc at an even integer beside a value of order one: the walk's first steps are integers,
    # where sinc is (to rounding) 0 again: at 7.5e11 f(x + h) == f(x) and r/h = -J exactly; at
    # 1.5e10 r/h stays near -J over long steps and its changes happen to shrink. Shorter steps
    # show the value moving as J says; the true slope is 1/x, which the walk must not convict.
    def f(x):
        return np.sinc(x) + 1.0

    assert "disagree" not in walk(f, x, 1.0 / x, 1e-6 / abs(x))


def test_the_walk_still_convicts_a_slope_on_a_function_that_never_moves():
    # The value stays put on every step down to an ulp: r/h = -J is then a measurement.
    def f(x):
        return np.ones_like(x)

    assert walk(f, 0.5, 1.0, 1e-6) == ["disagree", "disagree"]


def test_the_walk_steps_on_the_float32_grid_a_float32_function_rounds_to():
    # Recorded as x + h in float64, a step is off by up to half a float32 ulp of x from the one
    # a float32 function takes; on the grid the recorded step is the one taken.
    x0 = np.array([np.float32(3.1), np.float32(1e3)], dtype=np.float64)

    def in_float32(z):
        return np.asarray(z, dtype=np.float64).astype(np.float32).astype(np.float64)

    value = in_float32(x0)
    plus, minus = witness_ladders(in_float32, x0, value, np.array([0, 1]), eps=np.full(2, 2.0**-23))
    for sign, (steps, values, _) in ((1.0, plus), (-1.0, minus)):
        for c in range(2):
            points = x0[c] + sign * steps[c]
            assert np.array_equal(points, points.astype(np.float32).astype(np.float64))
            assert np.array_equal(values[c, c], points)
