"""``--order 2``: check a backend's second derivative against FD of its own first derivative.

For a scalar output the first derivative is the gradient and its derivative the Hessian; for
vector outputs it is the Jacobian-vector product ``J(x) v`` along a fixed random ``v`` (the same
for every backend) and its derivative ``d(J v)/dx``. Differencing the backend's *own* first
derivative isolates the second-order rule: a custom rule whose values are right but which is
not itself differentiable shows up here and nowhere else.
"""

from __future__ import annotations

import numpy as np

from ..finite_differences import finite_difference_jacobian
from ..model import SecondOrder, Status

DIRECTION_SEED = 20240917  # fixed so every backend differentiates along the same v


def direction(n_inputs: int) -> np.ndarray:
    return np.random.default_rng(DIRECTION_SEED).standard_normal(n_inputs)


def second_order_result(first_derivative, second_derivative: np.ndarray, x0: np.ndarray) -> SecondOrder:
    """FD of ``first_derivative`` (numpy in, numpy out) next to the AD ``second_derivative``."""

    def flat_first(x):
        return np.asarray(first_derivative(x), dtype=np.float64).ravel()

    value = flat_first(x0)
    fd, fd_error = finite_difference_jacobian(flat_first, x0, value.size, value=value)
    return SecondOrder(
        Status.COMPUTED,
        value=value,
        jacobian=np.asarray(second_derivative, dtype=np.float64).reshape(value.size, x0.size),
        fd=fd,
        fd_error=fd_error,
    )


def second_order_failure(exc: Exception, task) -> SecondOrder:
    """The second-order row of a second derivative that raised ``exc``: not-applicable when the
    framework has no such derivative (``missing_modes``), else an error; first order stands."""
    from .calling import describe_exception, not_applicable

    missing = not_applicable(exc, task.backend, task.target.root)
    if missing is not None:
        return SecondOrder(Status.NOT_APPLICABLE, missing.message)
    return SecondOrder(Status.ERROR, f"second derivative failed: {describe_exception(exc)}")
