"""The reference: adaptive finite differences with per-entry error estimates.

``scipy.differentiate.jacobian`` does Richardson extrapolation from an initial step downwards and
reports an error estimate per entry. One initial step cannot serve every function — ``cos`` at
3e7 needs a step far from its ulp, ``sqrt`` at 1e-10 must not step past zero, ``minimum`` of two
inputs 1e-7 apart must step less than 1e-7 — so a short ladder of initial steps is tried and each
entry keeps the estimate with the smallest error. Columns that converged on the first rung skip
the rest, so smooth functions pay for one rung only.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.differentiate import jacobian as scipy_jacobian

from ..model import BackendRun, Status
from .common import plain_flat_function
from .worker import Task, check_shapes, load_user_function

# Initial steps, largest first. 0.5 is scipy's default (Richardson from there reaches 0.5/2**9);
# the lower rungs continue where that one stops, down to about 1e-9, for kinks and boundaries
# close to the point. Each is capped at half the distance to zero so a step never leaves the
# domain of sqrt/log at a small positive input.
INITIAL_STEPS = (0.5, 2.0**-10, 2.0**-20)
STEP_FACTOR = 2.0
MAX_ITERATIONS = 10
ORDER = 8  # scipy's default: an 8th-order stencil, error O(h**8) for smooth functions


def compute(task: Task) -> BackendRun:
    start = time.perf_counter()
    func = load_user_function(task)
    flat_function = plain_flat_function(func, task.arguments, task.framework)
    x0 = task.arguments.flat().astype(np.float64)
    value = flat_function(x0)
    extra: dict = {}
    if task.columns is not None:
        columns = np.asarray(task.columns, dtype=int)
        jac, err = finite_difference_jacobian(flat_function, x0, value.size, columns, task.step_direction)
        extra["columns"] = task.columns
        extra["step_direction"] = task.step_direction
    else:
        jac, err = finite_difference_jacobian(flat_function, x0, value.size)
        check_shapes(value, jac, x0.size)
        if task.probes:
            from ..explain.probes import run_probes

            extra["findings"] = run_probes(task, value)
    return BackendRun(
        name=task.backend,
        status=Status.REFERENCE,
        seconds=time.perf_counter() - start,
        value=value,
        jacobian=jac,
        error=err,
        extra=extra,
    )


def finite_difference_jacobian(flat_function, x0, n_outputs, columns=None, step_direction=0):
    """Jacobian and error estimate of ``flat_function`` at ``x0`` for ``columns`` (default all)."""
    columns = np.arange(x0.size) if columns is None else np.asarray(columns)
    jac = np.full((n_outputs, columns.size), np.nan)
    err = np.full((n_outputs, columns.size), np.inf)
    todo = np.arange(columns.size)
    distance_to_zero = np.where(x0 != 0, 0.5 * np.abs(x0), np.inf)
    previous_steps = None
    for rung in INITIAL_STEPS:
        cols = columns[todo]
        steps = np.minimum(rung, distance_to_zero[cols])
        if previous_steps is not None and np.array_equal(steps, previous_steps[todo]):
            continue  # capped to the same steps as the rung before: nothing new to learn
        result = _richardson(flat_function, x0, n_outputs, cols, steps, step_direction)
        better = np.isfinite(result.df) & (result.error < err[:, todo])
        jac[:, todo] = np.where(better, result.df, jac[:, todo])
        err[:, todo] = np.where(better, result.error, err[:, todo])
        converged = np.all((result.status == 0) | ~better, axis=0) & np.all(np.isfinite(jac[:, todo]), axis=0)
        full_steps = np.full(columns.size, np.nan)
        full_steps[todo] = steps
        previous_steps = full_steps
        todo = todo[~converged]
        if todo.size == 0:
            break
    return jac, err


def _richardson(flat_function, x0, n_outputs, cols, steps, step_direction):
    """One call of scipy's jacobian over the inputs ``cols``, the others held at ``x0``."""
    k = cols.size

    def batch_function(z):
        # scipy passes (k, ...) and expects (n_outputs, ...): the user's function is not
        # vectorised, so evaluate it point by point.
        batch_shape = z.shape[1:]
        points = z.reshape(k, -1)
        out = np.empty((n_outputs, points.shape[1]))
        x = x0.copy()
        for p in range(points.shape[1]):
            x[cols] = points[:, p]
            try:
                out[:, p] = flat_function(x)
            except Exception:  # noqa: BLE001 - outside the domain: scipy treats NaN as non-finite
                out[:, p] = np.nan
        return out.reshape((n_outputs, *batch_shape))

    return scipy_jacobian(
        batch_function,
        x0[cols],
        initial_step=steps,
        step_factor=STEP_FACTOR,
        maxiter=MAX_ITERATIONS,
        order=ORDER,
        step_direction=step_direction,
    )
