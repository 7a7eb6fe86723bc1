"""What a worker computes for each job of a task (``task.Job``): the backend's run, the
measurements taken around it after a disagreement, the blame replay, a search's batch, the
target's description and its cost. ``workers`` runs these in its processes; nothing here knows
about processes.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from .backends.calling import NotApplicable, error_location, error_run, not_applicable, safe_root
from .model import BackendRun, BlameRun, Description, EachResult, JobResult, Mode, NoiseResult, Status, Timing
from .task import (
    AtEach,
    Batch,
    Blame,
    Compute,
    Describe,
    Estimate,
    Jitter,
    Localise,
    Nearby,
    Task,
    WitnessColumns,
    WitnessDirections,
)


def execute(task: Task) -> JobResult:
    """The task's job (``task.Job``), dispatched on its type; its result is of the job's ``Result`` type."""
    if isinstance(task.job, (Describe, Estimate)):  # (neither compiles anything)
        return LOAD_ONLY[type(task.job)](task)
    if task.backend.startswith("jax") or task.framework in ("jax", "array-api"):
        from .compile_cache import enable_jax_persistent_cache

        enable_jax_persistent_cache()  # before anything compiles: a rerun loads what this one compiles
    if isinstance(task.job, Batch):
        from .search.screen import compute_batch

        return compute_batch(task)
    if isinstance(task.job, AtEach):
        return _at_each(task)
    if isinstance(task.job, Blame):
        return _blame(task)
    return _compute(task)


def _at_each(task: Task) -> EachResult:
    """``task.job.jobs[k]`` at ``task.job.inputs[k]`` (the search's second look), each as the
    ordinary task computes it (a failure at one input is that input's result), in ``each``.
    Where every one failed (the module does not import), the job failed, as the first says."""
    start = time.perf_counter()
    results = tuple(execute(dataclasses.replace(task, arguments=task.arguments.at(flat), job=job, probes=False))
                    for flat, job in zip(task.job.inputs, task.job.jobs))
    seconds = time.perf_counter() - start
    if results and all(result.status == Status.ERROR for result in results):
        return task.failed(Status.ERROR, seconds, results[0].message, results[0].location)
    return EachResult(task.backend, Status.REFERENCE, seconds, each=results)


def _blame(task: Task) -> BlameRun:
    from .explain.blame import blame

    start = time.perf_counter()
    try:
        return blame(task)
    except BaseException as exc:  # noqa: BLE001 - blame explains; it must never cost the report
        return error_run(task, exc, time.perf_counter() - start)


def _computation(task: Task):
    """What computes ``task``'s job at the input: the backend's own, or a measurement around it."""
    from .backends import REGISTRY

    backend = REGISTRY[task.backend]
    if isinstance(task.job, (WitnessColumns, WitnessDirections, Localise)):  # the reference's measurements
        from .backends import fd

        return {WitnessColumns: fd.witness, WitnessDirections: fd.witness_along, Localise: fd.localise}[type(task.job)]
    return {Jitter: with_own_noise, Nearby: backend.nearby, Compute: backend.compute}[type(task.job)]


def _compute(task: Task) -> JobResult:
    """The backend's computation at the input (or a measurement around it), then (for the
    reference's run) the runtime probes as their own step."""
    from .explain.probes import random_states

    start = time.perf_counter()
    before_import = random_states() if task.probes else None  # the probes' fresh import starts here too
    try:
        result = _computation(task)(task)
    except NotApplicable as exc:
        return task.failed(Status.NOT_APPLICABLE, time.perf_counter() - start, exc.message, exc.location)
    except MemoryError as exc:
        return failure_run(task, exc, start)
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        missing = not_applicable(exc, task.backend, safe_root(task))  # a mode the framework lacks, or None
        if missing is not None:
            return task.failed(Status.NOT_APPLICABLE, time.perf_counter() - start, missing.message, missing.location)
        return error_run(task, exc, time.perf_counter() - start)
    if task.probes and isinstance(result, BackendRun) and result.status == Status.REFERENCE and task.mode == Mode.FULL:
        from .explain.probes import probe

        try:
            result = dataclasses.replace(result, probes=probe(task, result.value, before_import))
        except Exception:  # noqa: BLE001 - the probes explain; they must never cost the row
            pass
    return result


# The nudges of ``with_own_noise``, in ulps of each input, with alternating signs across inputs.
JITTER_ULPS = (2.0, -2.0, 5.0, -5.0)


def with_own_noise(task: Task) -> NoiseResult:
    """The backend's own noise at the input: per entry, the largest change of its Jacobian (fast
    mode: of its products, ``_answer``) when the input moves by a few ulps (None where it cannot
    be measured).

    Such a nudge moves a smooth derivative by a few ulps too; an AD computation that cancels
    (``(x/2 cos(x/2) - sin(x/2)) / x**2`` at small x) moves by its own rounding error, which no
    comparison can see past. The Jacobian at the input is computed again at the end: a backend
    whose answer at the same input changes (state kept between calls) has no noise to claim.
    """
    from .backends import REGISTRY
    from .finite_differences import own_error_state

    compute = REGISTRY[task.backend].compute
    plain = dataclasses.replace(task, job=Compute(), order=1, contexts=(), probes=False)
    base = compute(plain)
    unmeasured = NoiseResult(base.name, base.status, base.seconds, base.message, base.location)
    if base.status != Status.COMPUTED or _answer(base) is None:
        return unmeasured
    x0 = task.arguments.flat()
    eps = np.finfo(x0.dtype).eps if np.issubdtype(x0.dtype, np.floating) else np.finfo(np.float64).eps
    signs = np.where(np.arange(x0.size) % 2 == 0, 1.0, -1.0)
    moves = []
    for ulps in JITTER_ULPS:
        with own_error_state():  # whatever np.seterr the user's module called
            nudged = x0 + (ulps * eps) * signs * np.abs(x0)
        run = compute(dataclasses.replace(plain, arguments=task.arguments.at(nudged)))
        if run.status != Status.COMPUTED or _answer(run) is None or _answer(run).shape != _answer(base).shape:
            return unmeasured
        with own_error_state():
            moves.append(np.abs(_answer(run) - _answer(base)))
    again = compute(plain)
    if _answer(again) is None or not np.array_equal(_answer(again), _answer(base), equal_nan=True):
        return unmeasured
    return dataclasses.replace(unmeasured, own_noise=np.max(moves, axis=0))


def _answer(run: BackendRun) -> np.ndarray | None:
    """What a backend's run answered: its Jacobian, or in fast mode its products (``J V`` in
    forward mode, ``U^T J`` in reverse mode): ``own_noise`` has that shape."""
    if run.jacobian is not None or run.products is None:
        return run.jacobian
    return run.products.jv if run.products.jv is not None else run.products.ujt


def describe(task: Task) -> Description:
    """What the target is, as far as the parent must know before it can build the arguments:
    the parameters of a torch.nn.Module target."""
    from .backends.calling import as_module, module_parameters
    from .frameworks import configure_for
    from .loader import UserCodeLoader

    start = time.perf_counter()
    try:
        configure_for(task.framework)
        module = as_module(UserCodeLoader(task.target, "numpy").load())
        described = module_parameters(module) if module is not None else None
    except BaseException as exc:  # noqa: BLE001 - the real run reports the problem with its row
        return error_run(task, exc, time.perf_counter() - start)
    return Description(task.backend, Status.REFERENCE, time.perf_counter() - start, module=described)


def time_one_evaluation(task: Task) -> Timing:
    """The time of one plain evaluation of the function, for ``--mode auto``: the quickest of up
    to three calls after the first (which pays for lazy imports and compiling), so a busy
    machine's pause is not taken for the function's cost."""
    from .backends.calling import load_user_function, plain_flat_function
    from .frameworks import configure_for

    start = time.perf_counter()
    try:
        configure_for(task.framework, task.arguments.dtype)
        flat_function = plain_flat_function(load_user_function(task), task.arguments, task.framework)
        x0 = task.arguments.flat().astype(np.float64)
        flat_function(x0)
        seconds = float("inf")
        for _ in range(3):
            timed = time.perf_counter()
            flat_function(x0)
            seconds = min(seconds, time.perf_counter() - timed)
            if time.perf_counter() - start > 1.0:  # a slow function: one timing says enough
                break
    except BaseException as exc:  # noqa: BLE001 - the run itself reports the function's failure
        return error_run(task, exc, time.perf_counter() - start)
    return Timing(task.backend, Status.REFERENCE, time.perf_counter() - start, evaluation=seconds)


# The jobs that only load the target (no framework compiles for them).
LOAD_ONLY = {Describe: describe, Estimate: time_one_evaluation}


def failure_run(task: Task, exc: BaseException, start: float) -> JobResult:
    """The task's job's result saying it failed with ``exc`` (adcheck's own failure included)."""
    seconds = time.perf_counter() - start
    if isinstance(exc, MemoryError):
        return task.failed(Status.ERROR, seconds, "out of memory (raise --memory-limit if the function needs more)",
                           error_location(exc, safe_root(task)))
    if isinstance(exc, KeyboardInterrupt):
        return task.failed(Status.ERROR, seconds, "interrupted")
    try:
        return error_run(task, exc, seconds)
    except BaseException:  # noqa: BLE001
        return task.failed(Status.ERROR, seconds, f"the worker failed: {type(exc).__name__}")
