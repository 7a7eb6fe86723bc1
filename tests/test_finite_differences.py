"""The finite-difference numerics (``adcheck.finite_differences``) on functions where naive
differences fail.

Each case is a correct derivative; the reference, within its own error bar and the tolerance
table, must match it (or adcheck would raise a false alarm), and its error bar must be narrow
enough to settle the entry (or it would verify nothing).
"""

import warnings

import numpy as np
import pytest
from scipy.special import softmax

from adcheck import finite_differences as fdm
from adcheck.backends.calling import enable_batching, plain_flat_function
from adcheck.verdict.tolerances import RowTolerances, absolute_tolerance, agreement_bound, reference_settles, uniform_eps
from adcheck.inputs import promote
from conftest import load_fixture

hostile = load_fixture("fd_hostile")
kinks = load_fixture("kinks")


def linear_solve_jacobian(x):
    n = x.size
    rng = np.random.default_rng(1)
    a = np.eye(n) * n + rng.standard_normal((n, n))
    return np.linalg.solve(a, np.diag(2 * x))


CASES = {
    # name: (function, point, exact Jacobian)
    "cos at 3e7 (step vs ulp)": (hostile.cos_far, [3e7], lambda x: np.diag(-np.sin(x))),
    "exp(30x) at 20 (steep)": (hostile.exp_steep, [20.0], lambda x: np.diag(30 * np.exp(30 * x))),
    "sqrt at 1e-10 (domain edge)": (hostile.sqrt_tiny, [1e-10], lambda x: np.diag(0.5 / np.sqrt(x))),
    "sqrt at 1e-10 beside an input of 1 (domain edge, mixed scales)": (
        hostile.sqrt_tiny, [1e-10, 1.0], lambda x: np.diag(0.5 / np.sqrt(x))),
    "exp at 1e-8 beside 0.5 (tiny input)": (np.exp, [1e-8, 0.5], lambda x: np.diag(np.exp(x))),
    "logsumexp 1e3 apart (cancellation)": (hostile.log_sum_exp, [0.0, 1000.0, -1000.0],
                                           lambda x: softmax(x)[None, :]),
    "minimum of inputs 1e-7 apart (nearby kink)": (
        hostile.min_close, [1.0, 1.0 + 1e-7],
        lambda x: np.array([[2 * x[0], 0.0], [x[1], x[0]]])),
    "1e-12 scale": (hostile.tiny_scale, [0.3, 1.0, 2.0], lambda x: np.diag(1e-12 * np.cos(x))),
    "1e12 scale": (hostile.huge_scale, [0.3, 1.0, 2.0], lambda x: np.diag(1e12 / np.cosh(x) ** 2)),
    "inputs at 1e-30": (np.sin, [1e-30, 3e-30], lambda x: np.diag(np.cos(x))),
    "inputs at 1e30": (lambda x: np.log(x), [1e30, 3e30], lambda x: np.diag(1 / x)),
}


def tolerances_for(truth, x, value):
    eps = uniform_eps(truth.shape[0])
    tol = RowTolerances(eps)
    return tol, absolute_tolerance(np.abs(truth), value, eps, fdm.input_scales(x), tol.atol_scale)


def assert_matches(jac, err, truth, x, value, settles=True):
    """Within the comparison's bound, with an error bar that is not wildly pessimistic (at most
    1e-4 of the entry's scale: an upper bound on the estimate) and, unless told otherwise,
    narrow enough to settle every entry."""
    tol, atol = tolerances_for(truth, x, value)
    assert np.all(np.abs(truth - jac) <= agreement_bound(jac, err, tol, atol)), (jac, truth, err)
    if settles:
        assert reference_settles(jac, err, tol, atol).all(), err
        assert np.all(err <= np.maximum(1e-4 * np.abs(truth), atol)), (err, truth)


# A kink 1e-7 away bounds how small a step may be: FD is right there, but not sure enough to settle
# every entry alone (the Taylor test and the other backends settle the rest).
NOT_SETTLED_ALONE = {"minimum of inputs 1e-7 apart (nearby kink)"}


@pytest.mark.parametrize("name", CASES)
def test_fd_matches_exact_jacobian_on_fd_hostile_function(name):
    func, point, exact = CASES[name]
    x = np.asarray(point, dtype=float)
    flat = lambda z: np.atleast_1d(func(z)).ravel()  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt/log outside the domain on big rungs
        value = flat(x)
        jac, err = fdm.finite_difference_jacobian(flat, x, value.size)
    assert_matches(jac, err, exact(x), x, value, settles=name not in NOT_SETTLED_ALONE)


@pytest.mark.parametrize("power", [-30, -14, 0, 14, 30])
def test_fd_steps_and_error_bars_scale_with_inputs_and_outputs(power):
    scale = 10.0 ** power
    x = np.array([0.3, 1.0, 2.0])
    base_jac, base_err = fdm.finite_difference_jacobian(np.sin, x, 3)
    # Inputs in other units: g(y) = sin(y / s) at y = s x has the Jacobian J / s.
    jac, err = fdm.finite_difference_jacobian(lambda y: np.sin(y / scale), x * scale, 3)
    np.testing.assert_allclose(jac * scale, base_jac, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(err * scale, base_err, rtol=1e-3, atol=1e-14)
    # Outputs in other units.
    jac, err = fdm.finite_difference_jacobian(lambda y: scale * np.sin(y), x, 3)
    np.testing.assert_allclose(jac / scale, base_jac, rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(err / scale, base_err, rtol=1e-3, atol=1e-14)


def test_fd_on_150x150_linear_solve():
    x = np.random.default_rng(0).standard_normal(150)
    value = hostile.linear_solve(x)
    jac, err = fdm.finite_difference_jacobian(hostile.linear_solve, x, value.size)
    truth = linear_solve_jacobian(x)
    tol, atol = tolerances_for(truth, x, value)
    assert np.all(np.abs(truth - jac) <= agreement_bound(jac, err, tol, atol))


@pytest.mark.parametrize("func", [kinks.absolute, kinks.relu])
def test_one_sided_derivatives_expose_the_kink_at_zero(func):
    x = np.array([0.0, 1.0, -2.0])
    found = fdm.one_sided_at_kinks(func, x, func(x))
    assert found is not None
    assert list(found.columns) == [0]  # only the input sitting on the kink
    assert found.plus[0, 0] == pytest.approx(1.0)
    assert found.minus[0, 0] == pytest.approx(-1.0 if func is kinks.absolute else 0.0, abs=1e-12)


def test_one_sided_screen_finds_nothing_on_a_smooth_function():
    x = np.array([0.0, 1.0, -2.0])
    assert fdm.one_sided_at_kinks(np.sin, x, np.sin(x)) is None


def test_one_sided_screen_is_scale_free():
    x = np.array([1e-20, 2e-20])
    assert fdm.one_sided_at_kinks(np.sin, x, np.sin(x)) is None
    found = fdm.one_sided_at_kinks(np.abs, x - 1e-20, np.abs(x - 1e-20))
    assert found is not None and list(found.columns) == [0]


def test_an_exact_zero_converges_in_a_row_far_above_the_median_output():
    # A cumulative product's outputs span hundreds of orders of magnitude; an entry above the
    # diagonal is exactly zero, and its stencil's rounding (eps*|f_i|/h) is far above a
    # tolerance drawn from the median output. Each output in its own unit: every entry converges.
    def cumprod(v):
        return np.cumprod(v, axis=0)

    x = np.random.default_rng(0).standard_normal(40) * 1e-6
    x[:3] = [2.0, 3.0, 0.5]
    jac, err, converged = fdm.finite_difference_jacobian(cumprod, x, x.size, with_convergence=True)
    exact = np.tril(np.cumprod(x)[:, None] / x[None, :])
    assert converged.all()
    assert_matches(jac, err, exact, x, cumprod(x))


# --- the working precision ---------------------------------------------------------------------------


def test_working_precision_of_a_float64_function():
    x = np.array([0.3, 1.7])
    name, eps, measured = fdm.working_precision(np.sin, x, np.sin(x))
    assert name == "float64" and measured
    assert np.all(eps == np.finfo(np.float64).eps)


def test_working_precision_of_code_that_passes_through_float32():
    def f(x):
        return (np.sin(x.astype(np.float32)) * np.float32(2)).astype(np.float64)

    x = np.array([0.3, 1.7])
    name, eps, measured = fdm.working_precision(f, x, f(x))
    assert name == "float32" and measured
    assert np.all(eps == np.finfo(np.float32).eps)


def test_working_precision_per_output():
    def f(x):
        return np.array([np.sin(x[0]), float(np.float32(np.cos(np.float32(x[1]))))])

    x = np.array([0.3, 1.7])
    name, eps, _ = fdm.working_precision(f, x, f(x))
    assert name == "float32"
    assert eps[0] == np.finfo(np.float64).eps and eps[1] == np.finfo(np.float32).eps


def test_a_float64_function_that_barely_depends_on_its_inputs_stays_float64():
    def f(x):
        return 1.0 + 1e-12 * x

    x = np.array([0.5, 2.0])
    name, eps, _ = fdm.working_precision(f, x, f(x))
    assert name == "float64"


def test_float32_internal_fd_is_right_with_the_measured_precision():
    # With float64 assumed, scipy settles on steps where every value rounds to the same float32
    # and reports a wrong derivative with a tiny error bar; with float32 measured it does not.
    def f(x):
        return np.tanh(x.astype(np.float32)).astype(np.float64)

    x = np.array([0.5, -1.2, 2.0])
    value = f(x)
    _, eps, _ = fdm.working_precision(f, x, value)
    jac, err = fdm.finite_difference_jacobian(f, x, 3, eps=eps, value=value)
    truth = np.diag(1 - np.tanh(x) ** 2)
    tol = RowTolerances(eps)
    atol = absolute_tolerance(np.abs(truth), value, eps, fdm.input_scales(x), tol.atol_scale)
    assert np.all(np.abs(jac - truth) <= agreement_bound(jac, err, tol, atol))
    # And float64 assumed gets it wrong, which is why the precision is measured.
    wrong, wrong_err = fdm.finite_difference_jacobian(f, x, 3, value=value)
    assert not np.all(np.abs(wrong - truth) <= agreement_bound(wrong, wrong_err, RowTolerances(uniform_eps(3)), atol))


# --- the complex step and the Taylor ladder ----------------------------------------------------------


def test_complex_step_is_exact_to_rounding_on_an_analytic_function():
    # Squire and Trapp's example: FD loses half the digits to the step, the complex step none.
    def f(z):
        return np.exp(z) / np.sqrt(np.sin(z) ** 3 + np.cos(z) ** 3)

    def exact(x):
        s, c = np.sin(x), np.cos(x)
        g = s**3 + c**3
        return np.exp(x) / np.sqrt(g) * (1 - 1.5 * (s**2 * c - c**2 * s) / g)

    x = np.array([1.5, 0.5])
    jac, err = fdm.complex_step_jacobian(f, x, f(x), np.arange(2))
    np.testing.assert_allclose(np.diag(jac), exact(x), rtol=1e-14)
    assert np.all(np.diag(err) <= 1e-11 * np.abs(exact(x)))  # FD's best is about 1e-9


@pytest.mark.parametrize(("func", "why"), [
    (lambda z: np.abs(z), "real values"),
    (lambda z: np.real(z) ** 2, "real values"),
    (lambda z: z.astype(np.float64) ** 2, "real values|does not run on complex"),
    (lambda z: np.array([float(v) for v in z]), "real values|does not run on complex"),
])
def test_complex_step_refuses_functions_that_are_not_analytic(func, why):
    x = np.array([0.5, 1.5])
    with pytest.raises(fdm.NotAnalytic, match=why):
        fdm.complex_step_jacobian(func, x, np.asarray(func(x), dtype=float), np.arange(2))


def test_batched_complex_step_equals_the_point_by_point_one():
    weights = np.cos(np.arange(36).reshape(6, 6) * 0.3)
    flat, x = _plain(lambda v: np.tanh(weights @ v) * np.exp(v), np.linspace(-1, 1, 6))
    arguments = promote([x], (0,))
    complex_flat = plain_flat_function(lambda v: np.tanh(weights @ v) * np.exp(v), arguments, "numpy",
                                       complex_input=True)
    one_by_one = fdm.complex_step_jacobian(complex_flat, x, flat(x), np.arange(6))
    assert enable_batching(complex_flat, x, complex_flat, complex_input=True)
    counted = Counted(complex_flat)
    batched = fdm.complex_step_jacobian(counted, x, flat(x), np.arange(6))
    assert counted.points == 2 * 6 and counted.calls == 2  # two steps, every column in one call each
    np.testing.assert_allclose(batched[0], one_by_one[0], rtol=1e-12, atol=1e-15)


def test_a_complex_batch_that_fails_is_evaluated_point_by_point_and_named_there():
    def refuses(z):
        return z.astype(np.float64) ** 2

    class Batched:
        def __call__(self, z):
            return refuses(z)

        def batch(self, points):
            raise TypeError("no batches")

    x = np.array([0.5, 1.5])
    with pytest.raises(fdm.NotAnalytic, match="real values|does not run on complex"):
        fdm.complex_step_jacobian(Batched(), x, refuses(x), np.arange(2))


def test_complex_batching_is_refused_for_a_function_that_mixes_its_batch():
    x = np.linspace(-1, 1, 6)
    arguments = promote([x], (0,))
    mixing = plain_flat_function(lambda v: np.sum(v**2) * v, arguments, "numpy", complex_input=True)
    assert not enable_batching(mixing, x, mixing, complex_input=True)


def cancelling(z):
    """z + z**2/2e8, computed through (z + 1e8)**2 - 1e16: about 1e-8 of absolute noise."""
    return ((z + 1e8) ** 2 - 1e16) / 2e8


def test_value_noise_is_rounding_for_a_clean_formula_and_more_for_a_cancelling_one():
    x = np.array([0.7, 1.3])
    clean = fdm.value_noise(np.sin, x, np.sin(x), np.finfo(float).eps)
    assert np.all(clean <= 16 * np.finfo(float).eps * np.abs(np.sin(x)))
    noisy = fdm.value_noise(cancelling, x, cancelling(x), np.finfo(float).eps)
    assert np.all(noisy >= 1e-9) and np.all(noisy <= 1e-6)


def test_value_noise_sees_rounding_that_follows_the_value_in_steps():
    # 1 - cos x at 1e-5 moves by an ulp of cos every 1e-11 of x: the rounding is a sawtooth, linear
    # between symmetric jumps, which the second difference cancels and the central one does not.
    x = np.array([1e-5, 0.5])
    naive = lambda z: (1 - np.cos(z)) / z**2  # noqa: E731
    noise = fdm.value_noise(naive, x, naive(x), np.finfo(float).eps)
    assert noise[0] >= 1e-9  # the value's rounding is about 1e-7 (of 0.5) there
    assert noise[1] <= 16 * np.finfo(float).eps  # and ordinary at 0.5


def test_value_noise_does_not_read_a_functions_own_variation_as_rounding():
    # sin at 0 beside an input of 1e8 is moved by whole periods: its central differences follow
    # no polynomial law, and that is no rounding (its value, 0, bounds what counts).
    x = np.array([1e8, 0.0])
    noise = fdm.value_noise(np.sin, x, np.sin(x), np.finfo(float).eps)
    assert noise[1] == 0.0


def test_fd_error_bar_covers_a_noisy_formula_when_told_its_noise():
    x = np.array([0.7, 1.3])
    value = cancelling(x)
    truth = np.diag(1 + x / 1e8)
    told, told_error = fdm.finite_difference_jacobian(cancelling, x, 2, value=value,
                                                      noise=fdm.value_noise(cancelling, x, value, 2.0**-52))
    assert np.all(np.abs(told - truth) <= 4 * told_error)  # honest: the bar covers the truth


def test_taylor_ladder_records_each_column_at_every_rung():
    x = np.array([0.5, 2.0])
    from adcheck import ladders

    steps, values, noise = ladders.taylor_ladder(np.sin, x, np.sin(x), np.array([1]))
    assert steps.shape == (1, ladders.TAYLOR_RUNGS) and values.shape == (2, 1, ladders.TAYLOR_RUNGS)
    np.testing.assert_allclose(values[1, 0], np.sin(2.0 + steps[0]))
    np.testing.assert_allclose(values[0, 0], np.sin(0.5))  # the other input held
    assert np.all(noise > 0)


# --- batching -------------------------------------------------------------------------------------------


def _plain(func, point):
    arguments = promote([np.asarray(point, dtype=float)], (0,))
    return plain_flat_function(func, arguments, "numpy"), arguments.flat()


def test_batching_is_used_only_when_one_call_gives_what_separate_calls_give():
    weights = np.cos(np.arange(36).reshape(6, 6) * 0.3)
    batchable, x = _plain(lambda v: np.tanh(weights @ v), np.linspace(-1, 1, 6))
    assert enable_batching(batchable, x, batchable)
    reducing, x = _plain(lambda v: np.sum(v**2) * v, np.linspace(-1, 1, 6))  # sums over the batch too
    assert not enable_batching(reducing, x, reducing)
    scalar, x = _plain(lambda v: np.sum(v**2), np.linspace(-1, 1, 6))
    assert not enable_batching(scalar, x, scalar)


def test_batched_fd_jacobian_equals_the_point_by_point_one():
    weights = np.cos(np.arange(64).reshape(8, 8) * 0.7)
    flat, x = _plain(lambda v: np.tanh(weights @ v) + v**3, np.linspace(-1, 1, 8))
    one_by_one = fdm.finite_difference_jacobian(flat, x, 8)
    assert enable_batching(flat, x, flat)
    batched = fdm.finite_difference_jacobian(flat, x, 8)
    # The same points evaluated the same way: the same numbers, up to a BLAS summing in another order.
    np.testing.assert_allclose(batched[0], one_by_one[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(batched[1], one_by_one[1], rtol=0.2, atol=1e-3 * one_by_one[1].max())
    exact = (1 - np.tanh(weights @ x) ** 2)[:, None] * weights + np.diag(3 * x**2)
    for jac, err in (one_by_one, batched):
        assert_matches(jac, err, exact, x, flat(x))


# --- structure: coloured columns ----------------------------------------------------------------


class Counted:
    """A flat function, batched, that counts the points it is evaluated at."""

    def __init__(self, func):
        self.func, self.points, self.calls = func, 0, 0
        self.batched = getattr(func, "batch", None) or func

    def __call__(self, x):
        self.points += 1
        self.calls += 1
        return self.func(x)

    def batch(self, points):
        self.points += points.shape[1]
        self.calls += 1
        return self.batched(points)


SPARSE = {
    # name: (function over (n,) or (n, P), exact Jacobian at x, the groups the columns need)
    "diagonal": (lambda x: np.sin(x) * np.exp(-x**2),
                 lambda x: np.diag(np.cos(x) * np.exp(-x**2) - 2 * x * np.sin(x) * np.exp(-x**2)), 1),
    "tridiagonal": (lambda x: np.concatenate([x[:1] ** 2, x[1:] * x[:-1]]) + np.concatenate([x[1:], x[:1] * 0]),
                    lambda x: (np.diag(np.concatenate([2 * x[:1], x[:-1]])) + np.diag(x[1:], -1)
                               + np.diag(np.ones(x.size - 1), 1)), 3),
    "blocks of 4": (lambda x: np.tanh(np.einsum("ij,bj...->bi...", np.arange(1.0, 17.0).reshape(4, 4) / 16,
                                                 x.reshape(-1, 4, *x.shape[1:]))).reshape(x.shape),
                    lambda x: _block_jacobian(x), 4),
}


def _block_jacobian(x):
    a = np.arange(1.0, 17.0).reshape(4, 4) / 16
    blocks = x.reshape(-1, 4)
    return np.block([[np.diag(1 - np.tanh(a @ b) ** 2) @ a if i == k else np.zeros((4, 4))
                      for k in range(len(blocks))] for i, b in enumerate(blocks)])


@pytest.mark.parametrize("name", SPARSE)
def test_a_sparse_jacobian_is_differenced_a_group_of_columns_at_a_time(name):
    func, exact, n_groups = SPARSE[name]
    x = np.random.default_rng(3).normal(size=200)
    counted = Counted(func)
    jac, err = fdm.finite_difference_jacobian(counted, x, 200, value=func(x))
    assert_matches(jac, err, exact(x), x, func(x))
    plain_points = Counted(func)
    plain = fdm.finite_difference_jacobian(plain_points, x, 200, value=func(x), coloured=False)
    assert_matches(*plain, exact(x), x, func(x))
    # Finding the structure costs two points per input (and the input itself, once per step and
    # part); the groups then cost what n_groups columns cost.
    assert counted.points < 2 * (x.size + 2) + 0.1 * plain_points.points
    reached = fdm._reached_outputs(func, x, func(x), fdm.step_scales(x), 8 * 2.2e-16 * np.abs(func(x)))
    assert fdm._colour(reached, limit=200).max() + 1 == n_groups


def test_a_dense_jacobian_is_left_to_the_columns_after_a_sample():
    func = lambda x: np.tanh(np.cumsum(x, axis=0))  # noqa: E731 - lower triangular: half the entries
    x = np.random.default_rng(4).normal(size=100)
    counted = Counted(func)
    coloured = fdm.finite_difference_jacobian(counted, x, 100, value=func(x))
    plain_points = Counted(func)
    plain = fdm.finite_difference_jacobian(plain_points, x, 100, value=func(x), coloured=False)
    np.testing.assert_array_equal(coloured[0], plain[0])
    assert counted.points - plain_points.points == 2 * (fdm.STRUCTURE_SAMPLE + 1)  # the sample, then nothing more


def test_an_output_a_column_does_not_reach_is_zero_within_a_rounding_sized_bar():
    # What settles AD's zeros there, and what would expose a rule that leaks into them.
    func, exact, _ = SPARSE["diagonal"]
    x = np.random.default_rng(5).normal(size=100)
    jac, err = fdm.finite_difference_jacobian(func, x, 100, value=func(x))
    off = ~np.eye(100, dtype=bool)
    assert np.mean(jac[off] == 0) > 0.9  # the few inputs near 0 keep their own column, and its rounding
    assert np.all(np.abs(jac[off]) <= err[off])
    assert np.all(err[off] <= 1e-12 * np.abs(func(x))[:, None].repeat(100, axis=1)[off] / fdm.step_scales(x).min())
    tol, atol = tolerances_for(exact(x), x, func(x))
    assert reference_settles(jac, err, tol, atol).all()


def test_an_input_much_smaller_than_the_others_keeps_its_own_column():
    func, exact, _ = SPARSE["diagonal"]
    x = np.random.default_rng(6).normal(size=100)
    x[7] = 1e-9  # differenced on its own scale and on the others', as without structure
    jac, err = fdm.finite_difference_jacobian(func, x, 100, value=func(x))
    assert_matches(jac, err, exact(x), x, func(x))


def test_the_users_calls_keep_their_modules_error_state_and_adchecks_arithmetic_its_own():
    """A module that calls np.seterr at import: its function raises as it would for its user,
    while adcheck's own arithmetic (under own_error_state) overflows quietly to inf."""

    def load():
        np.seterr(over="raise")  # what the user's module does when it is imported
        return lambda x: np.exp(x)

    outside = np.geterr()
    call = fdm.in_users_error_state(load, outside)
    assert np.geterr() == outside  # the import's np.seterr stays with the user's calls
    with fdm.own_error_state():
        with pytest.raises(FloatingPointError):
            call(np.array([1000.0]))
        assert np.isinf(np.exp(np.array([1000.0]))).all()
    assert call(np.array([1.0])) == pytest.approx(np.e)
