"""The main job: one target, every applicable backend, compared and explained.

``check_target`` returns a ``RunReport``; it never prints.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import backends as backend_registry
from .compare import compare, compare_second_order
from .contexts import with_stale_traces
from .devices import resolve_device
from .errors import AdcheckError, ExitCode
from .finite_differences import input_scales, step_scales, typical_scale
from .inputs import Arguments
from .loader import Target, module_layout
from .model import (
    BackendRun,
    Comparison,
    Location,
    Mode,
    RunReport,
    SecondLook,
    Status,
    Witness,
    display_path,
    output_name,
)
from .settings import Settings, choose_mode, default_memory_limit
from .prepare import Prepared
from .source import SourceSummary, preflight
from .task import Blame, Estimate, Jitter, Localise, Nearby, Task, WitnessColumns, WitnessDirections
from .verdict.reference import precision_of
from .workers import available_cores, run_tasks, start_workers


class FunctionCannotBeCalled(AdcheckError):
    """The plain-numpy call fails: there is nothing to compare."""


class ValueNotFinite(AdcheckError):
    """The function's value at the input is NaN or inf: no witness can verify a derivative there."""

    exit_code = ExitCode.USAGE


@dataclasses.dataclass(frozen=True)
class Plan:
    """Which backends run (as tasks) and which cannot (as rows saying why)."""

    tasks: tuple[Task, ...]
    skipped: dict[str, BackendRun]
    order: tuple[str, ...]  # every chosen backend's name, in registry order


def plan(target: Target, arguments: Arguments, framework: str, settings: Settings, mode: Mode,
         installed: bool) -> Plan:
    """Ask the registry what each chosen backend can do with this code, mode and order."""
    chosen = (backend_registry.resolve(settings.backends) if settings.backends
              else list(backend_registry.REGISTRY.values()))
    runnable, skipped = [], {}
    for backend in chosen:
        try:
            backend.check_supports(mode, settings.order)
            rebinding = backend.rebinding(framework, installed, given=target.function is not None)
        except backend_registry.Unsupported as reason:
            skipped[backend.name] = BackendRun(backend.name, Status.NOT_APPLICABLE, message=str(reason))
            continue
        if not backend.is_installed():
            hint = f" ({backend.install_hint})" if backend.install_hint else ""
            skipped[backend.name] = BackendRun(backend.name, Status.UNAVAILABLE,
                                               message=f"{backend.package} is not installed{hint}")
            continue
        runnable.append((backend, rebinding))
    memory_limit = settings.memory_limit or default_memory_limit(len(runnable))
    tasks = tuple(Task(backend.name, target, arguments, str(framework),
                       flavour=rebinding.flavour if rebinding else "numpy",
                       rebound=rebinding.description if rebinding else "",
                       mode=mode, order=settings.order, probes=settings.lint and backend.reference,
                       memory_limit=memory_limit, module_target=arguments.module_target,
                       contexts=tuple(c for c in (settings.contexts or ()) if c != "eager")
                       if backend_registry.Capability.CONTEXTS in backend.capabilities else (),
                       eager=bool(settings.contexts), device=settings.device or "cpu")
                  for backend, rebinding in runnable)
    return Plan(tasks, skipped, tuple(b.name for b in chosen))


def worker_lanes(tasks, pooled: bool = False):
    """Which tasks share a worker, one after another (``workers.run_tasks``).

    On a machine with at least a core per task, none: each backend computes on a core of its
    own. With fewer, torch-fwd and torch-rev share one (torch's first function transform in a
    process imports torch._dynamo, over a second; the second backend then starts warm), and so do
    jax-fwd and jax-rev across the cases of ``adcheck check`` (``pooled``), where JAX's warm-up
    of each new function costs every case. A single run keeps its JAX modes side by side: there
    they finish sooner in two workers than warm in one. Each task imports the user's module
    afresh either way.
    """
    if available_cores() >= len(tasks):
        return lambda task: task.backend

    def lane(task):
        package = backend_registry.REGISTRY[task.backend].package
        return package if package == "torch" or (pooled and package == "jax") else task.backend

    return lane


def check_target(prepared: Prepared, settings: Settings = Settings(), progress=None, pool=None) -> RunReport:
    """Run every applicable backend on the prepared target (``prepare.prepare``) and compare;
    ``progress(done, total, name)`` is called as each backend's worker finishes. ``pool``: warm
    workers to run the tasks in (``adcheck check``), else a worker per task."""
    settings = settings.resolved()
    device, device_note = resolve_device(settings.device)  # before any worker; --device gpu without one: exit 2
    settings = dataclasses.replace(settings, device=device)
    target, summary, arguments = prepared.target, prepared.summary, prepared.arguments
    # Before spawning anything: a target that cannot work. (A module's forward is called by torch.)
    preflight(target, summary, None if arguments.module_target else arguments.n_arguments)
    installed = module_layout(target).installed
    mode, auto_note = auto_mode(target, arguments, summary, settings, pool)
    work = plan(target, arguments, summary.framework, settings, mode, installed)
    runs, reference = _computed(work, target, summary, arguments, settings, progress, pool)
    precision = precision_of(reference, reference.value.size if reference is not None and reference.value is not None
                             else 0, arguments.dtype)
    judged = _judged(work, runs, mode, arguments, settings, precision, pool,
                     _row_namer(arguments, reference, target.attribute.split(".")[-1]))
    notes = ([device_note] if device_note else []) + ([auto_note] if mode == Mode.FAST and auto_note else [])
    notes += judged.notes
    comparison, findings, explain_notes = _explained(work, judged, target, summary, arguments, settings, reference,
                                                     pool)
    value = reference.value if reference is not None else None
    return RunReport(
        target=target.text,
        arguments=arguments.info,
        output_shapes=((value.size,),) if value is not None else (),
        outputs=reference.outputs if reference is not None else (),
        function=target.attribute.split(".")[-1],
        framework=str(summary.framework),
        runs=tuple(judged.runs),
        comparison=comparison,
        findings=findings,
        notes=_notes(arguments, summary, precision, installed, target) + tuple(notes + explain_notes)
              + prepared.notes,
        source=_source_location(summary),
        second_order=judged.second_order,
        timing_notes=_faster_mode_note(judged.runs, value, arguments.n_inputs, mode),
        mode=str(mode),
    )


def _computed(work: Plan, target: Target, summary: SourceSummary, arguments: Arguments, settings: Settings,
              progress, pool) -> tuple[list[BackendRun], BackendRun | None]:
    """Every planned task run (the lint while the workers start), and the reference's run; a
    function that cannot be called or whose value is not finite at the input stops here."""
    finished = []

    def on_done(result):
        finished.append(result.name)
        if progress is not None:
            progress(len(finished), len(work.tasks), result.name)

    lane = worker_lanes(work.tasks, pooled=pool is not None)
    if not getattr(pool, "in_process", False):  # adcheck.check(isolation="none") starts no process
        start_workers(len({lane(t) for t in work.tasks}), _preloads(work.tasks))
    if settings.lint:
        from .explain.link import lint

        lint(target, summary)  # now, while the fork server imports; explain finds it done
    computed = {run.name: run for run in run_tasks(list(work.tasks), settings.timeout, on_done=on_done, pool=pool,
                                                   lane=lane)}
    runs = [computed.get(name) or work.skipped[name] for name in work.order]
    reference = computed.get("fd")
    if reference is not None and reference.status in (Status.ERROR, Status.NOT_APPLICABLE):
        where = f" at {reference.location}" if reference.location else ""
        raise FunctionCannotBeCalled(f"{target.text}: importing or calling the function failed{where}: "
                                     f"{reference.message}{_container_hint(arguments)}")
    if reference is not None and reference.value is not None and not np.all(np.isfinite(reference.value)):
        k = int(np.argmax(~np.isfinite(reference.value)))
        name = output_name(reference.outputs, target.attribute.split(".")[-1], k)
        raise ValueNotFinite(f"{target.text}: the function's value at the input is {reference.value[k]} at {name} "
                             f"({int(np.sum(~np.isfinite(reference.value)))} of {reference.value.size} outputs not "
                             "finite): no derivative can be checked there; choose an input inside its domain")
    return runs, reference


@dataclasses.dataclass(frozen=True)
class _Judged:
    runs: list  # the runs, with what the second look measured
    comparison: Comparison
    second_order: Comparison | None
    notes: tuple[str, ...]  # fast mode: what it checked (first and second order); none in full mode


def _judged(work: Plan, runs, mode: Mode, arguments: Arguments, settings: Settings, precision, pool,
            row_name) -> _Judged:
    """The comparison: fast mode's products, or full mode's entries with a second look where FD
    alone accused; and the second derivatives under --order 2 (``row_name(forward, i)`` names
    fast mode's rows of a first derivative)."""
    x0 = arguments.flat().astype(np.float64)
    if mode == Mode.FAST:
        runs, comparison, mode_note = _fast_comparison(work, runs, arguments, settings, precision.eps,
                                                       typical_scale(x0), step_scales(x0), pool)
        notes = (mode_note,)
        second_order = None
        if settings.order == 2:
            from .fast_second_order import compare_fast_second_order

            second_order, second_note = compare_fast_second_order(
                runs, arguments.n_inputs, settings.rtol, settings.atol, typical_scale=typical_scale(x0),
                row_name=row_name)
            notes += (second_note,) if second_note else ()
        return _Judged(runs, comparison, second_order, notes)

    def full(runs):
        return compare(runs, settings.rtol, settings.atol, eps_rows=precision.eps, input_scales=input_scales(x0),
                       own_scales=step_scales(x0))

    comparison = full(runs)
    runs = _second_look(work, runs, comparison, settings, pool)
    if any(run.second_look.taken for run in runs):
        comparison = full(runs)
    second_order = None
    if settings.order == 2:
        second_order = compare_second_order(runs, settings.rtol, settings.atol, input_scales=input_scales(x0))
    return _Judged(runs, comparison, second_order, ())


def _explained(work: Plan, judged: _Judged, target: Target, summary: SourceSummary, arguments: Arguments,
               settings: Settings, reference, pool) -> tuple[Comparison, tuple, list[str]]:
    """(comparison, findings, notes) once blame, --contexts, the probes and the lint have had
    their say, locations relative to the working directory."""
    runs, comparison = judged.runs, judged.comparison
    findings = reference.probes.findings if reference is not None and reference.probes is not None else ()
    blamed, notes = _blame(work, comparison, settings, pool, judged.second_order)
    findings = (*findings, *blamed)
    contextual = ()
    function = target.attribute.split(".")[-1]
    if settings.contexts:
        from .contexts import check_contexts

        checked = check_contexts(runs, comparison, settings, summary, arguments, function)
        contextual, comparison = checked.findings, checked.comparison
        notes += checked.notes
    # After blame (no primitive is wrong there) and --contexts (whose ADC607 names the entries).
    comparison = with_stale_traces(comparison, findings)
    if settings.lint:
        from .explain.link import explain

        findings = explain(target, summary, runs, comparison, findings,
                           entry_name=_entry_namer(arguments, reference, function))
    # ADC607 already names the row it explains (the backend whose context differs); after explain,
    # which links runtime findings by code.
    findings = tuple(dataclasses.replace(f, path=display_path(f.path)) for f in (*contextual, *findings))
    return _relative_locations(comparison), findings, list(notes)


def auto_mode(target: Target, arguments: Arguments, summary: SourceSummary, settings: Settings,
              pool=None) -> tuple[Mode, str]:
    """The mode (``settings.choose_mode``) and, when auto chose fast, the note that says why.

    Auto mode with more than ``AUTO_ALWAYS_FULL_INPUTS`` inputs times one evaluation of the
    function in a worker first (unless the input count alone puts full Jacobians over budget): the
    cost of a full FD Jacobian is that times the input count times the evaluations per column, and
    a slow function of a few thousand inputs is fast mode's case as much as a quick one of a million.
    """
    from .settings import AUTO_ALWAYS_FULL_INPUTS, AUTO_FULL_SECONDS, full_jacobian_seconds

    if settings.mode != "auto" or arguments.n_inputs <= AUTO_ALWAYS_FULL_INPUTS:
        return choose_mode(settings.mode, arguments.n_inputs), ""
    floor = full_jacobian_seconds(arguments.n_inputs, 0.0)
    if floor > AUTO_FULL_SECONDS:  # the columns' bookkeeping alone is over budget: no timing can change that
        return Mode.FAST, (f"--mode auto chose fast mode: full Jacobians of {arguments.n_inputs} inputs would take "
                           f"over {floor:.0f} s however quick the function (use --mode full to insist)")
    task = Task("fd", target, arguments, str(summary.framework), job=Estimate(), module_target=arguments.module_target,
                memory_limit=settings.memory_limit or default_memory_limit(1))
    if not getattr(pool, "in_process", False):
        start_workers(1, _preloads([task]))
    (timed,) = run_tasks([task], settings.timeout, pool=pool)
    if timed.status != Status.REFERENCE:  # the function fails: the run says how, in full mode's words
        return choose_mode(settings.mode, arguments.n_inputs, 0.0), ""
    mode = choose_mode(settings.mode, arguments.n_inputs, timed.evaluation, settings.order)
    if mode != Mode.FAST:
        return mode, ""
    estimate = full_jacobian_seconds(arguments.n_inputs, timed.evaluation, settings.order)
    what = "Jacobians and Hessians" if settings.order == 2 else "Jacobians"
    return mode, (f"--mode auto chose fast mode: one evaluation takes {timed.evaluation * 1e3:.2g} ms, so full "
                  f"{what} of {arguments.n_inputs} inputs would take about {estimate:.0f} s "
                  "(use --mode full to insist)")


def _second_look(work: Plan, runs: list[BackendRun], comparison: Comparison, settings: Settings,
                 pool=None) -> list[BackendRun]:
    """The runs, where an AD backend disagreed, with what may explain it other than a wrong
    derivative, measured in one more round of tasks. A run where every backend agrees pays nothing.

    - The backend's own rounding noise (``jobs.with_own_noise``): a derivative whose
      computation cancels is no wrong rule.
    - For a rebound backend (numpy code under JAX, say), the function's values near the input, and
      plain numpy's: rebound code may compute another function that agrees at the input only
      (numpy's ``eigh`` reads one triangle, ``jax.numpy``'s symmetrises), and then its derivative
      is that other function's (``verdict.chain.judge``).
    - The second witness, for the entries finite differences alone found wrong (``fd.witness``):
      no entry is convicted on FD's word alone.
    """
    wrong = {v.name: v for v in comparison.verdicts
             if v.status == Status.DISAGREE and v.name != "fd" and not v.primal_mismatch}
    noisy = {name for name, v in wrong.items() if v.n_nonfinite < v.n_mismatches}
    rebound = {run.name for run in runs if run.name in wrong and run.rebound}
    tasks = [dataclasses.replace(task, job=Jitter(), probes=False, contexts=())
             for task in work.tasks if task.backend in noisy]
    if rebound:
        tasks += [dataclasses.replace(task, job=Nearby(), probes=False, contexts=(), order=1)
                  for task in work.tasks if task.backend in rebound or task.backend == "fd"]
    columns = _accused_columns(wrong.values())
    if columns:
        tasks += [dataclasses.replace(task, job=WitnessColumns(columns), probes=False, contexts=(), order=1)
                  for task in work.tasks if task.backend == "fd"]
    if not tasks:
        return runs
    found: dict[str, dict] = {}  # per backend, its SecondLook's fields
    for task, result in zip(tasks, run_tasks(tasks, settings.timeout, pool=pool,
                                             lane=worker_lanes(tasks, pooled=pool is not None))):
        if isinstance(task.job, Jitter) and result.own_noise is not None:
            found.setdefault(result.name, {})["own_noise"] = result.own_noise
        elif isinstance(task.job, Nearby) and result.nearby is not None:
            found.setdefault(result.name, {})["nearby"] = result.nearby
        elif isinstance(task.job, WitnessColumns):
            # A witness that could not be taken (the worker failed) still ends the provisional
            # accusations: with no second witness they are inconclusive, never convicted.
            found.setdefault(result.name, {})["witness"] = result.witness or Witness.absent(result.message)
    return [dataclasses.replace(run, second_look=SecondLook(**found[run.name])) if run.name in found else run
            for run in runs]


def _accused_columns(verdicts) -> tuple[int, ...]:
    """The columns of the entries FD alone found wrong, the worst entries' first."""
    worst: dict[int, float] = {}
    for verdict in verdicts:
        if verdict.unwitnessed is None:
            continue
        for column in np.flatnonzero(verdict.unwitnessed.any(axis=0)).tolist():
            worst[column] = max(worst.get(column, 0.0), float(verdict.max_rel_error or 0.0))
    return tuple(sorted(worst, key=lambda c: -worst[c]))


def _entry_namer(arguments: Arguments, reference, function: str):
    """``name(row, col)`` -> ``d f[0] / d x[1]``, the names the report gives the entry."""
    outputs = reference.outputs if reference is not None else ()
    return lambda row, col: f"d {output_name(outputs, function, row)} / d {arguments.column_name(col)}"


def _row_namer(arguments: Arguments, reference, function: str):
    """``name(forward, i)``: row i of a first derivative, an output (``J u``) or an input (``J^T w``)."""
    outputs = reference.outputs if reference is not None else ()
    return lambda forward, i: output_name(outputs, function, i) if forward else arguments.column_name(i)


def _blame(work: Plan, comparison, settings: Settings, pool=None, second_order=None) -> tuple[tuple, list[str]]:
    """Per-primitive checking of each AD backend that disagreed, in its own worker, under the
    budget: the findings (ADC502, ADC501, ADC604 with the primitive) and a note when it stopped
    early. A correct run pays nothing: no backend disagreed, no task runs."""
    if not settings.blame:
        return (), []
    wrong = [v.name for v in comparison.verdicts if v.status == Status.DISAGREE and v.name != "fd"]
    if second_order is not None:  # --order 2: a rule whose own derivative is wrong fails only there
        wrong += [v.name for v in second_order.verdicts if v.status == Status.DISAGREE and v.name not in wrong]
    tasks = [dataclasses.replace(task, job=Blame(settings.blame_primitives, settings.blame_seconds), probes=False)
             for task in work.tasks if task.backend in wrong and not task.rebound]
    if not tasks:
        return (), []
    findings, notes = [], []
    for result in run_tasks(tasks, settings.timeout, pool=pool, lane=worker_lanes(tasks, pooled=pool is not None)):
        if result.blame is None:
            if result.message:
                notes.append(f"{result.name}: the per-primitive check failed: {result.message}")
            continue
        findings += [dataclasses.replace(f, explains=tuple(dict.fromkeys((*f.explains, result.name))))
                     for f in result.blame.findings]
        if result.blame.stopped:
            notes.append(f"{result.name}: the per-primitive check stopped early ({result.blame.stopped}); "
                         f"{result.blame.checked} of {result.blame.total} primitives checked")
    return _one_per_call_site(findings), notes


def _one_per_call_site(findings: list) -> tuple:
    """Two backends that blame the same rule at the same call: one finding explaining both (with
    the first backend's numbers; the table shows every backend's value)."""
    merged: dict[tuple, object] = {}
    for f in findings:
        key = (f.code, f.path, f.line, f.col) if f.code != "ADC604" else id(f)  # ADC604 names its backend
        if key in merged:
            merged[key] = dataclasses.replace(merged[key], explains=tuple(dict.fromkeys((*merged[key].explains,
                                                                                          *f.explains))))
        else:
            merged[key] = f
    return tuple(merged.values())


def _container_hint(arguments: Arguments) -> str:
    """When an argument reached the function as a dict or list (a pytree), say so: a JSON object
    is a dict, and a function that wanted an array fails on it."""
    from .inputs import Slot

    containers = [name for name, skeleton in zip(arguments.names, arguments.skeletons)
                  if not isinstance(skeleton, Slot) and not arguments.module_target]
    if not containers:
        return ""
    kinds = {dict: "a dict (from a JSON object)", list: "a list (from a JSON list holding objects or $list)",
             tuple: "a tuple (from $tuple)"}
    first = containers[0]
    kind = kinds[type(arguments.skeletons[arguments.names.index(first)])]
    return f" ({first} is {kind}; for an array write a nested list of numbers)"


def _fast_comparison(work: Plan, runs, arguments: Arguments, settings: Settings, eps_rows, scale, own_scales,
                     pool=None):
    """(runs, comparison, note): products against FD (``verdict.products``); where FD alone
    accused products, the Taylor walk along their directions as the second witness; then a
    failing reverse-mode row is localised by bisection in FD."""
    from .verdict.products import compare_fast, with_localised

    def judged(runs):
        return compare_fast(runs, arguments.n_inputs, settings.rtol, settings.atol, eps_rows=eps_rows,
                            typical_scale=scale, own_scales=own_scales, complex_columns=arguments.complex_columns)

    fast = judged(runs)
    fd_task = next(t for t in work.tasks if t.backend == "fd")
    if fast.to_walk:
        runs = _walked(work, runs, fast, fd_task, settings, pool)
        fast = judged(runs)
    if not fast.localise:
        return runs, fast.comparison, fast.note
    task = dataclasses.replace(fd_task, job=Localise(fast.localise, settings.rtol, fast.localise_atol), probes=False,
                               contexts=(), order=1)
    (located,) = run_tasks([task], settings.timeout, pool=pool)
    if located.status != Status.REFERENCE:
        return runs, fast.comparison, fast.note
    reference = next(r for r in runs if r.status == Status.REFERENCE)
    return runs, with_localised(fast.comparison, located.localised, fast.localise, reference.value.size), fast.note


def _walked(work: Plan, runs, fast, fd_task: Task, settings: Settings, pool) -> list:
    """Fast mode's second look, in one round of tasks: the walk along the accused directions
    (``fd.witness_along``), and the own rounding noise of each backend FD accused
    (``jobs.with_own_noise``): a derivative whose computation cancels is no wrong rule."""
    accused = {v.name for v in fast.comparison.verdicts
               if v.status == Status.DISAGREE and v.name != "fd" and not v.primal_mismatch
               and v.n_nonfinite < v.n_mismatches}
    tasks = [dataclasses.replace(fd_task, job=WitnessDirections(fast.to_walk), probes=False, contexts=(), order=1)]
    tasks += [dataclasses.replace(task, job=Jitter(), probes=False, contexts=(), order=1)
              for task in work.tasks if task.backend in accused]
    found: dict[str, dict] = {}  # per backend, its SecondLook's fields
    for task, result in zip(tasks, run_tasks(tasks, settings.timeout, pool=pool,
                                             lane=worker_lanes(tasks, pooled=pool is not None))):
        if isinstance(task.job, WitnessDirections):
            # A walk that could not be taken still ends the provisional accusations: unproven, not convicted.
            found["fd"] = {"witness": result.witness or Witness.absent(result.message)}
        elif result.own_noise is not None:
            found[result.name] = {"own_noise": result.own_noise}
    return [dataclasses.replace(run, second_look=SecondLook(**found[run.name])) if run.name in found else run
            for run in runs]


# Forward-versus-reverse advice only when the difference is far above run-to-run noise: each
# backend is timed once, side by side with the others on shared cores, and on a busy 2-core machine
# two runs of the same backend differed by up to 1.6x (0.40 s vs 0.63 s for the same work), so half
# the time or less, by half a second or more. And only where the pass counts explain it: a forward
# mode that wins on a function with fewer outputs than inputs won by chance or by warm-up.
FASTER_MODE_MIN_RATIO = 2.0
FASTER_MODE_MIN_SECONDS = 0.5


def _faster_mode_note(runs, value, n_inputs: int, mode: Mode = Mode.FULL) -> tuple[str, ...]:
    """Which mode computed this function's full Jacobian faster here, when the difference is
    robust and the pass counts (one per input forward, one per output reverse) predict it."""
    timed = {r.name: r.seconds for r in runs if r.status == Status.COMPUTED}
    if mode != Mode.FULL or "jax-fwd" not in timed or "jax-rev" not in timed or value is None:
        return ()
    faster, slower = sorted(("jax-fwd", "jax-rev"), key=timed.get)
    if timed[slower] < FASTER_MODE_MIN_RATIO * timed[faster] or timed[slower] - timed[faster] < FASTER_MODE_MIN_SECONDS:
        return ()
    predicted = "jax-fwd" if n_inputs < value.size else "jax-rev" if value.size < n_inputs else None
    if faster != predicted:
        return ()
    return (f"{faster} was faster than {slower} here ({timed[faster]:.2f} s vs {timed[slower]:.2f} s; "
            f"{n_inputs} input{'' if n_inputs == 1 else 's'}, {value.size} output{'' if value.size == 1 else 's'}: "
            "reverse mode costs one pass per output, forward mode one per input)",)


def _preloads(tasks) -> tuple[str, ...]:
    """The frameworks worth importing once in the fork server, for the workers to inherit: JAX
    when a task runs it, torch likewise (importing is fork-safe; initialising is not, and
    happens in each worker)."""
    needed = set()
    for task in tasks:
        if task.backend.startswith("jax") or task.framework in ("jax", "array-api"):
            needed.add("jax")
        if task.backend.startswith("torch") or task.framework == "torch":
            needed.add("torch")
    return tuple(sorted(needed))


COMPLEX_NOTE = ("complex inputs are checked as their real and imaginary parts (Re z[k], Im z[k]: two columns "
                "each); see adcheck.complex_numbers")


def _notes(arguments: Arguments, summary: SourceSummary, precision, installed: bool, target: Target) -> tuple[str, ...]:
    notes = [f"code written for {summary.framework}"]
    if installed:
        notes.append(f"{target.module} is an installed package: adcheck runs it as it is, on the backends that "
                     "run its code natively (it rebinds imports only in your own files)")
    for info in arguments.info:
        if info.promoted_from:
            notes.append(f"argument {info.name} was {info.promoted_from}; promoted to float64 to differentiate it")
    if arguments.has_complex:
        notes.append(COMPLEX_NOTE)
    input_dtype = arguments.dtype.name
    if precision.measured and precision.name != input_dtype:
        # Measured, so it also catches float64 code that loses digits (log(1 + x) for tiny x).
        notes.append(f"outputs resolve only to {precision.name} precision (measured: {precision.name} code, or "
                     f"rounding such as 1 + x for tiny x): finite differences and tolerances follow it")
    return tuple(notes)


def _relative_locations(comparison):
    verdicts = tuple(
        dataclasses.replace(v, location=Location(display_path(v.location.path), v.location.line)) if v.location else v
        for v in comparison.verdicts)
    return dataclasses.replace(comparison, verdicts=verdicts)


def _source_location(summary: SourceSummary) -> Location | None:
    if summary.definition_line is None:
        return None
    return Location(display_path(str(summary.path)), summary.definition_line)
