"""The main job: one target, every applicable backend, compared and explained.

``check_target`` returns a ``RunReport``; it never prints.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np

from . import backends as backend_registry
from .backends.worker import Task, run_tasks
from .compare import OneSided, compare, compare_second_order
from .errors import AdcheckError, ExitCode
from .inputs import Arguments
from .loader import Target, detect_framework, parse_target
from .model import ArgumentInfo, BackendRun, Location, RunReport, Status

DEFAULT_TIMEOUT = 120.0


def default_memory_limit() -> int:
    """Each worker may use half the machine's memory by default."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


@dataclass(frozen=True)
class RunOptions:
    backends: tuple[str, ...] = ()  # empty: every applicable backend
    timeout: float = DEFAULT_TIMEOUT
    rtol: float | None = None
    atol: float | None = None
    memory_limit: int | None = None
    lint: bool = True
    order: int = 1  # 2: also check second derivatives


class FunctionCannotBeCalled(AdcheckError):
    """The plain-numpy call fails: there is nothing to compare."""

    exit_code = ExitCode.USAGE


def check_target(target_text: str, arguments: Arguments, options: RunOptions = RunOptions(),
                 on_done=None) -> RunReport:
    target = parse_target(target_text)
    framework = detect_framework(target.file)
    chosen = backend_registry.resolve(options.backends) if options.backends else list(backend_registry.REGISTRY.values())
    memory_limit = options.memory_limit or default_memory_limit()

    tasks, skipped = [], {}
    for backend in chosen:
        reason = backend.why_not_applicable(framework)
        if reason:
            skipped[backend.name] = BackendRun(backend.name, Status.NOT_APPLICABLE, message=reason)
        elif not backend.is_installed():
            skipped[backend.name] = BackendRun(
                backend.name, Status.UNAVAILABLE,
                message=f"{backend.package} is not installed" + (" (pip install 'adcheck[torch]')" if backend.package == "torch" else ""))
        else:
            tasks.append(Task(backend.name, target, arguments, framework, memory_limit=memory_limit,
                              options={"order": options.order}))

    _share_cores(len(tasks))
    computed = {run.name: run for run in run_tasks(tasks, options.timeout, on_done=on_done)}
    runs = [computed.get(b.name) or skipped[b.name] for b in chosen]
    reference = computed.get("fd")
    if reference is not None and reference.status == Status.ERROR:
        where = f" at {reference.location}" if reference.location else ""
        raise FunctionCannotBeCalled(f"{target.text}: calling the function failed{where}: {reference.message}")

    dtype = np.result_type(*(arguments.values[i] for i in arguments.wrt))
    one_sided = None
    if reference is not None and reference.extra.get("one_sided"):
        one_sided = OneSided(**reference.extra["one_sided"])
    comparison = compare(runs, dtype, options.rtol, options.atol, one_sided)
    second_order = compare_second_order(runs, dtype, options.rtol, options.atol) if options.order == 2 else None

    findings = ()
    if reference is not None:
        findings = tuple(reference.extra.get("findings", ()))
    if options.lint:
        from .explain.link import explain

        findings = explain(target, runs, comparison, findings)
    findings = tuple(dataclasses.replace(f, path=display_path(f.path)) for f in findings)

    value = reference.value if reference is not None else None
    notes = _notes(arguments, framework)
    return RunReport(
        target=target.text,
        arguments=arguments.info,
        output_shapes=((value.size,),) if value is not None else (),
        framework=framework,
        runs=tuple(runs),
        comparison=comparison,
        findings=findings,
        notes=notes,
        source=_definition_line(target),
        second_order=second_order,
    )


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(n_workers: int) -> None:
    """Give each worker an equal share of the cores for BLAS threads (unless the user chose).

    The workers run side by side; each BLAS library defaults to one thread per core, so four
    workers on two cores would run eight busy threads and a linear solve would slow fourfold.
    Spawned workers inherit the environment, which is read when their numpy loads.
    """
    share = str(max(1, (os.cpu_count() or 1) // max(1, n_workers)))
    for variable in _THREAD_VARIABLES:
        os.environ.setdefault(variable, share)


def _notes(arguments: Arguments, framework: str) -> tuple[str, ...]:
    notes = [f"code written for {framework}"]
    for info in arguments.info:
        if info.promoted_from:
            notes.append(f"argument {info.index} was {info.promoted_from}; promoted to float64 to differentiate it")
    return tuple(notes)


def display_path(path: str) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


def _definition_line(target: Target) -> Location | None:
    import ast

    from .loader import parse_source

    try:
        tree = parse_source(target.file)
    except AdcheckError:
        return None
    name = target.attribute.split(".")[-1]
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return Location(display_path(str(target.file)), node.lineno)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return Location(display_path(str(target.file)), node.lineno)
    return None


def argument_summary(info: tuple[ArgumentInfo, ...]) -> str:
    return ", ".join(f"{'x'.join(map(str, a.shape)) or 'scalar'} {a.dtype}" for a in info)
