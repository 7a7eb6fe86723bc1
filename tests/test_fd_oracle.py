"""The finite-difference oracle on functions where naive differences fail.

Each case is a correct derivative; the oracle's estimate, within its own error bar and the
tolerance table, must match it, or adcheck would raise a false alarm.
"""

import numpy as np
import pytest
from scipy.special import softmax

from adcheck.backends.fd import finite_difference_jacobian, one_sided_at_kinks
from adcheck.compare import entry_bound, unreliable_reference

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
    "logsumexp 1e3 apart (cancellation)": (hostile.log_sum_exp, [0.0, 1000.0, -1000.0],
                                           lambda x: softmax(x)[None, :]),
    "minimum of inputs 1e-7 apart (nearby kink)": (
        hostile.min_close, [1.0, 1.0 + 1e-7],
        lambda x: np.array([[2 * x[0], 0.0], [x[1], x[0]]])),
    "1e-12 scale": (hostile.tiny_scale, [0.3, 1.0, 2.0], lambda x: np.diag(1e-12 * np.cos(x))),
    "1e12 scale": (hostile.huge_scale, [0.3, 1.0, 2.0], lambda x: np.diag(1e12 / np.cosh(x) ** 2)),
}


@pytest.mark.parametrize("name", CASES)
def test_fd_oracle_matches_exact_jacobian_on_fd_hostile_function(name):
    func, point, exact = CASES[name]
    x = np.asarray(point, dtype=float)
    flat = lambda z: np.atleast_1d(func(z)).ravel()
    value = flat(x)
    jac, err = finite_difference_jacobian(flat, x, value.size)
    truth = exact(x)
    bound = entry_bound(jac, err, np.float64)
    assert np.all(np.abs(truth - jac) <= bound), (jac, truth, err)
    assert not unreliable_reference(jac, err, np.float64).any()


def test_fd_oracle_on_150x150_linear_solve():
    x = np.random.default_rng(0).standard_normal(150)
    value = hostile.linear_solve(x)
    jac, err = finite_difference_jacobian(hostile.linear_solve, x, value.size)
    assert np.all(np.abs(linear_solve_jacobian(x) - jac) <= entry_bound(jac, err, np.float64))


@pytest.mark.parametrize("func", [kinks.absolute, kinks.relu])
def test_one_sided_derivatives_expose_the_kink_at_zero(func):
    x = np.array([0.0, 1.0, -2.0])
    found = one_sided_at_kinks(func, x, func(x))
    assert found is not None
    assert list(found["columns"]) == [0]  # only the input sitting on the kink
    assert found["plus"][0, 0] == pytest.approx(1.0)
    assert found["minus"][0, 0] == pytest.approx(-1.0 if func is kinks.absolute else 0.0, abs=1e-12)


def test_one_sided_screen_finds_nothing_on_a_smooth_function():
    x = np.array([0.0, 1.0, -2.0])
    assert one_sided_at_kinks(np.sin, x, np.sin(x)) is None


def _plain(func, point):
    from adcheck.backends.common import plain_flat_function
    from adcheck.inputs import promote

    arguments = promote([np.asarray(point, dtype=float)], (0,))
    return plain_flat_function(func, arguments, "numpy"), arguments.flat()


def test_batching_is_used_only_when_one_call_gives_what_separate_calls_give():
    from adcheck.backends.common import enable_batching

    weights = np.cos(np.arange(36).reshape(6, 6) * 0.3)
    batchable, x = _plain(lambda v: np.tanh(weights @ v), np.linspace(-1, 1, 6))
    assert enable_batching(batchable, x, batchable(x), batchable)
    reducing, x = _plain(lambda v: np.sum(v**2) * v, np.linspace(-1, 1, 6))  # sums over the batch too
    assert not enable_batching(reducing, x, reducing(x), reducing)
    scalar, x = _plain(lambda v: np.sum(v**2), np.linspace(-1, 1, 6))
    assert not enable_batching(scalar, x, scalar(x), scalar)


def test_batched_fd_jacobian_matches_point_by_point():
    from adcheck.backends.common import enable_batching

    weights = np.cos(np.arange(64).reshape(8, 8) * 0.7)
    flat, x = _plain(lambda v: np.tanh(weights @ v) + v**3, np.linspace(-1, 1, 8))
    one_by_one = finite_difference_jacobian(flat, x, 8)
    assert enable_batching(flat, x, flat(x), flat)
    batched = finite_difference_jacobian(flat, x, 8)
    exact = (1 - np.tanh(weights @ x) ** 2)[:, None] * weights + np.diag(3 * x**2)
    for jac, err in (one_by_one, batched):
        assert np.all(np.abs(jac - exact) <= entry_bound(jac, err, np.float64))
