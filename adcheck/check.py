"""``adcheck check``: run every case, apply the failure policy and the baseline.

Returns plain data (``CheckResult``); the CLI prints it and turns it into an exit code.

The failure policy (``--fail-on``, ``adcheck.settings.FailOn``), from most to least lenient:

- ``error``: only a backend error (an exception, a crash, a timeout) fails; disagreements are
  reported but pass.
- ``disagree`` (the default): as ``error``, and a backend whose Jacobian disagrees with the
  reference, or a function whose value changes between identical calls. Kinks (valid
  subgradients) never fail.
- ``inconclusive``: as ``disagree``, and entries that nothing could verify.
- ``warning``: as ``inconclusive``, and lint findings of severity error or warning.

A case where no AD backend could run the function at all is ``broken`` (exit 2), whatever the
policy: nothing was checked.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, replace
from pathlib import Path

from .baseline import NOTHING_CHECKED, Failure, read_baseline
from .config import Case, Project, display_path
from .errors import AdcheckError, ConfigError, ExitCode
from .model import BackendRun, BackendVerdict, Comparison, Location, RunReport, Status
from .settings import FailOn, Settings

BASELINE_FILE = ".adcheck-baseline.json"

# Why a case could not run, when no AD backend could check it.
NOTHING_CHECKED_MESSAGE = "no AD backend could run the function, so nothing was checked"
NOTHING_VERIFIED_MESSAGE = ("no entry of any backend could be verified (every one inconclusive), so nothing was "
                            "checked")


@dataclass(frozen=True)
class CaseResult:
    case: Case
    report: RunReport
    seconds: float
    broken: str = ""  # non-empty: the case could not run at all (its function cannot be called...)


@dataclass(frozen=True)
class CheckResult:
    results: tuple[CaseResult, ...]
    fail_on: FailOn
    failures: tuple[Failure, ...]  # every failure under the policy, baselined or not
    baselined: tuple[Failure, ...] = ()  # failures the baseline accepts
    fixed: tuple[tuple[str, str], ...] = ()  # baseline entries (case, subject) that no longer fail
    baseline: Path | None = None
    stopped: bool = False  # interrupted (Ctrl-C, SIGTERM): the results are the cases that finished
    interrupted: tuple[str, ...] = ()  # the cases that had not

    @property
    def reports(self) -> list[RunReport]:
        return [r.report for r in self.results]

    @property
    def new_failures(self) -> tuple[Failure, ...]:
        accepted = {f.key for f in self.baselined}
        return tuple(f for f in self.failures if f.key not in accepted)

    @property
    def broken(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if r.broken)

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return ExitCode.INTERRUPTED
        if self.broken:
            return ExitCode.USAGE
        return ExitCode.FAILED if self.new_failures else ExitCode.OK

    def failed_cases(self) -> list[str]:
        names = {f.case for f in self.new_failures}
        return [r.report.target for r in self.results if r.report.target in names]


# --- the policy --------------------------------------------------------------------------------


def failures_of(report: RunReport, fail_on: FailOn | str = FailOn.DISAGREE) -> list[Failure]:
    """What fails in one case under ``fail_on`` (see the module docstring)."""
    fail_on = FailOn(fail_on)
    failures = []
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.ERROR:
            failures.append(Failure(report.target, verdict.name, "error"))
        elif verdict.status in (Status.DISAGREE, Status.UNUSABLE) and fail_on.includes(FailOn.DISAGREE):
            failures.append(Failure(report.target, verdict.name, str(verdict.status)))
        elif verdict.status == Status.INCONCLUSIVE and fail_on.includes(FailOn.INCONCLUSIVE):
            failures.append(Failure(report.target, verdict.name, "inconclusive"))
    if report.second_order is not None:
        for verdict in report.second_order.verdicts:
            if verdict.status == Status.ERROR or (verdict.status == Status.DISAGREE and fail_on.includes(FailOn.DISAGREE)):
                failures.append(Failure(report.target, f"{verdict.name} (second order)", str(verdict.status)))
    if report.search is not None and report.search.failure is not None and not report.search.failure.kept_as:
        failures.append(Failure(report.target, "search", report.search.failure.status))
    if fail_on.includes(FailOn.WARNING):
        seen = set()
        for finding in report.findings:
            if finding.severity in ("error", "warning") and finding.code not in seen:
                seen.add(finding.code)
                failures.append(Failure(report.target, f"lint:{finding.code}", finding.severity))
    return failures


def apply_baseline(result: CheckResult, path: Path) -> CheckResult:
    entries = read_baseline(path)
    current = {f.key for f in result.failures}
    baselined = tuple(f for f in result.failures if f.key in entries)
    # Only cases that ran and could run say anything about their entries (a shard runs some of them).
    ran = {r.report.target for r in result.results if not r.broken}
    fixed = tuple(sorted(key for key in entries if key not in current and key[0] in ran))
    return replace(result, baselined=baselined, fixed=fixed, baseline=path)


def updated_baseline(path: Path, result: CheckResult) -> list[Failure]:
    """The failures to record: those of the cases that ran, plus the recorded ones of cases this
    run did not run (another shard's) or that could not run (what was known of them stays known).
    A malformed baseline is replaced: rewriting it is how the error message says to repair it."""
    try:
        recorded = read_baseline(path)
    except ConfigError:
        recorded = {}
    ran = {r.report.target for r in result.results if not r.broken}
    kept = [Failure(case, subject, status) for (case, subject), status in recorded.items() if case not in ran]
    # A search's failure is not recorded: its input is not the case's; keep it as a case of its
    # own (adcheck run --search N --add-case), which the baseline can then accept.
    return [*kept, *(f for f in result.failures if f.case in ran and f.subject != "search")]


def parse_shard(spec: str) -> tuple[int, int]:
    """``K/N`` as (K, N); anything else (``''``, ``¹/²``, ``0/3``, ``5/4``) is a usage error naming --shard.

    ASCII digits only: ``str.isdigit`` accepts superscripts, which ``int`` then refuses."""
    import re

    match = re.fullmatch(r"([0-9]{1,9})/([0-9]{1,9})", spec.strip())
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise AdcheckError(f"--shard: expected K/N with 1 <= K <= N, like 1/4; got {spec!r}")
    return int(match[1]), int(match[2])


def shard(cases: tuple[Case, ...], spec: str) -> tuple[Case, ...]:
    """``K/N``: the cases of shard K of N, so a CI matrix of N jobs covers every case exactly once,
    whatever the machine or the order the cases were found in.

    The cases are ordered by a hash of their names and dealt out in turn, so the shards differ in
    size by one case at most: a hash bucket per case left shard 1/2 of three cases empty. A shard
    left empty all the same (more shards than cases) is ``EmptyShard``, never a silent pass.
    """
    import hashlib

    k, n = parse_shard(spec)
    ordered = sorted(cases, key=lambda case: (hashlib.sha256(case.name.encode()).digest(), case.name))
    chosen = {case.name for case in ordered[k - 1 :: n]}
    if not chosen:
        raise EmptyShard(f"--shard {spec}: no case falls in this shard ({len(cases)} case(s) split {n} ways); "
                         "nothing was checked")
    return tuple(case for case in cases if case.name in chosen)


class EmptyShard(AdcheckError):
    """More shards than cases: this one has none (exit 0 after saying so: the other shards check them)."""

    exit_code = ExitCode.OK


def baseline_path(project: Project) -> Path:
    return project.root / BASELINE_FILE


# --- running -----------------------------------------------------------------------------------


def case_settings(case: Case, project: Project, overrides: Settings) -> Settings:
    """[tool.adcheck] < the case < the command line."""
    return project.settings.overridden_by(case.settings).overridden_by(overrides)


def run_case(case: Case, project: Project, overrides: Settings = Settings(), base: Path | None = None,
             pool=None) -> CaseResult:
    """Check one case; paths in the report are made relative to ``base`` (default: the cwd)."""
    from .prepare import prepare
    from .run import check_target

    base = base or Path.cwd()
    start = time.perf_counter()
    try:
        settings = case_settings(case, project, overrides)
        prepared = prepare(case, timeout=settings.resolved().timeout, pool=pool)
        report = check_target(prepared, settings, pool=pool)
        if settings.resolved().search:
            report = _searched(report, case, project, prepared, settings, pool)
    except ConfigError:
        raise
    except AdcheckError as exc:
        # The function cannot be called (or imported, or its inputs made): there is nothing to
        # compare, but the other cases still run and this one shows up in every format.
        message = str(exc).removeprefix(f"{case.run_target}: ")
        report = broken_report(case, message)
        return CaseResult(case, relative_report(report, base), time.perf_counter() - start, broken=message)
    report = replace(report, target=case.name)
    broken = (NOTHING_CHECKED_MESSAGE if report.nothing_checked
              else NOTHING_VERIFIED_MESSAGE if report.nothing_verified else "")
    return CaseResult(case, relative_report(report, base), time.perf_counter() - start, broken=broken)


def _searched(report: RunReport, case: Case, project: Project, prepared, settings, pool) -> RunReport:
    """The case's report with its ``search``; a failure at the input of one of the project's
    cases of the same function is that case's to report (``SearchFailure.kept_as``)."""
    import numpy as np

    from .search import search

    found = search(prepared, settings, pool, count=settings.resolved().search, seed=case.seed)
    if found.failure is not None:
        for other in project.cases:
            if other.run_target == case.run_target and other.arguments and not other.random:
                flat = np.concatenate([np.asarray(a, dtype=float).ravel() for a in other.arguments])
                if flat.shape == found.failure.flat.shape and np.array_equal(flat, found.failure.flat):
                    found = replace(found, failure=replace(found.failure, kept_as=other.name))
                    break
    return replace(report, search=found)


def broken_report(case: Case, message: str) -> RunReport:
    """The report of a case that could not run: one fd error row saying why."""
    source = None
    if case.file is not None:
        from .loader import parse_target
        from .source import summarize

        try:
            summary = summarize(parse_target(case.run_target))
            source = Location(str(summary.path), summary.definition_line) if summary.definition_line else None
        except AdcheckError:
            source = None
    verdict = BackendVerdict("fd", Status.ERROR, 0.0, message=message)
    return RunReport(
        target=case.name, arguments=(), output_shapes=(), framework="unknown",
        runs=(BackendRun("fd", Status.ERROR, message=message),),
        comparison=Comparison(verdicts=(verdict,), consensus=""), source=source,
    )


def relative_report(report: RunReport, base: Path) -> RunReport:
    """The report with every file path relative to ``base`` where it lies under it."""

    def location(loc: Location | None) -> Location | None:
        return None if loc is None else replace(loc, path=display_path(Path(loc.path), base))

    comparison = replace(report.comparison,
                         verdicts=tuple(replace(v, location=location(v.location)) for v in report.comparison.verdicts))
    return replace(
        report,
        source=location(report.source),
        runs=tuple(replace(r, location=location(r.location)) for r in report.runs),
        comparison=comparison,
        findings=tuple(replace(f, path=display_path(Path(f.path), base)) for f in report.findings),
    )


def _preloads(cases) -> tuple[str, ...]:
    """The frameworks the fork server should import for these cases: JAX, which the warm JAX
    workers of every stream import, and torch where a case's code is torch."""
    import importlib.util

    from .loader import parse_target
    from .source import summarize

    preload = {"jax"} if importlib.util.find_spec("jax") is not None else set()
    for text in dict.fromkeys(case.run_target for case in cases):
        try:
            if str(summarize(parse_target(text)).framework) == "torch":
                preload.add("torch")
                break
        except Exception:  # noqa: BLE001 - a broken case is reported when it runs
            continue
    return tuple(sorted(preload))


def _streams(cases, jobs: int) -> list[tuple[int, int]]:
    """(case index, stream) in the order cases start: the cases of a function in one stream, one
    after another (``_in_turn``), ``jobs`` streams side by side, so the cases running at once are
    of different functions and the warm worker that checked a function (its JAX operations
    compiled) gets that function's next case."""
    groups: dict[str, list[int]] = {}
    for index, case in enumerate(cases):
        groups.setdefault(case.run_target, []).append(index)
    streams: list[list[int]] = [[] for _ in range(jobs)]
    for group in groups.values():
        min(streams, key=len).extend(group)
    return [(s[k], n) for k in range(max(map(len, streams), default=0)) for n, s in enumerate(streams) if k < len(s)]


def _in_turn(before, run, *arguments):
    """``run(*arguments)`` once the case before it in its stream has ended (it started earlier, so
    it is running or done: waiting cannot deadlock)."""
    if before is not None:
        wait([before])
    return run(*arguments)


def default_jobs() -> int:
    """The CPUs this process may run on (a CI container's or ``taskset``'s share, not the machine's)."""
    from .workers import available_cores

    return available_cores()


def run_check(project: Project, overrides: Settings = Settings(),
              on_case_done: Callable[[int, int, CaseResult], None] | None = None) -> CheckResult:
    """Run every case of ``project`` (``jobs`` at a time); results in case order.

    Interrupted (Ctrl-C, SIGTERM): every running worker of every case is killed at once, and the
    result holds the cases that finished, with ``interrupted`` naming the others.
    """
    from .workers import RUNNING, WorkerPool

    _import_before_threads()
    settings = project.settings.overridden_by(overrides)
    fail_on = settings.failure_policy
    cases = project.cases
    jobs = max(1, min(settings.jobs or default_jobs(), len(cases) or 1))
    base = Path.cwd()
    results: list[CaseResult | None] = [None] * len(cases)

    # The fork server starts here, before the case threads, with what the cases' workers import.
    from .workers import start_workers

    start_workers(jobs * 3, _preloads(cases))

    # Threads are enough: each backend already runs in its own worker process.
    workers = WorkerPool()  # warm workers: each imports JAX or torch once, not once per case
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="adcheck-case")
    futures, last_of_stream = {}, {}
    for index, stream in _streams(cases, jobs):
        future = pool.submit(_in_turn, last_of_stream.get(stream), run_case, cases[index], project, overrides, base,
                             workers)
        futures[future], last_of_stream[stream] = index, future
    try:
        interrupted = _collect(futures, results, on_case_done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        workers.close()
        RUNNING.stopping.clear()
    if interrupted:
        for future, index in futures.items():
            if results[index] is None and future.done() and not future.cancelled() and future.exception() is None:
                results[index] = future.result()
    unfinished = tuple(cases[i].name for i, r in enumerate(results) if r is None) if interrupted else ()

    finished = tuple(r for r in results if r is not None)
    failures = tuple(f for r in finished if not r.broken for f in failures_of(r.report, fail_on))
    return CheckResult(results=finished, fail_on=fail_on, failures=failures, stopped=interrupted,
                       interrupted=unfinished)


def _import_before_threads() -> None:
    """Import, before the threads start, what each case imports lazily: an import hook that
    parses source (pytest's assertion rewriting, which covers this package when the plugin is
    loaded) would otherwise run ast.parse in several threads at once, which CPython 3.11 does not
    survive (see adcheck/syntax.py)."""
    import adcheck.explain.link  # noqa: F401
    import adcheck.lint  # noqa: F401
    import adcheck.run  # noqa: F401


def _collect(futures: dict, results: list, on_case_done) -> bool:
    """Each case's result as it finishes, into ``results``; True when interrupted (then every
    running case's workers are stopped at once, and their threads return promptly)."""
    from .workers import RUNNING

    done = 0
    try:
        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            done += 1
            if on_case_done:
                on_case_done(done, len(results), result)
    except KeyboardInterrupt:
        RUNNING.stop_all()
        return True
    return False


__all__ = ["NOTHING_CHECKED", "CaseResult", "CheckResult", "apply_baseline", "baseline_path", "failures_of",
           "run_case", "run_check"]
