"""Run each backend in its own process.

Why a process per backend: a fresh import of the user's module means state one backend leaves
behind (a mutated global, a leaked tracer) cannot reach the next; a hang is killed at the
timeout; a segfault, ``sys.exit`` or memory exhaustion stays in the worker and becomes a row.
The workers start together, so a multi-core machine computes backends side by side.
"""

from __future__ import annotations

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

from ..inputs import Arguments
from ..loader import Target, UserCodeLoader
from ..model import BackendRun, Location, Status


@dataclass(frozen=True)
class Task:
    backend: str
    target: Target
    arguments: Arguments
    framework: str
    columns: tuple[int, ...] | None = None  # fd one-sided pass: only these input columns
    step_direction: int = 0  # fd: 0 central, +1/-1 one-sided
    probes: bool = True  # fd: run the runtime probes
    memory_limit: int | None = None  # bytes
    options: dict = field(default_factory=dict)


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
    return UserCodeLoader(task.target, flavour or flavour_for(task.backend, task.framework)).load()


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


def error_location(exc: BaseException, root: Path) -> Location | None:
    """The innermost traceback frame in the user's code (a file under the target's root)."""
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename)
        if path.is_absolute() and path.resolve().is_relative_to(root) and "site-packages" not in path.parts:
            found = Location(str(path), frame.lineno or 0)
    return found


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"the function called sys.exit({exc.code!r})"
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    lines = traceback.format_exception_only(type(exc), exc)
    text = " ".join(line.strip() for line in lines[-1:]).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


def error_run(task: Task, exc: BaseException, seconds: float) -> BackendRun:
    return BackendRun(
        name=task.backend,
        status=Status.ERROR,
        seconds=seconds,
        message=describe_exception(exc),
        location=error_location(exc, task.target.root.resolve()),
    )


def check_shapes(value: np.ndarray, jacobian: np.ndarray, n_inputs: int) -> None:
    if jacobian.shape != (value.size, n_inputs):
        raise UserCodeError(f"Jacobian has shape {jacobian.shape}, expected {(value.size, n_inputs)}")


# --- the process side -------------------------------------------------------------------------


def _worker_main(task: Task, connection) -> None:
    # The user's prints must never reach our stdout (it may carry the JSON report).
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    if task.memory_limit:
        _limit_memory(task.memory_limit)
    from . import REGISTRY

    start = time.perf_counter()
    try:
        result = REGISTRY[task.backend].compute(task)
    except MemoryError as exc:
        result = BackendRun(task.backend, Status.ERROR, time.perf_counter() - start,
                            "out of memory (raise --memory-limit if the function needs more)",
                            error_location(exc, task.target.root.resolve()))
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        result = error_run(task, exc, time.perf_counter() - start)
    try:
        connection.send(result)
    except Exception as exc:  # noqa: BLE001 - an unpicklable value must still produce a row
        connection.send(BackendRun(task.backend, Status.ERROR, result.seconds, f"cannot send result: {exc}"))
    connection.close()
    sys.stdout.flush()
    sys.stderr.flush()


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


def run_tasks(tasks: list[Task], timeout: float, jobs: int | None = None, on_done=None) -> list[BackendRun]:
    """Run every task in its own process, at most ``jobs`` at once; results in task order."""
    context = multiprocessing.get_context("spawn")
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
    return [results[i] for i in range(len(tasks))]
