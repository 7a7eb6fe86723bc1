"""Assertions for users' own test suites.

    from adcheck.testing import assert_jacobians_agree

    def test_softplus_derivative():
        assert_jacobians_agree(softplus, np.linspace(-3, 3, 7), backends=["autograd"])
"""

from __future__ import annotations

import inspect

from .errors import InputError

OPTION_NAMES = ("backends", "rtol", "atol", "timeout", "wrt", "lint", "memory_limit")


def target_of(func) -> str:
    """``file.py:qualname`` for a module-level function (or a method of a module-level class)."""
    unwrapped = inspect.unwrap(func)  # functools.wraps-style decorators
    if getattr(unwrapped, "_is_autograd_primitive", False) and callable(getattr(unwrapped, "fun", None)):
        unwrapped = unwrapped.fun  # autograd's @primitive keeps the user's function here
    code = getattr(unwrapped, "__code__", None)
    qualname = getattr(unwrapped, "__qualname__", None)
    if code is None or not qualname:
        raise TypeError(f"assert_jacobians_agree needs a Python function, got {type(func).__name__}")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise TypeError(
            f"{qualname} is defined inside a function or is a lambda; adcheck imports the function "
            "from its file in a fresh process, so define it at module level"
        )
    return f"{code.co_filename}:{qualname}"


def assert_jacobians_agree(func, *args, **options) -> None:
    """Fail (``AssertionError`` carrying the report table) unless every AD backend agrees with FD.

    ``args`` are the positional arguments (numbers or arrays). Options: ``backends`` (names),
    ``rtol``, ``atol``, ``timeout`` (seconds per backend), ``wrt`` (argument indices),
    ``lint`` (default True), ``memory_limit`` (bytes).
    """
    from .inputs import _as_numeric_array, promote
    from .report import table
    from .run import DEFAULT_TIMEOUT, RunOptions, check_target

    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"assert_jacobians_agree got unknown option(s) {', '.join(unknown)}; "
                        f"expected {', '.join(OPTION_NAMES)}")
    if not args:
        raise InputError("assert_jacobians_agree needs at least one argument to differentiate at")
    raw = [_as_numeric_array(a, f"argument {i}") for i, a in enumerate(args)]
    wrt = options.get("wrt")
    if wrt is None:
        wrt = tuple(range(len(raw)))
    elif isinstance(wrt, int):
        wrt = (wrt,)
    wrt = tuple(sorted(wrt))
    for index in wrt:
        if not 0 <= index < len(raw):
            raise InputError(f"wrt: argument {index} does not exist (got {len(raw)} arguments)")
    backends = options.get("backends") or ()
    if isinstance(backends, str):
        backends = (backends,)
    run_options = RunOptions(
        backends=tuple(backends),
        timeout=options.get("timeout") or DEFAULT_TIMEOUT,
        rtol=options.get("rtol"),
        atol=options.get("atol"),
        memory_limit=options.get("memory_limit"),
        lint=options.get("lint", True),
    )
    report = check_target(target_of(func), promote(raw, wrt), run_options)
    if report.failed:
        raise AssertionError("\n" + table.render(report, colour=False, timings=False))
