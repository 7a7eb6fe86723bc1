"""Assertions for users' own test suites.

    from adcheck.testing import assert_derivatives

    def test_loss_gradient():
        params = {"w": jnp.ones(3), "b": jnp.zeros(())}
        assert_derivatives(lambda p: loss(p, batch), params)

``assert_derivatives`` takes any callable and any pytree of numpy, JAX or torch arrays
(``adcheck.check``); a failure's message is the report table, and pytest shows it without this
module's source (``__tracebackhide__``). ``assert_jacobians_agree`` is the older, file-based form.
"""

from __future__ import annotations

from .given import module_level_target as target_of
from .errors import InputError

OPTION_NAMES = ("backends", "rtol", "atol", "timeout", "wrt", "lint", "memory_limit", "mode", "order", "fail_on",
                "search", "seed")


def assert_derivatives(f, *args, **options):
    """Fail (``AssertionError`` whose message is the report table) unless ``f``'s derivatives at
    ``args`` pass; return the ``adcheck.api.Report`` when they do.

    Takes what ``adcheck.check`` takes: any callable (closure, ``functools.partial``, bound method,
    ``torch.nn.Module``), arguments that are arrays or pytrees of them, and the options ``wrt``,
    ``backends``, ``isolation`` ("process", the default, or "none"), ``rtol``, ``atol``,
    ``timeout``, ``lint``, ``mode``, ``order``, ``fail_on``... No AD backend able to run the
    function is a failure too: nothing was checked.
    """
    __tracebackhide__ = True  # pytest: the failure shows the report, not this helper
    from .api import check
    from .errors import AdcheckError

    try:
        report = check(f, *args, **options)
    except AdcheckError as exc:  # the function cannot be called at these arguments: one line, not adcheck's stack
        raise AssertionError(f"adcheck: {exc}") from None
    if not report.ok:
        raise AssertionError("\n" + str(report))
    return report


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
    from .prepare import GivenValues, prepare
    from .report import table
    from .run import check_target
    from .settings import validated

    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise TypeError(f"assert_jacobians_agree got unknown option(s) {', '.join(unknown)}; "
                        f"expected {', '.join(OPTION_NAMES)}")
    if not args:
        raise InputError("assert_jacobians_agree needs at least one argument to differentiate at")
    prepared = prepare(target_of(func), GivenValues(args, options.pop("wrt", None)))
    from .settings import seed as valid_seed

    seed = valid_seed(options.pop("seed", 0), "seed")
    settings = validated({key: key for key in options}, **options)
    if settings.search:
        report = _searched(prepared, settings, seed)
    else:
        report = check_target(prepared, settings)
    if report.nothing_checked or failures_of(report, settings.resolved().failure_policy):
        raise AssertionError("\n" + table.render(report, colour=False, timings=False))


def _searched(prepared, settings, seed: int):
    """The run and its ``search`` in the same warm workers (``adcheck run --search``)."""
    from dataclasses import replace

    from .run import check_target
    from .search import search
    from .workers import WorkerPool

    pool = WorkerPool()
    try:
        report = check_target(prepared, settings, pool=pool)
        return replace(report, search=search(prepared, settings, pool, count=settings.search, seed=seed))
    finally:
        pool.close()
