"""Assertions for users' own test suites.

    from adcheck.testing import assert_jacobians_agree

    def test_softplus_derivative():
        assert_jacobians_agree(softplus, np.linspace(-3, 3, 7), backends=["autograd"])
"""

from __future__ import annotations

import inspect

from .errors import InputError

OPTION_NAMES = ("backends", "rtol", "atol", "timeout", "wrt", "lint", "memory_limit", "mode", "order", "fail_on",
                "search", "seed")


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
    ``lint`` (default True), ``memory_limit`` (bytes or a size like "4G"), ``mode``, ``order``
    and ``fail_on`` (as the command line's flags), ``search`` (check up to that many more inputs,
    ``adcheck run --search``) with ``seed``. No AD backend able to run the function is a failure
    too: nothing was checked.
    """
    from .check import failures_of
    from .inputs import as_numeric_array, promote, validate_wrt
    from .report import table
    from .run import check_target
    from .settings import validated

    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"assert_jacobians_agree got unknown option(s) {', '.join(unknown)}; "
                        f"expected {', '.join(OPTION_NAMES)}")
    if not args:
        raise InputError("assert_jacobians_agree needs at least one argument to differentiate at")
    raw = [as_numeric_array(a, f"argument {i}") for i, a in enumerate(args)]
    wrt = options.pop("wrt", None)
    wrt = tuple(range(len(raw))) if wrt is None else validate_wrt(wrt, len(raw), "wrt")
    from .settings import seed as valid_seed

    seed = valid_seed(options.pop("seed", 0), "seed")
    settings = validated({key: key for key in options}, **options)
    arguments = promote(raw, wrt)
    if settings.search:
        report = _searched(target_of(func), arguments, settings, seed)
    else:
        report = check_target(target_of(func), arguments, settings)
    if report.nothing_checked or failures_of(report, settings.resolved().failure_policy):
        raise AssertionError("\n" + table.render(report, colour=False, timings=False))


def _searched(target_text: str, arguments, settings, seed: int):
    """The run and its ``search`` in the same warm workers (``adcheck run --search``)."""
    from dataclasses import replace

    from .loader import parse_target
    from .run import check_target
    from .search import search
    from .source import summarize
    from .workers import WorkerPool

    target = parse_target(target_text)
    summary = summarize(target)
    pool = WorkerPool()
    try:
        report = check_target(target, arguments, settings, summary=summary, pool=pool)
        return replace(report, search=search(target, arguments, settings, summary, pool, count=settings.search,
                                             seed=seed))
    finally:
        pool.close()
