"""The one way in: a target, a case or a callable, with its inputs, made ready to check.

``prepare`` parses the target once, summarises its source once and builds its ``Arguments`` once
(named after the function's parameters; a torch.nn.Module's parameters first). The command line
(``adcheck run``), ``adcheck check``'s cases, the Python API (``adcheck.check``) and
``adcheck.testing`` all start here, and ``run.check_target`` takes the ``Prepared`` it returns.
A mistake of the user's raises an ``AdcheckError`` carrying its exit code; nothing prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .config import Case
from .inputs import Arguments
from .loader import Target, parse_target
from .settings import DEFAULT_TIMEOUT
from .source import SourceSummary, summarize
from .task import Describe, Task
from .workers import available_cores, run_tasks, start_workers


@dataclass(frozen=True)
class CommandLineInputs:
    """``adcheck run``'s ``--input``, ``--random``, ``--seed``, ``--wrt`` and ``--inputs-from``, as given."""

    inputs: tuple[str, ...] = ()
    random_shapes: tuple[str, ...] = ()
    seed: int = 0
    wrt: str | None = None
    inputs_from: str | None = None


@dataclass(frozen=True)
class GivenValues:
    """Python values, one per positional argument, and which of them to differentiate.

    For a callable (``adcheck.check``) each value is a number, an array (numpy, JAX or torch) or a
    pytree of them, and ``wrt`` an index, a list of indices or names and paths ("params.w,x");
    for a ``file.py:func`` target (``testing.assert_jacobians_agree``) each is a number or an
    array, and ``wrt`` an index or a list of them. None: every argument.
    """

    values: tuple
    wrt: object = None


@dataclass(frozen=True)
class Prepared:
    """A target ready to check: parsed, its source summarised, its arguments built."""

    target: Target
    summary: SourceSummary
    arguments: Arguments
    isolation: str = "process"  # "none": a given function that runs in this process (adcheck.check)
    notes: tuple[str, ...] = ()  # how the target was prepared, for the end of the report's notes

    def at(self, flat: np.ndarray) -> Prepared:
        """The same target at other input values (``--search``)."""
        return replace(self, arguments=self.arguments.at(flat))


def prepare(subject: str | Case | Callable, inputs: CommandLineInputs | GivenValues | None = None, *,
            isolation: str = "process", timeout: float = DEFAULT_TIMEOUT, pool=None,
            before_workers: Callable[[], None] | None = None) -> Prepared:
    """``subject`` (a ``file.py:func`` or ``package.module:func`` text, a ``[[tool.adcheck.case]]``,
    or a callable) and its ``inputs`` (a case brings its own) as a ``Prepared``.

    ``isolation``: where a callable runs ("process" or "none", ``adcheck.check``). ``timeout``:
    for the workers that read a torch.nn.Module's parameters or run ``--inputs-from``.
    ``pool``: warm workers for them (``adcheck check``). ``before_workers()``: called once the
    target is known to parse, before the first worker starts (the command line readies JAX's
    compilation cache there).
    """
    if isinstance(subject, Case):
        target = parse_target(subject.run_target)
        summary = summarize(target)
        return _named(target, summary, _case_arguments(subject, target, summary, timeout, pool))
    if isinstance(subject, str):
        target = parse_target(subject)
        summary = summarize(target)  # once per run: preflight, the lint and the report read it
        if before_workers is not None:
            before_workers()
        if isinstance(inputs, GivenValues):
            return _named(target, summary, _array_arguments(inputs))
        return _named(target, summary, _command_line_arguments(inputs or CommandLineInputs(), target, summary,
                                                               timeout, pool))
    from .given import given_arguments, route

    values = inputs if isinstance(inputs, GivenValues) else GivenValues(())
    arguments, framework, names = given_arguments(subject, values.values, values.wrt)
    target, summary, ran, notes = route(subject, framework, names, isolation, arguments.module_target)
    return Prepared(target, summary, _with_parameter_names(arguments, summary), ran, tuple(notes))


def _named(target: Target, summary: SourceSummary, arguments: Arguments) -> Prepared:
    return Prepared(target, summary, _with_parameter_names(arguments, summary))


def _with_parameter_names(arguments: Arguments, summary: SourceSummary) -> Arguments:
    """Entries named after the function's parameters where the arguments have no names of their own."""
    if summary.parameters and all(name.startswith("arg") for name in arguments.names):
        return arguments.with_names(summary.parameters)
    return arguments


def _command_line_arguments(given: CommandLineInputs, target: Target, summary: SourceSummary, timeout: float,
                            pool) -> Arguments:
    from .inputs import build_arguments

    module = describe_module(target, summary, timeout, pool)
    made = None
    if given.inputs_from:
        from .inputs_from import inputs_from

        made = inputs_from(given.inputs_from, timeout=timeout)
    return build_arguments(given.inputs, given.random_shapes, given.seed, given.wrt, names=summary.parameters,
                           module=module, given=made)


def _array_arguments(given: GivenValues) -> Arguments:
    """A ``file.py:func`` target's arguments given as numbers or arrays (``assert_jacobians_agree``)."""
    from .inputs import as_numeric_array, promote, validate_wrt

    raw = [as_numeric_array(a, f"argument {i}") for i, a in enumerate(given.values)]
    wrt = tuple(range(len(raw))) if given.wrt is None else validate_wrt(given.wrt, len(raw), "wrt")
    return promote(raw, wrt)


def _case_arguments(case: Case, target: Target, summary: SourceSummary, timeout: float, pool) -> Arguments:
    """The case's arguments; a torch.nn.Module target's parameters first."""
    from .inputs import promote, random_arguments

    if case.random:
        raw = random_arguments(list(case.random), case.seed, where=f"{case.origin}: random",
                               dtypes=list(case.random_dtypes) or None)
    elif case.inputs_from:
        from .inputs import validate_wrt
        from .inputs_from import inputs_from

        raw = inputs_from(case.inputs_from, timeout=timeout, where=f"{case.origin}: inputs-from")
        if case.wrt is not None:
            validate_wrt(list(case.wrt), len(raw), f"{case.origin}: wrt")
    else:
        raw = list(case.arguments)
    wrt = case.wrt if case.wrt is not None else tuple(range(len(raw)))
    module = describe_module(target, summary, timeout, pool)
    if module is None:
        return promote(raw, wrt, summary.parameters)
    parameters, names = module
    arguments = promote([parameters, *raw], (0, *(i + 1 for i in wrt)), ("params", *names))
    return replace(arguments, module_target=True)


def describe_module(target: Target, summary: SourceSummary, timeout: float = DEFAULT_TIMEOUT,
                    pool=None) -> tuple | None:
    """A torch.nn.Module target's (parameters, forward's parameter names), read in a worker; else None.

    The parameters become the first argument, so every backend differentiates with respect to
    the same values, whatever the module's initialisation does on each import.
    """
    if not summary.maybe_module:
        return None
    from .inputs import promote

    placeholder = promote([np.zeros(1)], (0,))
    task = Task("fd", target, placeholder, str(summary.framework), job=Describe())
    # This is the run's first worker: the fork server starts now, as the run's tasks want it
    # (torch imported once for all of them, each worker's share of the cores: fd, and torch-fwd
    # and torch-rev in one worker or two), or the describing worker would import torch alone first.
    start_workers(3 if available_cores() >= 3 else 2, ("torch",))
    (described,) = run_tasks([task], timeout, pool=pool)
    return described.module
