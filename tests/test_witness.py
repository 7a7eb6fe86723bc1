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
from adcheck.ladders import witness_ladders
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


def test_a_slope_hidden_under_a_large_value_is_not_convicted_on_saturated_steps():
    # FD's steps and the walk's first ones are of the typical magnitude (1.9e6), where tanh is
    # saturated; short steps sink under the value's rounding. Nothing resolves the entry.
    code, report = run_json("saturating_beside_large", "[0.3, 2.7e6]", "--no-lint")
    assert code == ExitCode.OK, report
    assert set(statuses(report).values()) <= {"agree", "inconclusive"}, statuses(report)


def test_a_walk_that_the_complex_step_contradicts_convicts_nothing():
    # Rastrigin far out: FD and the walk's long steps see x**2 alone; the complex step sees the
    # cosine too. Two witnesses that contradict each other leave the entry unverified.
    code, report = run_json("rastrigin_far", "[2718281.8]", "--no-lint")
    assert code != ExitCode.FAILED, report
    assert set(statuses(report).values()) <= {"agree", "inconclusive"}, statuses(report)
    # The report says the witnesses contradicted each other, and shows the complex step's value.
    (row,) = [b for b in report["backends"] if b["name"] == "autograd"]
    assert row["status"] == "inconclusive", row
    assert "the complex step, which does not cancel, sides with the backend" in row["message"]
    (entry,) = row["inconclusive"]
    assert "complex step 5.4365e+06" in entry["evidence"] and "Taylor walk" in entry["evidence"]


def test_a_walk_whose_value_never_moves_convicts_nothing():
    # A float32 softmax at inputs of 1.5e-8: the value is 0.2 bit for bit on every step of FD and
    # of the walk, so both read a slope of 0 where the AD backends' 0.16 is right. Nothing can
    # verify the derivative there: nothing verified (exit 2), no accusation.
    code, report = run_json("float32_softmax", json.dumps([1.4901161193847656e-08] * 5), "--no-lint")
    assert code == ExitCode.USAGE, report
    assert report["verdict"] == "nothing-verified"
    assert set(statuses(report).values()) == {"inconclusive"}, statuses(report)
    (row,) = [b for b in report["backends"] if b["name"] == "autograd"]
    assert "the value is the same on every step" in row["inconclusive"][0]["evidence"]


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



# --- fast mode: products along directions, the same two-witness rule ------------------------------


@pytest.mark.parametrize("target,value", [
    ("high_frequency", "[0.2, 0.3, 0.4]"),  # a vector output: forward products entry by entry, and
    # the reverse backends' sampled rows vote on them
    ("very_high_frequency", "[0.3, 1.2]"),
    ("sin_far", "[4e7, 123456789.0, 1e10]"),
    # Steps along a direction long against 0.5 on every rung the walk can take beside 1e30: tanh
    # is saturated on all of them, which is no flat function.
    ("tanh_saturated", "[1e30, -1e30, 0.5]"),
    # A value that rounds in steps (which the second difference cannot see: the steps are symmetric
    # about x), and a derivative that cancels: the formula's rounding, measured along the
    # directions, explains what AD differs by, as in full mode.
    ("one_minus_cos_naive", "[1e-5, 1e-3, 0.5]"),
    ("one_minus_cos_half_angle", "[1e-5, 1e-3, 0.5]"),
])
def test_fast_mode_does_not_accuse_on_finite_differences_alone(target, value):
    code, report = run_json(target, value, "--no-lint", "--mode", "fast")
    assert code == ExitCode.OK, report
    found = statuses(report)
    assert found and set(found.values()) <= {"agree", "inconclusive"}, found
    assert "share is wrong" not in report["consensus"]


def test_fast_mode_says_where_the_walk_overruled_finite_differences():
    code, report = run_json("high_frequency", "[0.2, 0.3, 0.4]", "--no-lint", "--mode", "fast")
    assert code == ExitCode.OK
    assert set(statuses(report).values()) == {"agree"}
    message = next(b["message"] for b in report["backends"] if b["name"] == "jax-rev")
    assert "finite differences overruled at" in message and "Taylor remainder walked along the direction" in message


@pytest.mark.parametrize("target,value,backend", [
    ("high_frequency_dropped_term", "[0.2, 0.3, 0.4]", "jax-fwd"),
    ("sin_far_wrong_sign", "[4e7]", "jax-rev"),  # one input: the direction is a basis vector, its steps exact
])
def test_fast_mode_convicts_a_planted_rule_with_the_walk_as_second_witness(target, value, backend):
    code, report = run_json(target, value, "--no-lint", "--no-blame", "--mode", "fast")
    assert code == ExitCode.FAILED, report
    verdict = next(b for b in report["backends"] if b["name"] == backend)
    assert verdict["status"] == "disagree"
    assert "the Taylor remainder walked along the direction agrees" in verdict["message"]


def test_a_walk_along_a_direction_drops_the_rungs_its_rounding_can_mislead():
    from adcheck.ladders import direction_ladders
    from adcheck.model import Witness
    from adcheck.verdict.products import trusted_walk

    def f(x):
        return np.atleast_1d(np.sum(np.sin(x)))

    basis = np.array([[0.0], [1.0], [0.0]])
    oblique = np.array([[1.0], [-2.0], [3.0]]) / np.sqrt(14.0)
    for x0, direction, exact in ((np.array([0.2, 0.3, 0.4]), basis, True),
                                 (np.array([4e7, 1e8, 1.2e8]), oblique, False)):
        plus, minus = direction_ladders(f, x0, f(x0), direction)
        assert (plus[3] == 0).all() == exact  # a step along a basis vector is exact, along another not
        ladder = TaylorLadder(np.array([0]), *plus)
        kept = trusted_walk(Witness(ladder, ladder), reach=np.ones(1), tolerance=np.full((1, 1), 1e-6)).plus
        dropped = np.isnan(kept.values) & ~np.isnan(ladder.values)
        assert dropped.any() != exact
        if not exact:  # the short steps go first: their rounding off the direction is largest against h
            assert dropped[0, 0, -3:].any() and not dropped[0, 0, :3].any()


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


def test_the_functions_own_warnings_from_the_workers_do_not_crowd_the_one_line(tmp_path):
    # The workers' stderr is the terminal's: only a real process shows what they print there.
    import subprocess
    import sys

    from conftest import CliResult

    path = tmp_path / "domain.py"
    path.write_text("import numpy as np\n\n\ndef f(x):\n    return np.log(x - 5.0) * 2.0\n")
    done = subprocess.run([sys.executable, "-m", "adcheck", "run", f"{path}:f", "--input", "[0.5, 1.0]", "--no-lint"],
                          capture_output=True, text=True, timeout=300)
    assert_usage_error(CliResult(done.returncode, done.stdout, done.stderr), "is nan at f[0]")


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


def test_the_walk_does_not_start_where_a_large_neighbour_saturates_the_function():
    # -|x|**2 + 5 tanh(x[0]) at [0.3, 2.7e6]: the inputs' unit is 1.9e6, and steps of that length
    # see tanh saturated, where r/h settles on minus tanh's slope (a wrong derivative's look).
    # The walk starts on max(|x_0|, 1) instead, and then resolves nothing under the value's
    # rounding (7.3e12 * eps): silent, not a conviction of the right slope.
    def f(x):
        return np.atleast_1d(-np.dot(x, x) + 5.0 * np.tanh(x[0]))

    x0 = np.array([0.3, 2.7e6])
    value = f(x0)
    truth = -2 * x0[0] + 5.0 / np.cosh(x0[0]) ** 2
    plus, minus = witness_ladders(f, x0, value, np.array([0]))
    assert plus[0][0, 0] < 1.0  # (it was a quarter of 1.9e6)
    for sign, side in ((1.0, plus), (-1.0, minus)):
        jacobian = np.array([[sign * truth, 0.0]])
        wanted = np.array([[True, False]])
        tolerance = np.full((1, 2), 1e-6 * abs(truth))
        _, disagree, _ = walk_decisions(jacobian, value, TaylorLadder(np.array([0]), *side), tolerance, tolerance,
                                        wanted, 1e3, strict=True, disagree_factor=1.0)
        assert not disagree[0, 0]


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
