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
import functools
import inspect
import threading
import types
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import InputError
from .model import Framework, RunReport

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


# --- the user's objects ------------------------------------------------------------------------------


def _underlying(f):
    """The Python function whose source and globals say what ``f`` is written for."""
    for _ in range(8):
        if getattr(f, "__wrapped__", None) is not None and not inspect.isfunction(f):
            f = f.__wrapped__  # jax.jit and functools.wraps-style wrappers keep the user's function here
        elif isinstance(f, functools.partial):
            f = f.func
        elif inspect.ismethod(f):
            f = f.__func__
        elif inspect.isfunction(f):
            return inspect.unwrap(f)
        elif callable(f) and not isinstance(f, type):
            forward = getattr(type(f), "forward", None)
            f = forward if _is_module(f) and forward is not None else type(f).__call__
        else:
            return f
    return f


def _is_module(obj) -> bool:
    torch = __import__("sys").modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _packages_reached(f, depth: int = 0, seen: set | None = None) -> set[str]:
    """Top-level packages ``f``'s code refers to, through its globals, closure and the user
    functions it calls (two levels down)."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    values = []
    if isinstance(f, functools.partial):
        values += [*f.args, *f.keywords.values()]
    if inspect.ismethod(f):
        values.append(f.__self__)
    function = _underlying(f)
    if id(function) in seen:
        return found
    seen.add(id(function))
    if inspect.isfunction(function):
        try:
            names = inspect.getclosurevars(function)
            values += [*names.nonlocals.values(), *names.globals.values()]
        except (TypeError, ValueError):  # a function whose code getclosurevars cannot read: its module speaks
            pass
        found.add((function.__module__ or "").partition(".")[0])
    elif function is not None:
        found.add((getattr(function, "__module__", "") or "").partition(".")[0])
    for value in values:
        if isinstance(value, types.ModuleType):
            found.add(value.__name__.partition(".")[0])
        elif inspect.isfunction(value) and depth < 2:
            found |= _packages_reached(value, depth + 1, seen)
        else:
            module = getattr(value, "__module__", None) if callable(value) else type(value).__module__
            found.add((module or "").partition(".")[0])
    return found


def _framework(f, kinds: set) -> Framework:
    from .source import framework_of

    if "torch" in kinds or _is_module(f):
        return Framework.TORCH
    if "jax" in kinds:
        return Framework.JAX
    return framework_of(_packages_reached(f))


def _parameter_names(f, module: bool) -> tuple[str, ...]:
    try:
        signature = inspect.signature(f.forward if module else f)
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in signature.parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _pickled(f) -> tuple[bytes | None, str]:
    """``f`` pickled for a worker (the user's own modules by value, so a worker need not import
    them), or None and why it cannot be."""
    import pickle

    try:
        import cloudpickle
    except ImportError:  # without it, what the standard pickle can take
        cloudpickle = None
    if cloudpickle is None:
        try:
            return pickle.dumps(f), ""
        except Exception as exc:  # noqa: BLE001 - any object's __reduce__ may fail in its own way
            return None, f"{type(exc).__name__}: {exc}"
    registered = []
    for module in _user_modules_of(f):
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:  # not in sys.modules under its name (pytest's importlib mode): by value anyway
            pass
    try:
        return cloudpickle.dumps(f), ""
    except Exception as exc:  # noqa: BLE001 - a lock, a generator, an open file in the closure
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _user_modules_of(f) -> list:
    """The modules of the user's own code ``f`` is defined in (not installed libraries)."""
    import sys

    from .loader import _is_installed_location

    function = _underlying(f)
    name = getattr(function, "__module__", None)
    module = sys.modules.get(name) if name else None
    file = getattr(module, "__file__", None)
    if module is None or name == "__main__" or file is None or _is_installed_location(Path(file)):
        return []
    return [module]


def _given_target(f, payload: bytes | None, module: bool):
    from .loader import GivenFunction, Target

    from .loader import _is_installed_location

    function = _underlying(f)
    code = getattr(function, "__code__", None)
    file = Path(code.co_filename) if code is not None else None
    path = file.resolve() if file is not None and file.suffix == ".py" and file.is_file() else None
    if module and path is not None and _is_installed_location(path):
        path = None  # torch.nn.Sequential: the user's model, not torch's file, is what is checked
    name = getattr(function, "__name__", None) or type(f).__name__
    qualname = getattr(function, "__qualname__", name)
    if module:
        qualname = name = type(f).__name__
    elif isinstance(f, functools.partial):
        qualname = f"partial({qualname})"
    elif inspect.ismethod(f):
        qualname = f"{type(f.__self__).__name__}.{name}"
    shown = f"{_display(path)}:{qualname}" if path is not None else qualname
    given = GivenFunction(payload) if payload is not None else GivenFunction(None, f)
    return Target(text=shown, path=path, module=getattr(function, "__module__", None) or "__main__",
                  attribute=name if name.isidentifier() else "f", function=given)


def _display(path: Path) -> str:
    from .model import display_path

    return display_path(str(path))


def _summary(target, f, framework: Framework, names: tuple[str, ...]):
    """The ``SourceSummary`` of a given function: its file parsed (for the lint), its line."""
    import ast

    from .source import SourceSummary, parsed_file

    function = _underlying(f)
    code = getattr(function, "__code__", None)
    line = code.co_firstlineno if code is not None else None
    if target.path is not None:
        try:
            source, tree = parsed_file(target.path)
            return SourceSummary(path=target.path, source=source, tree=tree, framework=framework,
                                 definition_line=line, reached=frozenset({str(framework)}), parameters=names)
        except Exception:  # noqa: BLE001 - an unreadable source costs the lint, not the check
            pass
    return SourceSummary(path=target.path or Path("<function>"), source="", tree=ast.Module(body=[], type_ignores=[]),
                         framework=framework, definition_line=None, reached=frozenset({str(framework)}),
                         parameters=names)


def module_level_target(func) -> str:
    """``file.py:qualname`` for a module-level function (or a method of a module-level class)."""
    unwrapped = inspect.unwrap(func)  # functools.wraps-style decorators
    if getattr(unwrapped, "_is_autograd_primitive", False) and callable(getattr(unwrapped, "fun", None)):
        unwrapped = unwrapped.fun  # autograd's @primitive keeps the user's function here
    code = getattr(unwrapped, "__code__", None)
    qualname = getattr(unwrapped, "__qualname__", None)
    if code is None or not qualname:
        raise TypeError(f"adcheck needs a Python function, got {type(func).__name__}")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise TypeError(
            f"{qualname} is defined inside a function or is a lambda; adcheck imports the function "
            "from its file in a fresh process, so define it at module level"
        )
    return f"{code.co_filename}:{qualname}"


def _file_route(f, framework: Framework):
    """``file.py:func`` for a module-level function written for numpy (or autograd): rebinding
    its imports, as the command line does, lets autograd and JAX differentiate it. Else None."""
    if framework not in (Framework.NUMPY, Framework.AUTOGRAD) or not inspect.isfunction(f):
        return None
    try:
        text = module_level_target(f)
    except TypeError:  # a closure or a lambda: checked as the object it is
        return None
    if not text.partition(".py:")[1] or not Path(text.rpartition(":")[0]).is_file():
        return None
    from .loader import parse_target

    return parse_target(text)


def _wrt(wrt, raw: list, names: tuple[str, ...]):
    from .inputs import select, validate_wrt

    if wrt is None:
        return {(i, ()) for i in range(len(raw))}
    if isinstance(wrt, str):
        return select(raw, names, wrt, "wrt")
    return {(i, ()) for i in validate_wrt(list(wrt) if isinstance(wrt, (list, tuple)) else wrt, len(raw), "wrt")}


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
    arguments, framework, names = _given_arguments(f, args, wrt)
    target, summary, ran, notes = _route(f, framework, names, isolation, arguments.module_target)
    pool = worker_pool() if ran == "process" else InProcess()
    try:
        run = check_target(target, arguments, settings, summary=summary, pool=pool)
    finally:
        if ran == "process":
            closed_at_exit()
    if notes:
        run = dataclasses.replace(run, notes=(*run.notes, *notes))
    return Report(run, ran, policy)


def _given_arguments(f, args, wrt):
    """(the ``Arguments`` of ``f``'s call at ``args``, the framework of the code, the arguments'
    names); a module's parameters come first, as ``params``, in float64 copies."""
    from .inputs import numpy_tree, promote

    kinds: set = set()
    raw = [numpy_tree(a, f"argument {i}", kinds) for i, a in enumerate(args)]
    module = _is_module(f)
    framework = _framework(f, kinds)
    names = _parameter_names(f, module)
    if module:
        import copy

        from .backends.calling import module_parameters

        parameters, names = module_parameters(copy.deepcopy(f))  # float64 copies; the caller's module is left as it is
        raw, names = [parameters, *raw], ("params", *names)
        if isinstance(wrt, (int, list, tuple)):  # indices count the inputs, as on the command line
            wrt = [int(i) + 1 for i in ([wrt] if isinstance(wrt, int) else wrt)]
    names = tuple(names[i] if i < len(names) else f"arg{i}" for i in range(len(raw)))
    arguments = dataclasses.replace(promote(raw, _wrt(wrt, raw, names), names), module_target=module)
    return arguments, framework, names


def _route(f, framework, names, isolation: str, module: bool):
    """(target, summary, where it runs: "process" or "none", notes): code that must be rebound is
    imported from its file in workers; anything else is sent to them pickled, or runs here."""
    notes = []
    target = None if module else _file_route(f, framework)
    if target is not None:
        from .source import summarize

        if isolation == "none":
            notes.append(f"{framework} code is differentiated by rebinding its imports in a fresh import of its file: "
                         "it ran in worker processes although isolation='none' was asked")
        return target, summarize(target), "process", notes
    payload, why = (None, "") if isolation == "none" else _pickled(f)
    ran = "process" if payload is not None else "none"
    if isolation == "process" and payload is None:
        notes.append(f"the function cannot be pickled for a worker process ({why}): it ran in this process, "
                     "without a timeout or a memory limit")
    given = f
    if module and payload is None:
        import copy

        given = copy.deepcopy(f)  # the backends make it float64: not the caller's module
    target = _given_target(given, payload, module)
    if ran == "none":
        notes.append("isolation: ran in this process (isolation='none')")
    return target, _summary(target, f, framework, names), ran, notes


__all__ = ["check", "Report", "Row", "Entry", "DerivativeMismatch", "close_workers", "ISOLATIONS",
           "DEFAULT_ISOLATION"]
