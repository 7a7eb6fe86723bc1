"""The worker side of ``--search``: one backend's run at many inputs, in one task.

The reference screens with a quick estimate (``_quick_reference``): central differences at two
steps, Richardson-extrapolated, with the difference of the two as the error bar. The adaptive
reference of an ordinary run climbs a ladder of steps per column and backs unsettled entries
with a complex step and a Taylor test: 20 to 100 ms an input of three entries, most of a
search's time. The screen only decides which inputs deserve that run: an AD backend outside a
quick estimate's error bar sends the input to the ordinary run, which alone can confirm a failure.

A search checks hundreds of inputs; a task per input would pay a task's round trip, and its
bookkeeping in the worker, hundreds of times per backend. So the parent sends each backend's
warm worker a batch of flat inputs, and the worker computes the backend's ordinary run
(``Backend.compute``) at each of them in turn, without probes, and sends every run back in one
``BatchResult``. Each input still gets a fresh import of the user's module, as any task does.
A failure at one input (the function raises there, the backend cannot run it) is that input's
row and never costs the others.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..backends import REGISTRY
from ..backends.calling import NotApplicable
from ..model import BackendRun, BatchResult, Status
from ..task import Compute


def compute_batch(task) -> BatchResult:
    """The backend's run at each of ``task.job.inputs`` (``BatchResult.batch``, in order)."""
    from ..backends.calling import error_run

    start = time.perf_counter()
    backend = REGISTRY[task.backend]
    if backend.reference:
        runs = _quick_reference(task)
        return BatchResult(task.backend, Status.REFERENCE, time.perf_counter() - start, batch=runs)
    if task.backend in ("jax-fwd", "jax-rev"):
        batched = _jax_vmapped(task)
        if batched is not None:
            return BatchResult(task.backend, Status.COMPUTED, time.perf_counter() - start, batch=batched)
    runs = []
    for flat in task.job.inputs:
        one = dataclasses.replace(task, arguments=task.arguments.at(flat), job=Compute(), probes=False)
        began = time.perf_counter()
        try:
            run = backend.compute(one)
        except NotApplicable as exc:
            run = BackendRun(task.backend, Status.NOT_APPLICABLE, time.perf_counter() - began, exc.message,
                             exc.location)
        except MemoryError:
            raise  # the worker's own failure row says so, for the whole batch
        except BaseException as exc:  # noqa: BLE001 - the user's code at this input may raise anything
            run = error_run(one, exc, time.perf_counter() - began)
        runs.append(run)
    status = Status.REFERENCE if backend.reference else Status.COMPUTED
    return BatchResult(task.backend, status, time.perf_counter() - start, batch=tuple(runs))


def _jax_vmapped(task) -> tuple[BackendRun, ...] | None:
    """JAX's runs at every input of the batch in one ``vmap`` over the inputs: one pass of JAX's
    eager dispatch for the whole batch instead of one per input. None where the function cannot
    be vmapped (Python control flow on its values, a tracer reaching numpy): the caller then
    computes input by input, as an ordinary run does, which also reports each input's failure."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..backends.jax_backend import build_flat_function
    from ..fast import probe_vectors
    from ..frameworks import configure_jax
    from ..model import Mode, Products

    start = time.perf_counter()
    configure_jax(task.device, ())
    points = np.stack([np.asarray(flat, dtype=task.arguments.dtype) for flat in task.job.inputs])
    n_inputs = points.shape[1]
    try:
        flat_function = build_flat_function(task)
        n_outputs = int(np.prod(jax.eval_shape(flat_function, jnp.asarray(points[0])).shape))
        vectors = probe_vectors(n_inputs, n_outputs, complex_columns=task.arguments.complex_columns)
        fast = task.mode == Mode.FAST
        if task.backend == "jax-fwd":
            tangents = jnp.asarray((vectors.directions.T if fast else np.eye(n_inputs)), dtype=points.dtype)

            def derivative(x):
                return jax.vmap(lambda t: jax.jvp(flat_function, (x,), (t,)), out_axes=(None, 1))(tangents)
        else:
            cotangents = jnp.asarray(vectors.cotangents.T if fast else np.eye(n_outputs), dtype=points.dtype)

            def derivative(x):
                value, pullback = jax.vjp(flat_function, x)
                return value, jax.vmap(lambda u: pullback(u)[0])(cotangents)

        values, derivatives = jax.device_get(jax.vmap(derivative)(jnp.asarray(points)))
    except Exception:  # noqa: BLE001 - not vmappable here: the input-by-input path computes (and reports) it
        return None
    seconds = (time.perf_counter() - start) / len(task.job.inputs)
    runs = []
    for value, derivative in zip(np.asarray(values, dtype=np.float64), np.asarray(derivatives, dtype=np.float64)):
        value = value.ravel()
        if not fast:
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value,
                             jacobian=derivative.reshape(value.size, n_inputs), rebound=task.rebound)
        elif task.backend == "jax-fwd":
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value, products=Products(jv=derivative),
                             rebound=task.rebound)
        else:
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value, products=Products(ujt=derivative),
                             rebound=task.rebound)
        runs.append(run)
    return tuple(runs)


# The quick reference's steps: the cube root of the machine epsilon (central differences' optimum
# for a smooth function) times each input's own scale, and half of it for the extrapolation.
QUICK_STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
# The rounding part of its error bar: this many ulps of the outputs' magnitude, over the step.
QUICK_ROUNDING_ULPS = 16.0


def _quick_reference(task) -> tuple[BackendRun, ...]:
    """The reference at each input of the batch from central differences at steps h and h/2
    (``QUICK_STEP``): the Jacobian (full mode) or the products along fast mode's directions, each
    with an error bar; the value; an error row where the function raises. One import of the
    user's module for the whole batch. Where the function takes a batch axis (or JAX's ``vmap``
    gives it one), the points of every input of the batch go in one call (``_Differences``): on
    the 50-parameter MLP, a call per input was most of the screen's time (an eager ``vmap`` costs
    the same for 96 points as for 4800)."""
    from ..backends.calling import enable_batching, error_run, flat_output, load_user_function, plain_flat_function
    from ..frameworks import configure_for
    from ..model import Mode

    arguments = task.arguments
    configure_for(task.framework, arguments.dtype)
    func = load_user_function(task)
    eps = float(np.finfo(arguments.dtype).eps) if np.issubdtype(arguments.dtype, np.floating) else EPS64
    runs: list[BackendRun | _Differences] = []
    batching = None  # decided at the first input whose value is finite: True, JAX's vmapped call, or False
    for flat in task.job.inputs:
        began = time.perf_counter()
        one = dataclasses.replace(task, arguments=arguments.at(flat), job=Compute())
        flat_function = plain_flat_function(func, one.arguments, task.framework)
        x = one.arguments.flat().astype(np.float64)
        try:
            value = flat_output(flat_function.raw(x))
            if not np.all(np.isfinite(value)):
                runs.append(BackendRun(task.backend, Status.REFERENCE, time.perf_counter() - began, value=value))
                continue
            if batching is None:
                source = plain_flat_function(load_user_function(task), one.arguments, task.framework)
                if enable_batching(flat_function, x, source):
                    batching = flat_function.batch
                elif _jax_batching(one, flat_function, x, source):
                    batching = flat_function.batch  # one vmapped function for the whole batch
                else:
                    batching = False
            flat_function.batch = batching or None  # (an input left to compute its own uses it too)
            runs.append(_Differences(one, flat_function, x, value, task.mode == Mode.FAST, time.perf_counter() - began))
        except Exception as exc:  # noqa: BLE001 - the user's function raises at this input: its row says so
            runs.append(error_run(one, exc, time.perf_counter() - began))
    _evaluate_together([run for run in runs if isinstance(run, _Differences)], batching or None)
    return tuple(_estimated(run, task, eps) if isinstance(run, _Differences) else run for run in runs)


def _estimated(run: "_Differences", task, eps: float) -> BackendRun:
    """One input's reference row from its evaluated differences: the Jacobian (full mode) or the
    products (fast mode) with their error bars, or an error row where the function raised."""
    from ..backends.calling import error_run
    from ..model import Mode, Precision, Products, Reference

    began = time.perf_counter()
    try:
        estimate, error = run.estimate(eps)
    except Exception as exc:  # noqa: BLE001 - the user's function raises at this input: its row says so
        return error_run(run.task, exc, run.seconds + time.perf_counter() - began)
    value, dtype = run.value, task.arguments.dtype
    precision = Precision(dtype.name if dtype.name in ("float32", "float64") else "float64",
                          np.full(value.size, eps), measured=False, noise=eps * np.abs(value))
    seconds = run.seconds + time.perf_counter() - began
    if task.mode == Mode.FAST:
        return BackendRun(task.backend, Status.REFERENCE, seconds, value=value,
                          products=Products(jv=estimate, jv_error=error), reference=Reference(precision))
    return BackendRun(task.backend, Status.REFERENCE, seconds, value=value, jacobian=estimate,
                      error=error, reference=Reference(precision))


# Most entries (points times inputs) one call of the function gets from a batch's inputs together:
# 32 MiB of float64 points, and the function's intermediates a small multiple of that.
TOGETHER_ENTRIES = 1 << 22


class _Differences:
    """One input's quick central differences: the points they need (``points``: along each
    direction at steps h, -h, h/2, -h/2, on one scale or two), then, with the function's values
    there (``values``, from ``_evaluate_together``), the estimate and its error bar."""

    def __init__(self, task, flat_function, x, value, fast: bool, seconds: float):
        from ..fast import probe_vectors
        from ..finite_differences import step_scales, typical_scale

        self.task, self.flat_function, self.x, self.value, self.seconds = task, flat_function, x, value, seconds
        if fast:
            directions = probe_vectors(x.size, value.size, complex_columns=task.arguments.complex_columns).directions
            steps = np.full(directions.shape[1], QUICK_STEP * typical_scale(x))
        else:
            directions = np.eye(x.size)
            steps = QUICK_STEP * step_scales(x)
        other = QUICK_STEP * _second_scales(x) if not fast else np.minimum(steps, QUICK_STEP)
        self.scales = [(directions, steps)] + ([(directions, other)] if np.any(other != steps) else [])
        self.points = np.concatenate([_points(x, directions, h) for directions, h in self.scales], axis=1)
        self.values: np.ndarray | None = None

    def estimate(self, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """(derivative along each direction, error bar), from both scales where there are two
        (``_both_scales``); the values are computed here, one call per point or per scale, where
        no call took them together."""
        values = self.values
        if values is None:
            batch = self.flat_function.batch
            values = np.concatenate([batch(part) if batch is not None else
                                     np.stack([self.flat_function(part[:, k]) for k in range(part.shape[1])], axis=1)
                                     for part in np.split(self.points, len(self.scales), axis=1)], axis=1)
        parts = np.split(values, len(self.scales), axis=1)
        estimate, error = _richardson(parts[0], self.scales[0][1], eps)
        if len(parts) > 1:
            estimate, error = _both_scales(estimate, error, *_richardson(parts[1], self.scales[1][1], eps))
        return estimate, error


def _evaluate_together(pending: list[_Differences], batch) -> None:
    """Each input's ``values`` from calls of ``batch`` (points -> values, a batch axis last) that
    take the points of many inputs at once, at most ``TOGETHER_ENTRIES`` entries a call. Where a
    call raises, its inputs are left to compute their own (and an input where the function
    raises gets its error row)."""
    if batch is None or not pending:
        return
    group: list[_Differences] = []
    for k, run in enumerate(pending):
        group.append(run)
        entries = sum(member.points.size for member in group)
        if k + 1 < len(pending) and entries + pending[k + 1].points.size <= TOGETHER_ENTRIES:
            continue
        began = time.perf_counter()
        try:
            values = batch(np.concatenate([member.points for member in group], axis=1))
        except Exception:  # noqa: BLE001 - some input's points raise: each input is computed alone
            values = None
        seconds = (time.perf_counter() - began) / len(group)
        if values is not None:
            ends = np.cumsum([member.points.shape[1] for member in group])[:-1]
            for member, part in zip(group, np.split(values, ends, axis=1)):
                member.values, member.seconds = part, member.seconds + seconds
        group = []


EPS64 = float(np.finfo(np.float64).eps)


class _Vmapped:
    """The plain function one point at a time, and JAX's ``vmap`` of it over many
    (``try_batch``): what ``calling.enable_batching`` compares before it lets FD batch."""

    def __init__(self, plain, batch):
        self.plain, self.try_batch = plain, batch

    def __call__(self, x):
        return self.plain(x)


def _jax_batching(task, flat_function, x, source) -> bool:
    """JAX code that takes no batch axis of its own (``INPUTS @ params["w1"]``: a trailing axis on
    ``w1`` is no batch to ``@``) evaluated at all of an input's points in one call of
    ``jax.vmap`` over them, as the JAX backends' screen is: on a 50-parameter MLP, each input's
    96 points cost 96 eager JAX calls, the screen's largest cost. Used only where
    ``enable_batching``'s test passes: the batched values equal one call per point."""
    if task.framework != "jax":
        return False
    try:
        import jax
        import jax.numpy as jnp

        from ..backends.jax_backend import build_flat_function

        vmapped = jax.vmap(build_flat_function(task), in_axes=1, out_axes=1)  # a fresh import of the module
        dtype = task.arguments.dtype

        def batch(points: np.ndarray) -> np.ndarray:
            # Padded to a power of two points (copies of the first): eager JAX compiles each
            # operation for each new shape, and a batch's inputs bring a new count of points each.
            count = points.shape[1]
            padded = np.concatenate([points, np.repeat(points[:, :1], (1 << (count - 1).bit_length()) - count, axis=1)],
                                    axis=1)
            values = np.asarray(vmapped(jnp.asarray(padded, dtype=dtype)), dtype=np.float64)
            return values.reshape(-1, padded.shape[1])[:, :count]

        from ..backends.calling import enable_batching

        return enable_batching(flat_function, x, _Vmapped(source, batch))
    except Exception:  # noqa: BLE001 - not vmappable (numpy inside, Python control flow on values): point by point
        return False


def _second_scales(x: np.ndarray) -> np.ndarray:
    """Per input, the scale of the quick reference's second differences: the unit scale for an
    input above 1 (``sinc`` at 1e8 has a period of 2), and for an input far smaller than the
    others (below ``CROSS_CHECK_RATIO`` of their typical magnitude, as the ordinary reference
    does) their magnitude, capped at 1. On its own scale such an input moves the value by less
    than its rounding: ``sinc`` at 1.5e-8 beside inputs of order one is differenced with steps
    of 1e-13, an error bar of 0.04 on a slope of 5e-8, and JAX's derivative, a third off
    there, passed the screen unseen."""
    from ..finite_differences import CROSS_CHECK_RATIO, input_scales, step_scales

    own, unit = step_scales(x), input_scales(x)
    return np.where(own < CROSS_CHECK_RATIO * unit, np.minimum(unit, 1.0), np.minimum(own, 1.0))


def _both_scales(estimate, error, other, other_error):
    """One estimate from differences on two scales: where they agree within their error bars,
    the sharper one; where they do not (a function that oscillates on the larger step's scale:
    ``sinc`` at 1e8 has a period of 2), an error bar that covers both, so the screen flags nothing
    there that only the larger step sees."""
    agree = np.abs(estimate - other) <= error + other_error
    sharper = np.where(error <= other_error, estimate, other)
    covering = np.maximum(np.maximum(error, other_error), np.abs(estimate - other))
    return sharper, np.where(agree, np.minimum(error, other_error), covering)


def _points(x: np.ndarray, directions: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The points of central differences along each direction at steps h, -h, h/2 and -h/2, as
    columns in that order (``_richardson`` reads them so)."""
    moves = directions * steps[None, :]
    return np.concatenate([x[:, None] + moves, x[:, None] - moves, x[:, None] + moves / 2,
                           x[:, None] - moves / 2], axis=1)


def _richardson(values: np.ndarray, steps: np.ndarray, eps: float):
    """(derivative along each direction, error bar): columns of ``(n_outputs, n_directions)``,
    from the function's ``values`` at ``_points``."""
    k = steps.size
    wide = (values[:, :k] - values[:, k:2 * k]) / (2 * steps[None, :])
    narrow = (values[:, 2 * k:3 * k] - values[:, 3 * k:]) / steps[None, :]
    estimate = narrow + (narrow - wide) / 3.0
    rounding = QUICK_ROUNDING_ULPS * eps * np.max(np.abs(values), axis=1, keepdims=True) / steps[None, :]
    error = np.abs(narrow - wide) + rounding
    error = np.where(np.isfinite(estimate) & np.isfinite(error), error, np.inf)
    return np.where(np.isfinite(estimate), estimate, 0.0), error
