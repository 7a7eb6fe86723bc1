"""The Python API: ``adcheck.check(f, *args)`` for any callable and any pytree of arrays.

``check`` is the engine the command line runs (``run.check_target``), given the user's own
objects instead of a ``file.py:func`` target: a closure, a ``functools.partial``, a bound
method, a ``torch.nn.Module``, with arguments that are numpy, JAX or torch arrays nested in
dicts, lists and tuples. It returns a ``Report`` (the verdict, a row per backend, the wrong
entries by name, the findings); ``str(report)`` is the table ``adcheck run`` prints.

Isolation (``isolation=``):

- ``"process"`` (the default): each backend computes in a worker process, as on the command
  line: a timeout and a memory limit hold, a crash or a hang in the function becomes a row, and
  nothing the backends set (JAX's float64 mode, torch's default dtype and thread count) reaches
  the caller's process. The workers stay warm across calls (one pool per process, closed at
  exit), so a test session pays for starting JAX and torch once, not once per check. The function
  travels to the worker pickled (cloudpickle, so closures and lambdas travel too) and each task
  unpickles a fresh copy.
- ``"none"``: everything runs in this process: no worker to start or feed, so a small check
  costs what the computation costs; but no timeout, no memory limit, and a crash in the
  function ends the caller. adcheck puts back the state it changes (the random generators,
  numpy's error settings, the warning filters, JAX's float64 flag and compilation cache,
  torch's default dtype and thread count); it leaves JAX's iteration over traced arrays as one
  ``unstack`` (same values and derivatives) and torch's inter-op threads at one.

The default is ``"process"`` because isolation is what makes a crash, a hang or a leaked global
a row in the report rather than a broken test session, and with warm workers it costs nothing:
the backends compute side by side and reuse compiled operations from check to check, so on a
2-core machine a pytest file of 20 checks took 0.56 of ``check_grads``'s time in process
isolation and 0.74 in this process (``benchmarks/api_vs_check_grads.py``; README). A function that
cannot be pickled (it holds a lock, an open file, a generator) runs in this process whatever
was asked, and the report says so.

Code written for plain numpy (or autograd run under JAX) is differentiated by rebinding its
imports, which needs the function imported from its file: a module-level function of that kind
is checked as ``adcheck run file.py:func`` would check it, in workers.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import threading
import types
from collections.abc import Mapping

import numpy as np

from .errors import InputError
from .model import RunReport

ISOLATIONS = ("process", "none")
DEFAULT_ISOLATION = "process"
OPTION_NAMES = ("rtol", "atol", "timeout", "lint", "memory_limit", "mode", "order", "fail_on", "blame",
                "blame_primitives", "blame_seconds", "contexts", "device")


# --- the report ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    """One backend's line of the table."""

    backend: str
    status: str  # agree, disagree, kink, inconclusive, error, not-applicable, unavailable, reference
    seconds: float
    error: float | None  # the worst |error| / tolerance over the judged entries (above 1: outside it)
    message: str = ""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One Jacobian entry where a backend is outside tolerance of the reference."""

    name: str  # "d loss / d params["w"][1, 0]"
    backend: str
    value: float
    reference: float
    reference_error: float
    error: float  # |value - reference| / the tolerance that applied


class DerivativeMismatch(AssertionError):
    """``Report.raise_for_failure``: the derivatives failed the policy; the message is the table."""

    def __init__(self, report: Report):
        super().__init__("\n" + str(report))
        self.report = report


@dataclasses.dataclass(frozen=True, repr=False)
class Report:
    """What ``check`` found: ``run`` is the report the command line renders."""

    run: RunReport
    isolation: str  # how the backends ran: "process" or "none"
    fail_on: str  # the failure policy the verdict follows (``--fail-on``)

    @property
    def verdict(self) -> str:
        """``pass``, ``fail``, or ``nothing checked`` (no AD backend could run the function)."""
        if self.run.nothing_checked and not self.run.failed:
            return "nothing checked"
        return "fail" if self.failures else "pass"

    @property
    def ok(self) -> bool:
        return self.verdict == "pass"

    @property
    def failures(self) -> tuple:
        from .check import failures_of

        return tuple(failures_of(self.run, self.fail_on))

    @property
    def rows(self) -> tuple[Row, ...]:
        return tuple(Row(v.name, str(v.status), v.seconds, v.max_rel_error, v.message)
                     for v in self.run.comparison.verdicts)

    def row(self, backend: str) -> Row:
        for row in self.rows:
            if row.backend == backend:
                return row
        raise KeyError(f"no backend {backend!r} in this report (it has {', '.join(r.backend for r in self.rows)})")

    @property
    def entries(self) -> Mapping[str, tuple[Entry, ...]]:
        """The entries outside tolerance, by name (``report.entries["d f / d x[1]"]``), one per
        backend that got it wrong."""
        found: dict[str, list[Entry]] = {}
        for verdict in self.run.comparison.verdicts:
            for m in verdict.mismatches:
                name = self.run.entry_name(m.row, m.col)
                found.setdefault(name, []).append(Entry(name, verdict.name, m.value, m.reference,
                                                        m.reference_error, m.rel_error))
        return types.MappingProxyType({name: tuple(entries) for name, entries in found.items()})

    @property
    def findings(self) -> tuple:
        return self.run.findings

    def raise_for_failure(self) -> None:
        """Raise ``DerivativeMismatch`` (an ``AssertionError`` carrying the table) unless the verdict is pass."""
        __tracebackhide__ = True
        if not self.ok:
            raise DerivativeMismatch(self)

    def __repr__(self) -> str:
        """One line (a notebook shows it; ``print(report)`` shows the table)."""
        rows = ", ".join(f"{r.backend} {r.status}" for r in self.rows if r.status not in ("not-applicable", "reference"))
        return f"<adcheck Report {self.verdict}: {rows or 'no AD backend ran'} (isolation={self.isolation!r})>"

    def __str__(self) -> str:
        from .report import table

        text = table.render(self.run, colour=False, timings=False)
        if self.verdict == "nothing checked":
            text += "\nnothing checked: no AD backend could run the function"
        return text


# --- running in this process -------------------------------------------------------------------------


class InProcess:
    """Runs tasks here, one after another (``workers.run_tasks`` hands them over): isolation "none"."""

    in_process = True

    def run(self, tasks, on_done=None) -> list:
        from .jobs import execute

        results = []
        for task in tasks:
            with _state_put_back(task):
                result = execute(task)
            results.append(result)
            if on_done is not None:
                on_done(result)
        return results


@contextlib.contextmanager
def _state_put_back(task):
    """What a backend sets for itself in a worker, put back after a task run in this process."""
    import random
    import sys
    import warnings

    numpy_random, numpy_errors, saved_random = np.random.get_state(), np.geterr(), random.getstate()
    filters = list(warnings.filters)
    jax_settings = None
    if task.backend.startswith("jax") or task.framework in ("jax", "array-api"):
        import jax

        jax.devices()  # started with the caller's platforms, so configure_jax leaves them alone
        jax_settings = {name: getattr(jax.config, name) for name in _JAX_SETTINGS if hasattr(jax.config, name)}
    torch = sys.modules.get("torch")
    torch_settings = (torch.get_rng_state(), torch.get_default_dtype(), torch.get_num_threads()) if torch else None
    try:
        yield
    finally:
        np.random.set_state(numpy_random)
        np.seterr(**numpy_errors)
        random.setstate(saved_random)
        warnings.filters[:] = filters
        if jax_settings is not None:
            import jax

            for name, value in jax_settings.items():
                if getattr(jax.config, name) != value:
                    jax.config.update(name, value)
        if torch_settings is not None:
            torch.set_rng_state(torch_settings[0])
            torch.set_default_dtype(torch_settings[1])
            torch.set_num_threads(torch_settings[2])
            torch.set_default_device(None)


_JAX_SETTINGS = ("jax_enable_x64", "jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                 "jax_persistent_cache_min_entry_size_bytes", "jax_default_device")


# --- warm workers ----------------------------------------------------------------------------------

_POOL = None
_POOL_LOCK = threading.Lock()
_CLOSED_AT_EXIT = []


def worker_pool():
    """The process's warm workers, made on first use and closed at exit (``closed_at_exit``)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from .workers import WorkerPool

            _POOL = WorkerPool()
        return _POOL


def closed_at_exit() -> None:
    """Close the pool at exit, before the fork server and the resource tracker are stopped
    (``workers._stop_fork_server``, registered when the first worker starts): exit handlers run
    last registered first, and the tracker waits for every worker holding its pipe."""
    if not _CLOSED_AT_EXIT:
        _CLOSED_AT_EXIT.append(True)
        atexit.register(close_workers)


def close_workers() -> None:
    """End the warm workers now (a notebook that wants its memory back); the next check starts new ones."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.close()


# --- the entry point -------------------------------------------------------------------------------


def check(f, *args, wrt=None, backends=None, isolation: str = DEFAULT_ISOLATION, **options) -> Report:
    """Check ``f``'s derivatives at ``args`` across every applicable backend; return the ``Report``.

    ``f``: any callable (a function, a closure, a ``functools.partial``, a bound method, a
    ``torch.nn.Module``, whose parameters are then differentiated as its first argument,
    ``params``). ``args``: its positional arguments, each an array (numpy, JAX or torch), a number,
    or a dict, list or tuple of them. ``wrt``: which arguments to differentiate (an index, a list of
    indices, or names and paths like ``"params.w,x"``; default all). ``backends``: names (fd
    always runs). ``isolation``: "process" (the default) or "none"; see the module's docstring.
    Options as the command line's flags: ``rtol``, ``atol``, ``timeout``, ``lint``,
    ``memory_limit``, ``mode``, ``order``, ``fail_on``, ``blame``, ``blame_primitives``,
    ``blame_seconds``, ``contexts``, ``device``. Bad arguments raise ``adcheck.errors.AdcheckError``
    (a ``TypeError`` for an unknown option).
    """
    from .prepare import GivenValues, prepare
    from .run import check_target
    from .settings import validated

    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"check() got unknown option(s) {', '.join(unknown)}; expected wrt, backends, isolation, "
                        f"{', '.join(OPTION_NAMES)}")
    if isolation not in ISOLATIONS:
        raise InputError(f"isolation: expected one of {', '.join(map(repr, ISOLATIONS))}, got {isolation!r}")
    if not callable(f):
        raise InputError(f"check() needs a callable, got a {type(f).__name__}")
    if not args:
        raise InputError("check() needs at least one argument to differentiate at")
    if backends is not None:
        options["backends"] = (backends,) if isinstance(backends, str) else tuple(backends)
    settings = validated({key: key for key in options}, **options)
    policy = str(settings.resolved().failure_policy)
    prepared = prepare(f, GivenValues(args, wrt), isolation=isolation)
    in_workers = prepared.isolation == "process"
    pool = worker_pool() if in_workers else InProcess()
    try:
        run = check_target(prepared, settings, pool=pool)
    finally:
        if in_workers:
            closed_at_exit()
    return Report(run, prepared.isolation, policy)


__all__ = ["check", "Report", "Row", "Entry", "DerivativeMismatch", "close_workers", "ISOLATIONS",
           "DEFAULT_ISOLATION"]
