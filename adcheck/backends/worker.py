"""Run each backend in its own process.

Why a process per backend: a fresh import of the user's module means state one backend leaves
behind (a mutated global, a leaked tracer) cannot reach the next; a hang is killed at the
timeout; a segfault, ``sys.exit`` or memory exhaustion stays in the worker and becomes a row.
The workers start together, so a multi-core machine computes backends side by side.
"""

from __future__ import annotations

import inspect
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AdcheckError
from ..inputs import Arguments
from ..loader import Target, UserCodeLoader
from ..model import BackendRun, Location, Status


@dataclass(frozen=True)
class Task:
    backend: str
    target: Target
    arguments: Arguments
    framework: str
    probes: bool = True  # fd: run the runtime probes
    memory_limit: int | None = None  # bytes
    options: dict = field(default_factory=dict)  # order, mode ("full", "fast", "bisect"), ...


class UserCodeError(Exception):
    """The user's function misbehaved in a way that is not an exception of its own."""


# --- helpers used inside the worker ---------------------------------------------------------


def flavour_for(backend: str, framework: str) -> str:
    """Which rebinding a backend applies to code written for ``framework``."""
    if framework in ("jax", "torch", "array-api") or backend == "fd":
        return "numpy"
    if backend == "autograd":
        return "numpy" if framework == "autograd" else "autograd"
    if backend.startswith("jax"):
        return "jax"
    return "numpy"


def load_user_function(task: Task, flavour: str | None = None):
    func = UserCodeLoader(task.target, flavour or flavour_for(task.backend, task.framework)).load()
    check_callable_with(func, len(task.arguments.values), task.target.attribute)
    return func


def check_callable_with(func, n_arguments: int, name: str) -> None:
    """Fail with the signature when ``func`` cannot take ``n_arguments`` positional arguments.

    The parent checks plain ``def`` functions statically (``loader.preflight``); this catches the
    rest (decorated functions, callable objects, classes) before a confusing TypeError from deep
    inside a backend.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and C extensions may have none
        return
    try:
        signature.bind(*range(n_arguments))
    except TypeError as exc:
        raise UserCodeError(f"{name}{signature} cannot be called with {n_arguments} positional "
                            f"argument{'' if n_arguments == 1 else 's'}: {exc} (give one --input or --random "
                            "per positional argument)") from None


def output_parts(out) -> list:
    """The function's outputs as a list of array-likes; reject what cannot be differentiated."""
    if out is None:
        raise UserCodeError("the function returned None; expected a number, an array or a tuple of arrays")
    if isinstance(out, (str, bytes, dict, set)):
        raise UserCodeError(
            f"the function returned a {type(out).__name__}; expected a number, an array or a tuple of arrays"
        )
    if isinstance(out, (tuple, list)) and out and any(isinstance(o, (tuple, list)) for o in out):
        parts = []
        for o in out:
            parts.extend(output_parts(o))
        return parts
    if isinstance(out, (tuple, list)):
        if not out:
            raise UserCodeError("the function returned an empty sequence")
        # A list of scalars is one array; a tuple of arrays is several outputs.
        return list(out)
    return [out]


def error_location(exc: BaseException, root: Path | None) -> Location | None:
    """The innermost traceback frame in the user's code (a file under the target's root).

    A ``SyntaxError`` raised while importing a user module points at that module's line.
    """
    if root is None:
        return None
    found = None
    try:
        for frame in traceback.extract_tb(exc.__traceback__):
            if _is_user_file(frame.filename, root):
                found = Location(str(Path(frame.filename)), frame.lineno or 0)
        if isinstance(exc, SyntaxError) and exc.filename and exc.lineno and _is_user_file(exc.filename, root):
            found = Location(str(Path(exc.filename)), exc.lineno)
    except Exception:  # noqa: BLE001 - a location is a courtesy; never lose the row over it
        return found
    return found


def _is_user_file(filename: str, root: Path) -> bool:
    path = Path(filename)
    if not path.is_absolute():
        return False
    resolved = path.resolve()
    # A virtualenv inside the project directory is not the user's code.
    return resolved.is_relative_to(root) and "site-packages" not in resolved.relative_to(root).parts


def _safe_root(task: Task) -> Path | None:
    try:
        return task.target.root.resolve()
    except Exception:  # noqa: BLE001 - e.g. the module vanished
        return None


MAX_MESSAGE = 300


def describe_exception(exc: BaseException) -> str:
    """One line: the exception's type and message (adcheck's own errors: just the message)."""
    if isinstance(exc, SystemExit):
        return f"the function called sys.exit({exc.code!r})"
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    try:
        if isinstance(exc, (UserCodeError, AdcheckError)):
            text = str(exc)
        elif isinstance(exc, ModuleNotFoundError) and exc.name:
            text = f"ModuleNotFoundError: No module named {exc.name!r} (is it installed in this environment?)"
        else:
            # The type and the message's first line; not the __notes__ (JAX adds one about
            # filtered frames that would hide the message).
            message = str(exc).strip().splitlines()
            text = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
    except Exception:  # noqa: BLE001 - a user exception whose __str__ raises
        text = ""
    text = " ".join(text.split())  # multi-line messages (SyntaxError carets, numpy's) on one line
    if not text:
        text = type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def error_run(task: Task, exc: BaseException, seconds: float) -> BackendRun:
    return BackendRun(
        name=task.backend,
        status=Status.ERROR,
        seconds=seconds,
        message=describe_exception(exc),
        location=error_location(exc, _safe_root(task)),
    )


def check_shapes(value: np.ndarray, jacobian: np.ndarray, n_inputs: int) -> None:
    if jacobian.shape != (value.size, n_inputs):
        raise UserCodeError(f"Jacobian has shape {jacobian.shape}, expected {(value.size, n_inputs)}")


# --- the process side -------------------------------------------------------------------------


def _worker_main(task: Task, connection) -> None:
    """Compute one backend and send back a ``BackendRun``, whatever the user's code does.

    Nothing may escape from here: an uncaught exception would make multiprocessing print a
    traceback and send nothing.
    """
    start = time.perf_counter()
    try:
        # The user's prints must never reach our stdout (it may carry the JSON report).
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        if task.memory_limit:
            _limit_memory(task.memory_limit)
        result = _compute(task, start)
    except BaseException as exc:  # noqa: BLE001 - even adcheck's own failure must become a row
        result = _failure_run(task, exc, start)
    _send(connection, task, result)


def _compute(task: Task, start: float) -> BackendRun:
    from . import REGISTRY

    try:
        return REGISTRY[task.backend].compute(task)
    except MemoryError as exc:
        return _failure_run(task, exc, start)
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        return error_run(task, exc, time.perf_counter() - start)


def _failure_run(task: Task, exc: BaseException, start: float) -> BackendRun:
    seconds = time.perf_counter() - start
    if isinstance(exc, MemoryError):
        return BackendRun(task.backend, Status.ERROR, seconds,
                          "out of memory (raise --memory-limit if the function needs more)",
                          error_location(exc, _safe_root(task)))
    if isinstance(exc, KeyboardInterrupt):
        return BackendRun(task.backend, Status.ERROR, seconds, "interrupted")
    try:
        return error_run(task, exc, seconds)
    except BaseException:  # noqa: BLE001
        return BackendRun(task.backend, Status.ERROR, seconds, f"the worker failed: {type(exc).__name__}")


def _send(connection, task: Task, result: BackendRun) -> None:
    try:
        try:
            connection.send(result)
        except Exception as exc:  # noqa: BLE001 - an unpicklable value must still produce a row
            connection.send(BackendRun(task.backend, Status.ERROR, result.seconds,
                                       f"cannot send result: {describe_exception(exc)}"))
        connection.close()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - the parent is gone or the pipe broke: nothing left to tell
        pass


def _limit_memory(limit: int) -> None:
    import resource

    # RLIMIT_DATA bounds heap growth without counting the large virtual reservations that
    # jax and torch make up front (RLIMIT_AS would break them).
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        pass


def _death_message(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker did not finish"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return f"the worker was killed ({name}); out of memory?"
        return f"the worker crashed with {name}"
    return f"the worker exited with code {exitcode} before returning a result (os._exit or a fatal error)"


# Imported once by the fork server and shared, copy-on-write, by every worker forked from it.
# Never jax or torch (not fork-safe once initialised) and never the user's code.
_PRELOAD = ["numpy", "scipy.differentiate", "adcheck.backends.worker", "adcheck.backends.common",
            "adcheck.backends.fd", "adcheck.explain.probes"]


def _worker_context():
    """Workers come from a fork server that has numpy, scipy and adcheck already imported.

    A spawned worker spends about half a second importing them before it can start; a fork
    server pays that once per adcheck process (and ``adcheck check`` or a test session runs
    many). Each worker is still a fresh process that has imported no user code: the server
    never runs any. Where there is no fork server (not POSIX), workers are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def run_tasks(tasks: list[Task], timeout: float, jobs: int | None = None, on_done=None) -> list[BackendRun]:
    """Run every task in its own process, at most ``jobs`` at once; results in task order."""
    context = _worker_context()
    jobs = jobs or len(tasks)
    results: dict[int, BackendRun] = {}
    pending = list(enumerate(tasks))
    running: dict = {}  # connection -> (index, process, started)

    def start_next():
        index, task = pending.pop(0)
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_worker_main, args=(task, send), daemon=True)
        process.start()
        send.close()
        running[receive] = (index, process, time.perf_counter())

    try:
        while pending or running:
            while pending and len(running) < jobs:
                start_next()
            now = time.perf_counter()
            deadline = min(started + timeout for _, _, started in running.values())
            ready = multiprocessing.connection.wait(list(running), timeout=max(0.0, deadline - now))
            for connection in ready:
                index, process, started = running.pop(connection)
                try:
                    result = connection.recv()
                except (EOFError, OSError):
                    process.join(5)
                    result = BackendRun(tasks[index].backend, Status.ERROR, time.perf_counter() - started,
                                        _death_message(process.exitcode))
                connection.close()
                process.join(5)
                if process.is_alive():
                    process.kill()
                results[index] = result
                if on_done:
                    on_done(result)
            now = time.perf_counter()
            for connection, (index, process, started) in list(running.items()):
                if now - started >= timeout:
                    process.kill()
                    process.join()
                    connection.close()
                    del running[connection]
                    results[index] = BackendRun(tasks[index].backend, Status.ERROR, now - started,
                                                f"timed out after {timeout:g} s (--timeout)")
                    if on_done:
                        on_done(results[index])
    finally:
        # Interrupted (Ctrl-C, SIGTERM, an error of ours): no worker may outlive adcheck.
        for _, process, _ in running.values():
            process.kill()
    return [results[i] for i in range(len(tasks))]
