"""``--inputs-from file.py:make_inputs``: the function's arguments made by a function of the user's.

A JAX user's parameters come from ``init(key)``, a torch user's from a model: values no JSON on a
command line can hold. The user's function returns them (pytrees of arrays included); it runs in
a worker process, as every piece of the user's code does, and its arrays come back as numpy.
"""

from __future__ import annotations

from pathlib import Path

from .backends.calling import describe_exception, error_location
from .errors import AdcheckError, InputError
from .frameworks import configure_for
from .inputs import numpy_tree
from .loader import UserCodeLoader, parse_target
from .source import summarize
from .workers import _main_script_hidden, _worker_context, end

INPUTS_FROM_TIMEOUT = 120.0  # seconds, as a backend's default (settings.DEFAULT_TIMEOUT)


def inputs_from(text: str, base: Path | None = None, timeout: float = INPUTS_FROM_TIMEOUT,
                where: str = "--inputs-from") -> list:
    """The arguments ``file.py:make_inputs`` returns (a tuple: one per argument; anything else:
    the one argument), as numpy pytrees.

    The function is the user's code, so it runs in a worker process, never here: its file is
    imported there (JAX set to float64 first, as the backends have it, so ``init(key)`` makes
    float64 parameters), and a crash, a hang (``timeout``) or an exception is one line naming the
    function. ``base``: the directory a relative file path is taken from.
    """
    try:
        target = parse_target(text, base)
        framework = str(summarize(target).framework)
    except AdcheckError as exc:
        raise InputError(f"{where} {text}: {exc.message}", hint=exc.hint) from None
    # The fork server starts with this worker; started here bare, it would keep only numpy and
    # every backend's worker would import the framework again (about a second each).
    _start_fork_server_for(framework)
    context = _worker_context()
    reader, writer = context.Pipe(duplex=False)
    process = context.Process(target=_make_inputs, args=(target, framework, writer), daemon=True)
    with _main_script_hidden():
        process.start()
    writer.close()
    try:
        if not reader.poll(timeout):
            raise InputError(f"{where} {text}: no arguments after {timeout:g} s (the function did not return)")
        try:
            status, payload = reader.recv()
        except (EOFError, OSError):
            process.join(5)
            raise InputError(f"{where} {text}: the worker ended before returning (exit code {process.exitcode})") \
                from None
    finally:
        reader.close()
        end(process)
        process.join(1)
    if status != "ok":
        raise InputError(f"{where} {text}: {payload}")
    return payload


def _start_fork_server_for(framework: str) -> None:
    """The workers' fork server, with the framework the inputs' file is written for imported."""
    from .workers import available_cores, start_workers

    start_workers(3 if available_cores() >= 3 else 2,
                  tuple(name for name in ("jax", "torch") if framework in (name, "array-api" if name == "jax" else "")))


def _make_inputs(target, framework: str, connection) -> None:
    """In the worker: import, call, convert, send (``inputs_from``)."""
    try:
        configure_for(framework)
        made = UserCodeLoader(target, "numpy").load()()
        arguments = list(made) if isinstance(made, tuple) else [made]
        if not arguments:
            raise InputError("returned an empty tuple; return one value per argument")
        result = ("ok", [numpy_tree(a, f"argument {i}") for i, a in enumerate(arguments)])
    except BaseException as exc:  # noqa: BLE001 - the user's function may raise anything; it becomes the message
        location = error_location(exc, target.root)
        result = ("error", describe_exception(exc) + (f" at {location.displayed()}" if location else ""))
    try:
        connection.send(result)
    except Exception as exc:  # noqa: BLE001 - the parent is gone, or the arrays cannot be pickled
        connection.send(("error", f"cannot send the arguments back: {type(exc).__name__}: {exc}"))
