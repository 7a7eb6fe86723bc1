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
import types

import numpy as np
from scipy.differentiate import jacobian as scipy_jacobian

from ..model import BackendRun, Status
from .common import enable_batching, plain_flat_function
from .worker import Task, check_shapes, load_user_function

# Initial steps, largest first. 0.5 is scipy's default (Richardson from there reaches 0.5/2**9);
# the lower rungs continue where that one stops, down to about 1e-9, for kinks and boundaries
# close to the point. Each is capped at half the distance to zero so a step never leaves the
# domain of sqrt/log at a small positive input.
INITIAL_STEPS = (0.5, 2.0**-10, 2.0**-20)
STEP_FACTOR = 2.0
MAX_ITERATIONS = 10
ORDER = 8  # scipy's default: an 8th-order stencil, error O(h**8) for smooth functions

# Stop refining an entry once its error is below RTOL*|J| + ATOL_PER_VALUE*|f(x0)|: two orders of
# magnitude inside the comparison's float64 rtol (1e-6), and, for the absolute part, just above
# the rounding noise eps*|f|/h of a difference at h ~ 1e-3. Asking for more only sends the ladder
# to steps where rounding dominates.
RTOL = 1e-8
ATOL_PER_VALUE = 1e-12
# The rounding floor put under scipy's error estimate: when a step is so small that every
# stencil value rounds to the same number, scipy reports derivative 0 with error 0.
ROUNDING_FLOOR_FACTOR = 8.0


def compute(task: Task) -> BackendRun:
    start = time.perf_counter()
    if task.framework in ("jax", "array-api"):
        from .jax_backend import configure_jax

        configure_jax()  # JAX code runs as written here, in float64 like the jax backends

    dtype = np.result_type(*(task.arguments.values[i] for i in task.arguments.wrt))
    if task.framework == "torch":
        from .torch_backend import configure_torch

        configure_torch(dtype)  # before the import: module-level tensors get the backends' dtype
    func = load_user_function(task)
    flat_function = plain_flat_function(func, task.arguments, task.framework)
    x0 = task.arguments.flat().astype(np.float64)
    value = flat_function(x0)
    enable_batching(flat_function, x0, value,
                    plain_flat_function(load_user_function(task), task.arguments, task.framework))
    extra: dict = {"n_inputs": x0.size}
    mode = task.options.get("mode", "full")
    if mode == "bisect":
        extra["localised"] = {name: _localise(flat_function, x0, job, task.options) for name, job in
                              task.options["bisect"].items()}
        jac = err = None
    elif mode == "fast":
        from ..fast import probe_vectors

        vectors = probe_vectors(x0.size, value.size)
        extra["jv"], extra["jv_error"] = directional_derivatives(flat_function, x0, value.size, vectors.directions,
                                                                 dtype)
        jac = err = None
    else:
        jac, err = finite_difference_jacobian(flat_function, x0, value.size, dtype=dtype)
        check_shapes(value, jac, x0.size)
        extra["one_sided"] = one_sided_at_kinks(flat_function, x0, value, dtype)
    if task.probes:
        from ..explain.probes import probe

        # After the FD, on a fresh import of the user's module (see explain/probes.py).
        probed = probe(task, value)
        extra["findings"] = probed.findings
        extra["executed_lines"] = probed.executed_lines
    return BackendRun(
        name=task.backend,
        status=Status.REFERENCE,
        seconds=time.perf_counter() - start,
        value=value,
        jacobian=jac,
        error=err,
        extra=extra,
    )


def finite_difference_jacobian(flat_function, x0, n_outputs, columns=None, step_direction=0, dtype=np.float64):
    """Jacobian and error estimate of ``flat_function`` at ``x0`` for ``columns`` (default all).

    ``dtype`` is the precision the function computes in; it sets the rounding floor.
    """
    eps = float(np.finfo(dtype).eps)
    columns = np.arange(x0.size) if columns is None else np.asarray(columns)
    jac = np.full((n_outputs, columns.size), np.nan)
    err = np.full((n_outputs, columns.size), np.inf)
    converged = np.zeros((n_outputs, columns.size), dtype=bool)
    todo = np.arange(columns.size)
    distance_to_zero = np.where(x0 != 0, 0.5 * np.abs(x0), np.inf)
    magnitude = np.abs(np.asarray(flat_function(x0), dtype=np.float64)).reshape(n_outputs, 1)
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    precision = eps / np.finfo(np.float64).eps  # 1 for float64, ~5e8 for float32
    tolerances = {"rtol": max(RTOL, 100 * eps),
                  "atol": ATOL_PER_VALUE * precision * max(1.0, float(magnitude.max(initial=0.0)))}
    tried: list[np.ndarray] = []
    for rung in INITIAL_STEPS:
        steps = np.minimum(rung, distance_to_zero[columns])
        if any(np.array_equal(steps[todo], earlier[todo]) for earlier in tried):
            continue  # capped to the steps of an earlier rung: nothing new to learn
        tried.append(steps)
        result = _richardson_in_chunks(flat_function, x0, n_outputs, columns[todo], steps[todo], step_direction,
                                       tolerances)
        last_step = steps[todo] / STEP_FACTOR ** np.maximum(result.nit - 1, 0)
        floor = ROUNDING_FLOOR_FACTOR * eps * (magnitude + np.abs(x0[columns[todo]]) *
                                                                     np.abs(result.df)) / last_step
        error = np.maximum(result.error, floor)
        better = np.isfinite(result.df) & (error < err[:, todo])
        jac[:, todo] = np.where(better, result.df, jac[:, todo])
        err[:, todo] = np.where(better, error, err[:, todo])
        converged[:, todo] = np.where(better, result.status == 0, converged[:, todo])
        todo = todo[~np.all(converged[:, todo], axis=0)]
        if todo.size == 0:
            break
    return jac, err


def directional_derivatives(flat_function, x0, n_outputs, directions, dtype=np.float64):
    """FD of ``t -> f(x0 + t w)`` at 0 for each column ``w`` of ``directions``, with errors.

    Each is a one-input Jacobian, so the step ladder and error estimate are the same as for a
    full Jacobian; the cost is independent of the number of inputs.
    """
    values = np.empty((n_outputs, directions.shape[1]))
    errors = np.empty_like(values)
    for k in range(directions.shape[1]):
        line = _Line(flat_function, x0, directions[:, k])
        jac, err = finite_difference_jacobian(line, np.zeros(1), n_outputs, dtype=dtype)
        values[:, k], errors[:, k] = jac[:, 0], err[:, 0]
    return values, errors


class _Line:
    """``t -> f(x0 + t w)``, or ``u^T f(x0 + t w)``: a function of one input, batched when f is."""

    def __init__(self, flat_function, x0, w, u=None):
        self.f, self.x0, self.w, self.u = flat_function, x0, w, u
        self.batch = self._batch if getattr(flat_function, "batch", None) else None

    def _project(self, y):
        return y if self.u is None else np.atleast_1d(self.u @ y)

    def __call__(self, t):
        return self._project(self.f(self.x0 + t[0] * self.w))

    def _batch(self, t):
        return self._project(self.f.batch(self.x0[:, None] + self.w[:, None] * t[0][None, :]))


def _localise(flat_function, x0, job, options):
    from ..compare import entry_bound
    from ..fast import bisect_row

    u = job["cotangent"]

    def directional(w):
        jac, err = finite_difference_jacobian(_Line(flat_function, x0, w, u), np.zeros(1), 1)
        return float(jac[0, 0]), float(err[0, 0])

    def bound_for(value, error):
        return float(entry_bound(np.array([value]), np.array([error]), x0.dtype, options.get("rtol"),
                                 options.get("atol"))[0])

    return bisect_row(directional, job["row"], job["direction"], bound_for)


# The kink screen: a forward and a backward first-order difference with this relative step.
# For a smooth function they differ by about h*|f''|; across a kink by the jump in slope, O(1).
KINK_SCREEN_STEP = 1e-6
KINK_SCREEN_RTOL = 1e-3


def one_sided_at_kinks(flat_function, x0, value, dtype=np.float64):
    """One-sided derivatives (Richardson, both directions) for the columns where a cheap screen
    sees the slope jump; ``None`` when no column does.

    Central differences at a kink converge confidently to the average of the two slopes, so
    the central estimate alone cannot tell a kink (any value between the slopes is a valid
    subgradient) from a smooth point. The screen costs two evaluations per input.
    """
    h = max(KINK_SCREEN_STEP, 10 * np.sqrt(np.finfo(dtype).eps)) * np.maximum(1.0, np.abs(x0))
    columns = np.arange(x0.size)
    ahead = evaluate_points(flat_function, x0, columns, x0[columns] + h, value.size, diagonal=True)
    behind = evaluate_points(flat_function, x0, columns, x0[columns] - h, value.size, diagonal=True)
    forward = (ahead - value[:, None]) / h
    backward = (value[:, None] - behind) / h
    finite = np.isfinite(forward) & np.isfinite(backward)  # NaN outside the domain: an edge, not a kink
    jump = np.abs(forward - backward) > (KINK_SCREEN_RTOL * (np.abs(forward) + np.abs(backward))
                                         + 1e-8 * (1 + np.abs(value))[:, None])
    flagged = np.flatnonzero(np.any(finite & jump, axis=0))
    if flagged.size == 0:
        return None
    columns = flagged
    plus, plus_error = finite_difference_jacobian(flat_function, x0, value.size, columns, 1, dtype)
    minus, minus_error = finite_difference_jacobian(flat_function, x0, value.size, columns, -1, dtype)
    return {"columns": columns, "plus": plus, "plus_error": plus_error, "minus": minus, "minus_error": minus_error}


# Points per batched call: the batch of inputs holds at most this many floats (64 MB).
BATCH_FLOATS = 1 << 23


def evaluate_points(flat_function, x0, cols, points, n_outputs, diagonal=False):
    """f at x0 with inputs ``cols`` replaced by each column of ``points`` (k, P) -> (n_outputs, P).

    With ``diagonal``, ``points`` is (P,) and point p changes input ``cols[p]`` only. Many
    points per call when the function takes a batch axis (``common.enable_batching``), else
    one call per point; a point where the function raises (outside its domain) is NaN, which
    scipy treats as non-finite.
    """
    count = points.shape[-1]
    out = np.full((n_outputs, count), np.nan)
    batch = getattr(flat_function, "batch", None)
    chunk = max(1, BATCH_FLOATS // max(1, x0.size))
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        block = np.repeat(x0[:, None], stop - start, axis=1)
        if diagonal:
            block[cols[start:stop], np.arange(stop - start)] = points[start:stop]
        else:
            block[cols, :] = points[:, start:stop]
        if batch is not None:
            try:
                out[:, start:stop] = batch(block)
                continue
            except Exception:  # noqa: BLE001 - some point is outside the domain: find it point by point
                pass
        for p in range(stop - start):
            try:
                out[:, start + p] = flat_function(block[:, p])
            except Exception:  # noqa: BLE001 - outside the domain
                pass
    return out


# Columns per call of scipy's jacobian: scipy iterates a call until its last entry converges,
# re-evaluating every column of it, so one slow entry in a 2000x2000 Jacobian kept all four
# million busy for ten iterations. Calls of at most 2**18 entries keep the laggards together
# with few others.
CHUNK_ENTRIES = 1 << 18


def _richardson_in_chunks(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances):
    size = max(1, CHUNK_ENTRIES // max(1, n_outputs))
    if cols.size <= size:
        return _richardson(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances)
    parts = [_richardson(flat_function, x0, n_outputs, cols[i : i + size], steps[i : i + size], step_direction,
                         tolerances) for i in range(0, cols.size, size)]
    return types.SimpleNamespace(**{key: np.concatenate([getattr(p, key) for p in parts], axis=1)
                                    for key in ("df", "error", "status", "nit")})


def _richardson(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances=None):
    """One call of scipy's jacobian over the inputs ``cols``, the others held at ``x0``."""
    k = cols.size

    def batch_function(z):
        # scipy passes (k, ...) and expects (n_outputs, ...).
        batch_shape = z.shape[1:]
        out = evaluate_points(flat_function, x0, cols, z.reshape(k, -1), n_outputs)
        return out.reshape((n_outputs, *batch_shape))

    return scipy_jacobian(
        batch_function,
        x0[cols],
        initial_step=steps,
        step_factor=STEP_FACTOR,
        maxiter=MAX_ITERATIONS,
        order=ORDER,
        step_direction=step_direction,
        tolerances=tolerances,
    )
