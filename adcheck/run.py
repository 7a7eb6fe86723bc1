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
from .loader import Target, detect_framework, parse_target, preflight
from .model import BackendRun, EntryMismatch, Location, RunReport, Status

DEFAULT_TIMEOUT = 120.0


def default_memory_limit(n_workers: int) -> int:
    """Each worker's share of three quarters of the machine (the workers run side by side),
    but at least 1 GiB: importing jax or torch alone takes a few hundred MB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return max(1 << 30, total * 3 // 4 // max(1, n_workers))


@dataclass(frozen=True)
class RunOptions:
    backends: tuple[str, ...] = ()  # empty: every applicable backend
    timeout: float = DEFAULT_TIMEOUT
    rtol: float | None = None
    atol: float | None = None
    memory_limit: int | None = None
    lint: bool = True
    order: int = 1  # 2: also check second derivatives
    mode: str = "auto"  # "full" Jacobians, "fast" products, or "auto": fast for many inputs


class FunctionCannotBeCalled(AdcheckError):
    """The plain-numpy call fails: there is nothing to compare."""

    exit_code = ExitCode.USAGE


def check_target(target_text: str, arguments: Arguments, options: RunOptions = RunOptions(),
                 progress=None) -> RunReport:
    """Run every applicable backend on TARGET and compare; ``progress(done, total, name)`` is
    called as each backend's worker finishes."""
    target = parse_target(target_text)
    preflight(target, len(arguments.values))  # before spawning anything: a target that cannot work
    framework = detect_framework(target.file)
    chosen = backend_registry.resolve(options.backends) if options.backends else list(backend_registry.REGISTRY.values())
    mode = _choose_mode(options, arguments)
    if mode == "fast" and options.order == 2:
        raise AdcheckError("--order 2 needs full Jacobians: use --mode full (or leave --mode at auto)")

    runnable, skipped = [], {}
    for backend in chosen:
        reason = backend.why_not_applicable(framework)
        if reason:
            skipped[backend.name] = BackendRun(backend.name, Status.NOT_APPLICABLE, message=reason)
        elif not backend.is_installed():
            hint = " (pip install 'adcheck[torch]')" if backend.package == "torch" else ""
            skipped[backend.name] = BackendRun(backend.name, Status.UNAVAILABLE,
                                               message=f"{backend.package} is not installed{hint}")
        else:
            runnable.append(backend)
    memory_limit = options.memory_limit or default_memory_limit(len(runnable))
    tasks = [Task(backend.name, target, arguments, framework, probes=options.lint, memory_limit=memory_limit,
                  options={"order": options.order, "mode": mode}) for backend in runnable]

    _share_cores(len(tasks))
    finished = []

    def on_done(result):
        finished.append(result.name)
        if progress is not None:
            progress(len(finished), len(tasks), result.name)

    computed = {run.name: run for run in run_tasks(tasks, options.timeout, on_done=on_done)}
    runs = [computed.get(b.name) or skipped[b.name] for b in chosen]
    reference = computed.get("fd")
    if reference is not None and reference.status == Status.ERROR:
        where = f" at {reference.location}" if reference.location else ""
        raise FunctionCannotBeCalled(f"{target.text}: importing or calling the function failed{where}: "
                                     f"{reference.message}")

    dtype = np.result_type(*(arguments.values[i] for i in arguments.wrt))
    mode_notes: list[str] = []
    second_order = None
    if mode == "fast":
        comparison, mode_note = _fast_comparison(target, arguments, framework, runs, dtype, options, memory_limit)
        if options.mode == "auto":
            mode_notes.append(f"--mode auto chose fast mode: {arguments.n_inputs} inputs make a full FD Jacobian "
                              "too costly (use --mode full to insist)")
        mode_notes.append(mode_note)
    else:
        one_sided = None
        if reference is not None and reference.extra.get("one_sided"):
            one_sided = OneSided(**reference.extra["one_sided"])
        comparison = compare(runs, dtype, options.rtol, options.atol, one_sided)
        if options.order == 2:
            second_order = compare_second_order(runs, dtype, options.rtol, options.atol)

    findings = ()
    if reference is not None:
        findings = tuple(reference.extra.get("findings", ()))
    if options.lint:
        from .explain.link import explain

        findings = explain(target, runs, comparison, findings)
    findings = tuple(dataclasses.replace(f, path=display_path(f.path)) for f in findings)
    comparison = _relative_locations(comparison)

    value = reference.value if reference is not None else None
    notes = _notes(arguments, framework) + tuple(mode_notes)
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
        timing_notes=_faster_mode_note(runs, value),
    )


def _choose_mode(options: RunOptions, arguments: Arguments) -> str:
    from .fast import AUTO_FAST_INPUTS

    if options.mode != "auto":
        return options.mode
    return "fast" if arguments.n_inputs > AUTO_FAST_INPUTS else "full"


def _fast_comparison(target, arguments, framework, runs, dtype, options, memory_limit):
    """Products against FD; a failing reverse-mode row is then localised by bisection in FD."""
    from .compare import tolerances
    from .fast import compare_fast

    comparison, to_localise, note = compare_fast(runs, dtype, options.rtol, options.atol)
    if not to_localise:
        return comparison, note
    reference = next(r for r in runs if r.status == Status.REFERENCE)
    atol = tolerances(reference.extra["jv"], dtype, options.rtol, options.atol)[1]
    task = Task("fd", target, arguments, framework, probes=False, memory_limit=memory_limit,
                options={"mode": "bisect", "bisect": to_localise, "rtol": options.rtol, "atol": atol})
    (located,) = run_tasks([task], options.timeout)
    if located.status != Status.REFERENCE:
        return comparison, note
    verdicts = []
    for verdict in comparison.verdicts:
        entries = located.extra["localised"].get(verdict.name)
        if entries:
            row = to_localise[verdict.name]["row_index"]
            output = _output_of_cotangent(row, reference.value.size)
            mismatches = tuple(
                EntryMismatch(output if output is not None else row, e["index"], e["value"], e["reference"],
                              e["reference_error"], abs(e["value"] - e["reference"]),
                              abs(e["value"] - e["reference"]) / max(abs(e["reference"]), 1e-300))
                for e in entries)
            plural = "y" if len(mismatches) == 1 else "ies"
            where = f"gradient entr{plural}" if output is not None else f"entr{plural} of u^T J (random cotangent {row})"
            verdict = dataclasses.replace(
                verdict, mismatches=mismatches, worst_entry=(mismatches[0].row, mismatches[0].col),
                n_mismatches=len(mismatches),
                message=f"{verdict.message}; localised by bisection to {len(mismatches)} {where}")
        verdicts.append(verdict)
    return dataclasses.replace(comparison, verdicts=tuple(verdicts)), note


def _output_of_cotangent(index: int, n_outputs: int) -> int | None:
    """The output row a cotangent picks out, when it is a basis vector (always for scalars)."""
    from .fast import N_RANDOM, probe_vectors

    if n_outputs == 1:
        return 0
    if index < N_RANDOM:
        return None
    return int(probe_vectors(1, n_outputs).sampled_rows[index - N_RANDOM])


def _faster_mode_note(runs, value) -> tuple[str, ...]:
    """Which mode computed this function's Jacobian faster here (the shape decides in theory)."""
    timed = {r.name: r.seconds for r in runs if r.status == Status.COMPUTED}
    if "jax-fwd" not in timed or "jax-rev" not in timed or value is None:
        return ()
    faster, slower = sorted(("jax-fwd", "jax-rev"), key=timed.get)
    return (f"{faster} was faster than {slower} here ({timed[faster]:.2f} s vs {timed[slower]:.2f} s; "
            f"{value.size} output{'' if value.size == 1 else 's'}: reverse mode costs one pass per output, forward mode one per input)",)


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


def _relative_locations(comparison):
    verdicts = tuple(
        dataclasses.replace(v, location=Location(display_path(v.location.path), v.location.line)) if v.location else v
        for v in comparison.verdicts)
    return dataclasses.replace(comparison, verdicts=verdicts)


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
