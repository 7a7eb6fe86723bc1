"""The reference: adaptive finite differences with error estimates, and what backs them up.

In full mode the worker measures the precision the function computes in, computes the FD
Jacobian (``finite_differences``), screens for kinks, checks that a second call at the same point
gives the same value, and, for the columns whose FD error bars are too wide to decide anything,
tries the complex step and records the Taylor ladder. In fast mode it computes directional
derivatives along the shared probe vectors; when the parent asks, it localises a wrong gradient
entry by bisection.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from .. import finite_differences as fdm
from .. import ladders
from ..verdict.tolerances import (
    RowTolerances,
    absolute_tolerance,
    agreement_bound,
    fd_settled_columns,
    well_estimated,
)
from ..frameworks import configure_for
from ..model import (
    BackendRun,
    ComplexStep,
    JobResult,
    LocaliseResult,
    NearbyResult,
    Mode,
    OneSided,
    Precision,
    Products,
    Reference,
    Status,
    TaylorLadder,
    Witness,
    WitnessResult,
)
from .calling import (
    check_shapes,
    enable_batching,
    flat_output,
    load_user_function,
    output_dtypes,
    output_structure,
    plain_flat_function,
    user_compilation_off,
    values_nearby,
)

# The complex step and the Taylor ladder cost one and ten evaluations per column; beyond this
# many unsettled columns the entries stay as FD left them (inconclusive where it is unsure).
MAX_BACKUP_COLUMNS = 2000


def compute(task) -> BackendRun:
    """The reference run, eager under ``--contexts`` as the rows it checks; adcheck's numerics
    under their own error state (``fdm.own_error_state``), the user's calls under their module's."""
    with user_compilation_off(task):
        return _reference(task)


def _reference(task) -> BackendRun:
    start = time.perf_counter()
    # Before the import: module-level arrays get the backends' dtype.
    configure_for(task.framework, task.arguments.dtype)
    outside = np.geterr()
    func = fdm.in_users_error_state(lambda: load_user_function(task), outside)
    with fdm.own_error_state():
        return _compute(task, func, outside, start)


def _compute(task, func, outside: dict, start: float) -> BackendRun:
    arguments = task.arguments
    dtype = arguments.dtype
    flat_function = plain_flat_function(func, arguments, task.framework)
    x0 = arguments.flat().astype(np.float64)
    out = flat_function.raw(x0)
    value, dtypes, outputs = flat_output(out), output_dtypes(out), output_structure(out)
    name, eps, measured = fdm.working_precision(flat_function, x0, value, dtype, dtypes)
    noise = fdm.value_noise(flat_function, x0, value, eps)
    precision = Precision(name, eps, measured, noise)
    batch_source = fdm.in_users_error_state(lambda: load_user_function(task), outside)
    enable_batching(flat_function, x0, plain_flat_function(batch_source, arguments, task.framework))

    if task.mode == Mode.FAST:
        from ..fast import probe_vectors

        vectors = probe_vectors(x0.size, value.size, complex_columns=arguments.complex_columns)
        jv, jv_error = fdm.directional_derivatives(flat_function, x0, value.size, vectors.directions, eps, noise)
        return BackendRun(task.backend, Status.REFERENCE, time.perf_counter() - start, value=value,
                          products=Products(jv=jv, jv_error=jv_error), outputs=outputs,
                          reference=Reference(precision, impure=_impure(flat_function, x0, value, eps)))

    jac, err = fdm.finite_difference_jacobian(flat_function, x0, value.size, eps=eps, value=value, noise=noise)
    check_shapes(value, jac, x0.size)
    kinks = fdm.one_sided_at_kinks(flat_function, x0, value, eps, noise)
    one_sided = OneSided(kinks.columns, kinks.plus, kinks.plus_error, kinks.minus, kinks.minus_error) if kinks else None
    reference = Reference(precision, one_sided=one_sided, impure=_impure(flat_function, x0, value, eps))
    if not reference.impure:
        reference = _backups(task, func, batch_source, flat_function, x0, value, jac, err, reference,
                             _complex_note(task, outputs))
    return BackendRun(task.backend, Status.REFERENCE, time.perf_counter() - start, value=value, jacobian=jac,
                      error=err, reference=reference, outputs=outputs)


def nearby(task) -> NearbyResult:
    """Plain numpy's values near the input, for the rows of rebound backends to be held against."""
    start = time.perf_counter()
    configure_for(task.framework, task.arguments.dtype)
    with user_compilation_off(task):
        func = fdm.in_users_error_state(lambda: load_user_function(task), np.geterr())
        flat_function = plain_flat_function(func, task.arguments, task.framework)
        with fdm.own_error_state():
            values = values_nearby(flat_function, task.arguments.flat().astype(np.float64))
    return NearbyResult(task.backend, Status.REFERENCE, time.perf_counter() - start, nearby=values)


# Columns the second witness walks at most (44 evaluations each, the complex step one or two
# more); the worst entries' columns first. An accused entry beyond them stays unproven.
MAX_WITNESS_COLUMNS = 256


@dataclass(frozen=True)
class _Loaded:
    """The user's function as the measurements after a first comparison see it: plain, batched
    where it can be, at the input, with the precision it computes in."""

    func: object  # the user's function, as loaded
    batch_source: object  # a second load of it, for the batched calls (``calling.enable_batching``)
    flat_function: object  # flat float64 in, flat float64 out
    x0: np.ndarray
    out: object  # the raw value at x0
    value: np.ndarray
    precision: str  # "float64", "float32", ...
    eps: np.ndarray


def _measured(measure):
    """A worker entry point that runs ``measure(task, loaded)`` on the loaded function, eager and
    in adcheck's own error state, as the reference it questions (``compute``), and times it."""

    def entry(task) -> JobResult:
        start = time.perf_counter()
        configure_for(task.framework, task.arguments.dtype)
        with user_compilation_off(task):
            outside = np.geterr()
            func = fdm.in_users_error_state(lambda: load_user_function(task), outside)
            with fdm.own_error_state():
                arguments = task.arguments
                flat_function = plain_flat_function(func, arguments, task.framework)
                x0 = arguments.flat().astype(np.float64)
                out = flat_function.raw(x0)
                value = flat_output(out)
                name, eps, _ = fdm.working_precision(flat_function, x0, value, arguments.dtype, output_dtypes(out))
                batch_source = fdm.in_users_error_state(lambda: load_user_function(task), outside)
                enable_batching(flat_function, x0, plain_flat_function(batch_source, arguments, task.framework))
                found = measure(task, _Loaded(func, batch_source, flat_function, x0, out, value, name, eps))
        return dataclasses.replace(found, seconds=time.perf_counter() - start)

    entry.__doc__ = measure.__doc__
    return entry


@_measured
def witness(task, loaded: _Loaded) -> WitnessResult:
    """The second witness for ``task.job.columns``, the columns where FD alone found an AD backend
    wrong: the Taylor remainder walked down on both sides (``ladders.witness_ladders``)
    and the complex step, taken without FD's say-so (FD is the witness under question here)."""
    arguments, flat_function, x0, value, eps = (task.arguments, loaded.flat_function, loaded.x0, loaded.value,
                                                loaded.eps)
    columns = np.asarray(task.job.columns[:MAX_WITNESS_COLUMNS], dtype=int)
    # The rounding floor only, not ``value_noise``: that measure moves every input by 1e-6 of its
    # magnitude and more, and where FD failed (cos at 1e12) such moves span whole periods and
    # read the function's own variation as noise, which would drown every remainder.
    plus, minus = ladders.witness_ladders(flat_function, x0, value, columns, eps)
    complex_step, note = None, _complex_note(task, output_structure(loaded.out))
    if loaded.precision == "float64" and not note:
        try:
            complex_function = plain_flat_function(loaded.func, arguments, task.framework, complex_input=True)
            if flat_function.batch is not None:
                complex_source = plain_flat_function(loaded.batch_source, arguments, task.framework,
                                                     complex_input=True)
                enable_batching(complex_function, x0, complex_source, complex_input=True)
            cs, cs_error = fdm.complex_step_jacobian(complex_function, x0, value, columns, float(np.max(eps)),
                                                     check_step=ladders.WITNESS_CHECK_STEP)
            complex_step = ComplexStep(columns, cs, cs_error)
        except fdm.NotAnalytic as exc:
            note = str(exc)
    elif not note:
        note = f"not tried: the function computes in {loaded.precision}"
    found = Witness(TaylorLadder(columns, *plus), TaylorLadder(columns, *minus), complex_step, note)
    return WitnessResult(task.backend, Status.REFERENCE, witness=found)


@_measured
def witness_along(task, loaded: _Loaded) -> WitnessResult:
    """Fast mode's second witness: the Taylor remainder walked on both sides of the input along
    the probe directions ``task.job.directions``, where FD alone found products wrong
    (``ladders.direction_ladders``). No complex step: it would take one complex
    evaluation of the whole function per direction for a vote the walk already casts."""
    from ..fast import probe_vectors

    walked = np.asarray(task.job.directions, dtype=int)
    directions = probe_vectors(loaded.x0.size, loaded.value.size,
                               complex_columns=task.arguments.complex_columns).directions[:, walked]
    plus, minus = ladders.direction_ladders(loaded.flat_function, loaded.x0, loaded.value, directions, loaded.eps)
    found = Witness(TaylorLadder(walked, *plus), TaylorLadder(walked, *minus), None,
                    "not taken in fast mode (the Taylor walk is the second witness there)")
    return WitnessResult(task.backend, Status.REFERENCE, witness=found)


@_measured
def localise(task, loaded: _Loaded) -> LocaliseResult:
    """Fast mode: the wrong entries of each failing gradient row of ``task.job.rows``, by
    bisection in FD (``fast.bisect_row``)."""
    from ..fast import bisect_row

    job, eps = task.job, float(np.max(loaded.eps))
    tol = RowTolerances(np.array([eps]), job.rtol)
    atol = job.atol if job.atol is not None else 0.0

    def bound_for(value, error):
        return float(agreement_bound(np.array([[value]]), np.array([[error]]), tol, atol)[0, 0])

    localised = {}
    for backend, row in job.rows.items():
        def directional(w, u=row.cotangent):
            return fdm.line_derivative(loaded.flat_function, loaded.x0, w, u, eps=eps)

        localised[backend] = bisect_row(directional, row.row, row.direction, bound_for)
    return LocaliseResult(task.backend, Status.REFERENCE, localised=localised)


def _impure(flat_function, x0, value, eps) -> str:
    """A sentence when the value at ``x0`` has changed after all the FD's calls, else "".

    Two identical calls of a function give the same numbers bit for bit; the tolerance only
    keeps threaded reductions from raising a false alarm.
    """
    try:
        again = flat_function(x0)
    except Exception:  # noqa: BLE001 - a call that fails now tells the probes' story, not ours
        return ""
    scale = fdm.value_scale(value)
    bound = 64 * np.asarray(eps) * (np.abs(value) + 1e-6 * scale)
    same = (np.abs(again - value) <= bound) | (np.isnan(again) & np.isnan(value)) | (again == value)
    if np.all(same):
        return ""
    k = int(np.argmax(~same))
    return f"output {k} was {value[k]:.6g} at the first call and {again[k]:.6g} after the others"


def _complex_note(task, outputs) -> str:
    """Why there is no complex step for a function of complex numbers ("" for a real one): the
    step needs a real function it can extend to complex inputs, and the real and imaginary parts
    of a complex function are no such extension (``adcheck.complex_numbers``)."""
    if task.arguments.has_complex or any(leaf.complex for leaf in outputs):
        return "not tried: the function has complex inputs or outputs (the complex step needs a real function)"
    return ""


def _backups(task, func, batch_source, flat_function, x0, value, jac, err, reference: Reference,
             complex_note: str = "") -> Reference:
    """Complex step (where the function is real-analytic) and the Taylor ladder for the columns
    FD cannot settle. The complex step takes many points per call where the function batches
    real points (from ``batch_source``, the batches' own import of the user's module) and complex
    ones alike."""
    import dataclasses

    eps = reference.precision.eps
    settled, columns = fd_settled_columns(jac, err, value, eps, fdm.input_scales(x0))
    if columns.size == 0:
        return reference
    columns = columns[:MAX_BACKUP_COLUMNS]
    complex_step, note = None, complex_note
    if reference.precision.name == "float64" and not note:
        try:
            complex_function = plain_flat_function(func, task.arguments, task.framework, complex_input=True)
            if flat_function.batch is not None:
                complex_source = plain_flat_function(batch_source, task.arguments, task.framework, complex_input=True)
                enable_batching(complex_function, x0, complex_source, complex_input=True)
            cs, cs_error = fdm.complex_step_jacobian(complex_function, x0, value, columns, float(np.max(eps)))
            atol = absolute_tolerance(well_estimated(jac, err), value, eps, fdm.input_scales(x0),
                                      RowTolerances(eps).atol_scale)
            _check_against_fd(cs, jac[:, columns], err[:, columns], settled[:, columns], eps, atol[:, columns])
            complex_step = ComplexStep(columns, cs, cs_error)
        except fdm.NotAnalytic as exc:
            note = str(exc)
    elif not note:
        note = f"not tried: the function computes in {reference.precision.name}"
    steps, values, noise = ladders.taylor_ladder(flat_function, x0, value, columns, eps, reference.precision.noise)
    return dataclasses.replace(reference, complex_step=complex_step, complex_step_note=note,
                               taylor=TaylorLadder(columns, steps, values, noise))


def _check_against_fd(cs, fd, fd_error, settled, eps, atol) -> None:
    """The complex step must agree with FD wherever FD is sure (an ``abs`` or a branch on the real
    part makes it quietly wrong elsewhere)."""
    tol = RowTolerances(eps)
    bound = agreement_bound(fd, fd_error, tol, atol)
    if np.any(settled & ~(np.abs(cs - fd) <= bound)):
        raise fdm.NotAnalytic("it differs from finite differences where those are sure (abs, a comparison, "
                              "or a conjugate in the function?)")

