"""The verdict engine (``adcheck.compare``): agree, disagree or inconclusive, entry by entry, in
any units. Hand-made runs, no processes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adcheck.compare import compare
from adcheck.verdict.taylor import taylor_decisions
from adcheck.verdict.tolerances import RowTolerances, absolute_tolerance, agreement_bound, uniform_eps
from adcheck.model import (
    BackendRun,
    ComplexStep,
    Finding,
    OneSided,
    Precision,
    ProbeResult,
    Reference,
    Status,
    TaylorLadder,
)

FAST = settings(max_examples=60, deadline=None)


def reference_run(jac, err, value=None, **reference):
    value = np.ones(jac.shape[0]) if value is None else value
    extra = Reference(Precision("float64", uniform_eps(jac.shape[0])), **reference) if reference else None
    return BackendRun("fd", Status.REFERENCE, value=value, jacobian=jac, error=err, reference=extra)


def backend_run(jac, value=None, name="autograd", rebound=""):
    value = np.ones(jac.shape[0]) if value is None else value
    return BackendRun(name, Status.COMPUTED, value=value, jacobian=jac, rebound=rebound)


def verdict_of(runs, name="autograd", **options):
    return compare(runs, **options).verdict(name)


# --- in any units -----------------------------------------------------------------------------------

magnitudes = st.floats(min_value=1e-3, max_value=1e3)
signs = st.sampled_from([-1.0, 1.0])


@st.composite
def cases(draw):
    """A Jacobian, FD error bars a little above rounding, values, inputs, and a perturbation that is
    either far inside every tolerance (right) or far outside it at one entry (wrong)."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    jac = draw(hnp.arrays(np.float64, (rows, cols), elements=magnitudes)) * draw(
        hnp.arrays(np.float64, (rows, cols), elements=signs))
    err = np.abs(jac) * draw(hnp.arrays(np.float64, (rows, cols), elements=st.floats(1e-14, 1e-10)))
    value = draw(hnp.arrays(np.float64, (rows,), elements=magnitudes))
    x = draw(hnp.arrays(np.float64, (cols,), elements=magnitudes))
    wrong = draw(st.booleans())
    other = jac * (1 + draw(hnp.arrays(np.float64, (rows, cols), elements=st.floats(-1e-12, 1e-12))))
    entry = (draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1)))
    if wrong:
        other[entry] = jac[entry] * draw(st.sampled_from([-1.0, 0.0, 0.5, 2.0, 1.01, 1e3]))
    return jac, err, value, x, other, wrong, entry


@FAST
@given(cases(), st.integers(-30, 30), st.integers(-30, 30))
def test_no_verdict_changes_with_the_units_of_outputs_or_inputs(case, output_power, input_power):
    jac, err, value, x, other, wrong, entry = case
    output, inputs = 10.0 ** output_power, 10.0 ** input_power

    def judge(o, i):
        # Outputs times o and inputs times i: values scale by o, Jacobians and error bars by o / i.
        runs = [reference_run(jac * o / i, err * o / i, value * o), backend_run(other * o / i, value * o)]
        return verdict_of(runs, input_scales=x * i)

    base, scaled = judge(1.0, 1.0), judge(output, inputs)
    assert scaled.status == base.status == (Status.DISAGREE if wrong else Status.AGREE)
    assert scaled.n_mismatches == base.n_mismatches
    if wrong:  # (among entries that all agree, the "worst" is rounding noise: no claim about it)
        assert scaled.worst_entry == base.worst_entry == entry


@pytest.mark.parametrize("power", [-14, 0, 14])
def test_a_wrong_derivative_of_a_tiny_function_is_caught(power):
    # The tiny_sq at 1e-14: an absolute floor would accept anything below it.
    scale = 10.0**power
    x = np.array([0.5, 1.0, 2.0])
    truth = np.diag(2 * scale * x)
    fd = reference_run(truth, 1e-10 * np.abs(truth) + 1e-30 * scale, value=scale * x**2)
    right = verdict_of([fd, backend_run(truth.copy(), value=scale * x**2)], input_scales=x)
    twice = verdict_of([fd, backend_run(2 * truth, value=scale * x**2)], input_scales=x)
    zeros = verdict_of([fd, backend_run(np.zeros_like(truth), value=scale * x**2)], input_scales=x)
    assert right.status == Status.AGREE
    assert twice.status == zeros.status == Status.DISAGREE


def test_a_row_of_tiny_derivatives_is_judged_in_its_own_units():
    # Output 1 is 1e-20 of output 0; its wrong entry must not hide under output 0's scale.
    jac = np.array([[1.0, 2.0], [1e-20, 3e-20]])
    wrong = jac.copy()
    wrong[1, 1] = 6e-20
    fd = reference_run(jac, 1e-12 * np.abs(jac), value=np.array([1.0, 1e-20]))
    verdict = verdict_of([fd, backend_run(wrong, value=np.array([1.0, 1e-20]))], input_scales=np.ones(2))
    assert verdict.status == Status.DISAGREE and verdict.worst_entry == (1, 1)


def test_an_input_the_outputs_do_not_depend_on_is_not_inconclusive():
    # Column 1 is exactly zero: its FD entries carry rounding noise, which is not doubt.
    jac = np.array([[2.0, 0.0], [3.0, 0.0]])
    err = np.array([[1e-12, 3e-15], [1e-12, 4e-15]])
    fd = reference_run(jac, err, value=np.array([1.0, 2.0]))
    verdict = verdict_of([fd, backend_run(jac + np.array([[0, 1e-17], [0, 0]]), value=np.array([1.0, 2.0]))],
                         input_scales=np.ones(2))
    assert verdict.status == Status.AGREE


# --- three answers -----------------------------------------------------------------------------------


def noisy_reference():
    """Entry (0, 1) has an FD error bar as wide as the entry: it settles nothing there."""
    jac = np.array([[1.0, 2e-6], [0.5, 3.0]])
    err = np.array([[1e-12, 2e-5], [1e-12, 1e-12]])
    return jac, err


def test_an_unsure_reference_is_inconclusive_with_one_backend_not_a_disagreement():
    jac, err = noisy_reference()
    ad = jac.copy()
    ad[0, 1] = 1e-16  # inside the wide error bar
    verdict = verdict_of([reference_run(jac, err), backend_run(ad)], input_scales=np.ones(2))
    assert verdict.status == Status.INCONCLUSIVE
    assert verdict.n_inconclusive == 1 and verdict.n_mismatches == 0
    (entry,) = verdict.inconclusive
    assert (entry.row, entry.col) == (0, 1)
    assert "fd 2e-06 ± 2.0e-05 (too wide to decide)" in entry.evidence
    assert "no other AD backend" in entry.evidence


def test_ad_consensus_verifies_what_the_reference_cannot():
    jac, err = noisy_reference()
    ad = jac.copy()
    ad[0, 1] = 1e-16
    runs = [reference_run(jac, err), backend_run(ad), backend_run(ad * (1 + 1e-12), name="jax-rev")]
    comparison = compare(runs, input_scales=np.ones(2))
    for name in ("autograd", "jax-rev"):
        verdict = comparison.verdict(name)
        assert verdict.status == Status.AGREE
        assert verdict.n_consensus == 1
        assert "1 entry verified only by agreement with the other AD backends" in verdict.message


def test_backends_that_differ_where_nothing_decides_are_inconclusive_not_blamed():
    jac, err = noisy_reference()
    one, two = jac.copy(), jac.copy()
    one[0, 1], two[0, 1] = 1e-16, 5e-6  # both inside the error bar, different from each other
    comparison = compare([reference_run(jac, err), backend_run(one), backend_run(two, name="jax-rev")],
                         input_scales=np.ones(2))
    for name in ("autograd", "jax-rev"):
        assert comparison.verdict(name).status == Status.INCONCLUSIVE
        assert "the AD backends differ here" in comparison.verdict(name).inconclusive[0].evidence


def test_outside_even_a_wide_error_bar_is_a_disagreement():
    jac, err = noisy_reference()
    ad = jac.copy()
    ad[0, 1] = 1.0  # 5e4 error bars away
    verdict = verdict_of([reference_run(jac, err), backend_run(ad)], input_scales=np.ones(2))
    assert verdict.status == Status.DISAGREE and verdict.worst_entry == (0, 1)


def test_the_complex_step_confirms_a_single_backend():
    jac, err = noisy_reference()
    ad = jac.copy()
    ad[0, 1] = 1e-16
    cs = ComplexStep(np.array([1]), np.array([[1e-16], [3.0]]), np.array([[1e-30], [1e-15]]))
    verdict = verdict_of([reference_run(jac, err, complex_step=cs), backend_run(ad)], input_scales=np.ones(2))
    assert verdict.status == Status.AGREE
    assert "verified only by the complex step" in verdict.message


def test_the_complex_step_alone_never_condemns():
    jac, err = noisy_reference()
    ad = jac.copy()
    ad[0, 1] = 1e-16
    cs = ComplexStep(np.array([1]), np.array([[7e-6], [3.0]]), np.array([[1e-30], [1e-15]]))
    verdict = verdict_of([reference_run(jac, err, complex_step=cs), backend_run(ad)], input_scales=np.ones(2))
    assert verdict.status == Status.INCONCLUSIVE


# --- the Taylor test ---------------------------------------------------------------------------------


def ladder_for(f, x, column, noise):
    steps = 0.25 * 4.0 ** -np.arange(10)
    values = np.stack([f(x + h * np.eye(x.size)[column]) for h in steps], axis=1)
    return TaylorLadder(np.array([column]), steps[None, :], values[:, None, :], np.full(values.shape[0], noise))


def test_taylor_remainders_tell_a_right_derivative_from_a_wrong_one():
    def f(x):
        return np.array([np.exp(x[0]) * x[1]])

    x = np.array([0.3, 2.0])
    right = np.array([[np.exp(0.3) * 2.0, np.exp(0.3)]])
    ladder = ladder_for(f, x, 0, 1e-16)
    tolerance = 1e-6 * np.abs(right)  # rtol 1e-6, as for float64
    agree, disagree, _ = taylor_decisions(right, f(x), ladder, tolerance)
    assert agree[0, 0] and not disagree[0, 0]
    wrong = right.copy()
    wrong[0, 0] *= 1.5
    agree, disagree, estimate = taylor_decisions(wrong, f(x), ladder, tolerance)
    assert disagree[0, 0] and not agree[0, 0]
    assert estimate[0, 0] == pytest.approx(0.5 * right[0, 0], rel=1e-3)


def test_taylor_settles_what_fd_cannot_and_catches_what_fd_misses():
    def f(x):
        return np.array([np.sin(x[0]) + 1e-6 * x[1] ** 2])

    x = np.array([0.4, 1.0])
    truth = np.array([[np.cos(0.4), 2e-6]])
    err = np.array([[1e-12, 1e-5]])  # pretend FD cannot see the 2e-6 entry
    fd = reference_run(truth, err, value=f(x), taylor=ladder_for(f, x, 1, 4e-16))
    assert verdict_of([fd, backend_run(truth.copy(), value=f(x))], input_scales=np.ones(2)).status == Status.AGREE
    wrong = truth.copy()
    wrong[0, 1] = 4e-6
    assert verdict_of([fd, backend_run(wrong, value=f(x))], input_scales=np.ones(2)).status == Status.DISAGREE


# --- impurity, kinks, values -------------------------------------------------------------------------


def test_an_impure_function_makes_the_reference_unusable_and_fails():
    jac = np.array([[1e30]])
    impure = Finding("ADC601", "error", "f.py", 1, 1, "two identical calls return different values")
    fd = BackendRun("fd", Status.REFERENCE, value=np.ones(1), jacobian=jac, error=np.array([[1e30]]),
                    probes=ProbeResult((impure,)))
    comparison = compare([fd, backend_run(np.array([[2.0]])), backend_run(np.array([[2.0]]), name="jax-rev")])
    assert comparison.verdict("fd").status == Status.UNUSABLE
    assert comparison.failed
    assert comparison.verdict("autograd").status == Status.INCONCLUSIVE
    assert comparison.verdict("autograd").max_abs_error is None  # no error against an unusable reference
    assert comparison.odd_one_out == ("fd",)
    assert "the AD backends agree with each other" in comparison.consensus


def test_a_shared_wrong_rule_gets_the_shared_rule_headline():
    truth = np.array([[2.0]])
    runs = [reference_run(truth, np.array([[1e-12]])), backend_run(np.array([[4.0]])),
            backend_run(np.array([[4.0]]), name="jax-rev")]
    comparison = compare(runs)
    assert set(comparison.odd_one_out) == {"autograd", "jax-rev"}
    assert "a derivative rule these backends share is wrong" in comparison.consensus


def test_a_value_between_the_one_sided_derivatives_is_a_kink():
    jac = np.array([[0.0, 1.0]])  # central FD of |x0| at 0 is 0
    one_sided = OneSided(np.array([0]), np.array([[1.0]]), np.array([[1e-12]]), np.array([[-1.0]]),
                         np.array([[1e-12]]))
    fd = reference_run(jac, np.full((1, 2), 1e-12), one_sided=one_sided)
    for subgradient in (1.0, -1.0, 0.3):
        verdict = verdict_of([fd, backend_run(np.array([[subgradient, 1.0]]))], input_scales=np.ones(2))
        assert verdict.status == Status.KINK and verdict.kinks == ((0, 0),)
    outside = verdict_of([fd, backend_run(np.array([[2.0, 1.0]]))], input_scales=np.ones(2))
    assert outside.status == Status.DISAGREE


def test_nan_where_the_reference_is_finite_disagrees_and_shows_as_nan():
    jac = np.array([[1.0, 2.0]])
    ad = np.array([[1.0, np.nan]])
    verdict = verdict_of([reference_run(jac, np.full((1, 2), 1e-12)), backend_run(ad)])
    assert verdict.status == Status.DISAGREE and verdict.n_nonfinite == 1
    assert math.isnan(verdict.max_abs_error)
    assert (verdict.mismatches[0].row, verdict.mismatches[0].col) == (0, 1)


def test_other_values_under_rebinding_mean_the_backend_cannot_run_the_code():
    jac = np.array([[1.0]])
    rebound = backend_run(jac.copy(), value=np.array([2.0]), name="jax-rev", rebound="numpy rebound to jax.numpy")
    native = backend_run(jac.copy(), value=np.array([2.0]), name="autograd")
    comparison = compare([reference_run(jac, np.array([[1e-12]])), rebound, native])
    assert comparison.verdict("jax-rev").status == Status.NOT_APPLICABLE
    assert "numpy rebound to jax.numpy" in comparison.verdict("jax-rev").message
    assert comparison.verdict("autograd").status == Status.DISAGREE  # its own code, other values: a failure


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_one_wrong_entry_is_found_and_located(rows, cols, data):
    jac = data.draw(hnp.arrays(np.float64, (rows, cols), elements=magnitudes))
    err = 1e-12 * np.abs(jac)
    i, j = data.draw(st.integers(0, rows - 1)), data.draw(st.integers(0, cols - 1))
    tol = RowTolerances(uniform_eps(rows))
    bound = agreement_bound(jac, err, tol, absolute_tolerance(np.abs(jac), np.ones(rows), uniform_eps(rows), 1.0,
                                                              tol.atol_scale))
    factor = data.draw(st.floats(min_value=2.0, max_value=1e6))
    other = jac.copy()
    other[i, j] += data.draw(signs) * factor * bound[i, j]
    assume(abs(other[i, j] - jac[i, j]) > bound[i, j])
    verdict = verdict_of([reference_run(jac, err), backend_run(other)])
    assert verdict.status == Status.DISAGREE
    assert verdict.n_mismatches == 1 and verdict.worst_entry == (i, j)
    assert [(m.row, m.col) for m in verdict.mismatches] == [(i, j)]
    assert verdict.mismatches[0].reference == jac[i, j] and verdict.mismatches[0].value == other[i, j]
    assert verdict.mismatches[0].rel_error > 1  # the error over the tolerance that applied


def test_taylor_decisions_of_many_entries_are_each_entrys_own():
    # Outputs are decided together when their remainders rise above the noise at the same rungs:
    # the grouping must not change any entry's decision. Here entries of every kind (right,
    # wrong, flat, noisy, non-finite) are decided at once and then one at a time.
    rng = np.random.default_rng(7)
    x = rng.normal(size=3)
    a = rng.normal(size=(6, 3))

    def f(x):
        return np.concatenate([np.tanh(a @ x), [1e-9 * x[0] ** 2, 0.0 * x[1], x @ x]])

    truth = np.vstack([(1 - np.tanh(a @ x) ** 2)[:, None] * a, [2e-9 * x[0], 0, 0], [0, 0, 0], 2 * x])
    jacobian = truth * np.where(rng.random(truth.shape) < 0.3, 1.5, 1.0)
    steps = 0.25 * 4.0 ** -np.arange(9)
    columns = np.array([2, 0])
    values = np.stack([np.stack([f(x + h * np.eye(3)[j]) for h in steps], axis=1) for j in columns], axis=1)
    values[1, 0, 4] += 1e-7  # one noisy rung
    values[2, 1, 3] = np.nan
    noise = np.full(values.shape[0], 4e-16)
    ladder = TaylorLadder(columns, np.stack([steps, steps]), values, noise)
    tolerance = 1e-6 * np.abs(truth) + 1e-14
    together = taylor_decisions(jacobian, f(x), ladder, tolerance)
    assert together[0].any() and together[1].any()  # both kinds of decision occur
    for i in range(truth.shape[0]):
        for c, j in enumerate(columns):
            one = TaylorLadder(columns[c:c + 1], ladder.steps[c:c + 1], values[i:i + 1, c:c + 1], noise[i:i + 1])
            alone = taylor_decisions(jacobian[i:i + 1], f(x)[i:i + 1], one, tolerance[i:i + 1])
            picked = [k[0, j] for k in alone]
            assert [bool(k[i, j]) for k in together[:2]] == [bool(p) for p in picked[:2]]
            np.testing.assert_equal(together[2][i, j], picked[2])
    # Deciding only some entries decides those the same way and leaves the others undecided.
    wanted = rng.random(truth.shape) < 0.5
    some = taylor_decisions(jacobian, f(x), ladder, tolerance, wanted=wanted)
    for full, part in zip(together[:2], some[:2]):
        assert np.array_equal(part, full & wanted)
    np.testing.assert_equal(some[2], np.where(wanted, together[2], np.nan))
