"""``adcheck check``: run every case, apply the failure policy and the baseline.

Returns plain data (``CheckResult``); the CLI prints it and turns it into an exit code.

The failure policy (``--fail-on``), from most to least lenient:

- ``error``: only a backend error (an exception, a crash, a timeout) or a case where no
  AD backend could be checked at all fails; disagreements are reported but pass.
- ``disagree`` (the default): as ``error``, and a backend whose Jacobian disagrees with
  finite differences fails. Kinks (valid subgradients) never fail.
- ``warning``: as ``disagree``, and lint findings of severity error or warning fail too.

A failure is keyed by (case, subject): the subject is a backend name, ``lint:CODE`` for a lint
finding, or ``*`` when nothing could be checked. The baseline records these keys.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .config import Case, Project, display_path
from .errors import AdcheckError, ConfigError, ExitCode
from .model import BackendRun, BackendVerdict, Comparison, Location, RunReport, Status

FAIL_ON_CHOICES = ("disagree", "error", "warning")
DEFAULT_FAIL_ON = "disagree"
BASELINE_FILE = ".adcheck-baseline.json"
BASELINE_VERSION = 1
NOTHING_CHECKED = "*"


@dataclass(frozen=True)
class CheckOptions:
    """Command-line overrides; ``None``/empty means: take the case's, then ``[tool.adcheck]``'s."""

    backends: tuple[str, ...] = ()
    timeout: float | None = None
    rtol: float | None = None
    atol: float | None = None
    memory_limit: int | None = None
    lint: bool = True
    jobs: int | None = None  # None: one per CPU


@dataclass(frozen=True)
class Failure:
    case: str
    subject: str  # backend name, "lint:ADC101", or "*" when no backend could be checked
    status: str  # "disagree", "error", "unchecked", or the finding's severity

    @property
    def key(self) -> tuple[str, str]:
        return (self.case, self.subject)

    def __str__(self) -> str:
        subject = "no AD backend could be checked" if self.subject == NOTHING_CHECKED else f"{self.subject}: {self.status}"
        return f"{self.case} ({subject})"


@dataclass(frozen=True)
class CaseResult:
    case: Case
    report: RunReport
    seconds: float
    broken: str = ""  # non-empty: the case could not run at all (its function cannot be called...)


@dataclass(frozen=True)
class CheckResult:
    results: tuple[CaseResult, ...]
    fail_on: str
    failures: tuple[Failure, ...]  # every failure under the policy, baselined or not
    baselined: tuple[Failure, ...] = ()  # failures the baseline accepts
    fixed: tuple[tuple[str, str], ...] = ()  # baseline entries (case, subject) that no longer fail
    baseline: Path | None = None

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
    def exit_code(self) -> ExitCode:
        if self.broken:
            return ExitCode.USAGE
        return ExitCode.FAILED if self.new_failures else ExitCode.OK

    def failed_cases(self) -> list[str]:
        names = {f.case for f in self.new_failures}
        return [r.report.target for r in self.results if r.report.target in names]


# --- the policy --------------------------------------------------------------------------------


def failures_of(report: RunReport, fail_on: str = DEFAULT_FAIL_ON) -> list[Failure]:
    """What fails in one case under ``fail_on`` (see the module docstring)."""
    if fail_on not in FAIL_ON_CHOICES:
        raise AdcheckError(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON_CHOICES)}")
    failures = []
    for verdict in report.comparison.verdicts:
        if verdict.status == Status.ERROR:
            failures.append(Failure(report.target, verdict.name, "error"))
        elif verdict.status == Status.DISAGREE and fail_on != "error":
            failures.append(Failure(report.target, verdict.name, "disagree"))
    if not report.comparison.checked and not failures:
        failures.append(Failure(report.target, NOTHING_CHECKED, "unchecked"))
    if fail_on == "warning":
        seen = set()
        for finding in report.findings:
            if finding.severity in ("error", "warning") and finding.code not in seen:
                seen.add(finding.code)
                failures.append(Failure(report.target, f"lint:{finding.code}", finding.severity))
    return failures


# --- the baseline ------------------------------------------------------------------------------


def baseline_path(project: Project) -> Path:
    return project.root / BASELINE_FILE


def read_baseline(path: Path) -> dict[tuple[str, str], str]:
    """(case, subject) -> status; a missing file is an empty baseline."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the baseline ({exc}); delete it or rerun with --update-baseline") from None
    failures = data.get("failures") if isinstance(data, dict) else None
    if not isinstance(failures, dict) or not all(isinstance(v, dict) for v in failures.values()):
        raise ConfigError(f"{path}: failures: expected {{case: {{backend: status}}}}; rerun with --update-baseline")
    return {(case, subject): str(status) for case, subjects in failures.items() for subject, status in subjects.items()}


def baseline_text(failures: list[Failure] | tuple[Failure, ...]) -> str:
    """Stable JSON: sorted keys, one entry per (case, subject), a trailing newline."""
    table: dict[str, dict[str, str]] = {}
    for failure in failures:
        table.setdefault(failure.case, {})[failure.subject] = failure.status
    return json.dumps({"version": BASELINE_VERSION, "failures": table}, indent=2, sort_keys=True) + "\n"


def write_baseline(path: Path, failures) -> None:
    try:
        path.write_text(baseline_text(failures), encoding="utf-8")
    except OSError as exc:
        raise AdcheckError(f"{path}: cannot write the baseline ({exc.strerror})") from None


def apply_baseline(result: CheckResult, path: Path) -> CheckResult:
    entries = read_baseline(path)
    current = {f.key for f in result.failures}
    baselined = tuple(f for f in result.failures if f.key in entries)
    # A case that could not run says nothing about its baseline entries.
    broken = {r.report.target for r in result.broken}
    fixed = tuple(sorted(key for key in entries if key not in current and key[0] not in broken))
    return replace(result, baselined=baselined, fixed=fixed, baseline=path)


# --- running -----------------------------------------------------------------------------------


def case_arguments(case: Case):
    from .inputs import promote, random_argument

    if case.random:
        rng = np.random.default_rng(case.seed)
        raw = [random_argument(shape, rng) for shape in case.random]
    else:
        raw = list(case.arguments)
    wrt = case.wrt if case.wrt is not None else tuple(range(len(raw)))
    return promote(raw, wrt)


def run_options(case: Case, project: Project, options: CheckOptions):
    from .run import DEFAULT_TIMEOUT, RunOptions

    settings = project.settings

    def first(*values):
        return next((v for v in values if v is not None), None)

    return RunOptions(
        backends=tuple(options.backends or case.backends or settings.backends),
        timeout=first(options.timeout, case.timeout, settings.timeout, DEFAULT_TIMEOUT),
        rtol=first(options.rtol, case.rtol, settings.rtol),
        atol=first(options.atol, case.atol, settings.atol),
        memory_limit=options.memory_limit,
        lint=options.lint,
    )


def run_case(case: Case, project: Project, options: CheckOptions = CheckOptions(),
             base: Path | None = None) -> CaseResult:
    """Check one case; paths in the report are made relative to ``base`` (default: the cwd)."""
    from .run import check_target

    base = base or Path.cwd()
    start = time.perf_counter()
    arguments = case_arguments(case)
    try:
        report = check_target(case.run_target, arguments, run_options(case, project, options))
    except ConfigError:
        raise
    except AdcheckError as exc:
        # The function cannot be called (or imported): there is nothing to compare, but the
        # other cases still run and this one shows up in every format as an fd error.
        message = str(exc).removeprefix(f"{case.run_target}: ")
        report = _broken_report(case, arguments, message)
        return CaseResult(case, relative_report(report, base), time.perf_counter() - start, broken=message)
    report = replace(report, target=case.name)
    return CaseResult(case, relative_report(report, base), time.perf_counter() - start)


def _broken_report(case: Case, arguments, message: str) -> RunReport:
    source = None
    if case.file is not None:
        from .loader import parse_target
        from .run import _definition_line

        try:
            source = _definition_line(parse_target(case.run_target))
        except AdcheckError:
            source = None
    verdict = BackendVerdict("fd", Status.ERROR, 0.0, message=message)
    return RunReport(
        target=case.name, arguments=arguments.info, output_shapes=(), framework="unknown",
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


def default_jobs() -> int:
    return os.cpu_count() or 1


def run_check(project: Project, options: CheckOptions = CheckOptions(), fail_on: str | None = None,
              on_case_done: Callable[[int, int, CaseResult], None] | None = None) -> CheckResult:
    """Run every case of ``project`` (``options.jobs`` at a time); results in case order."""
    fail_on = fail_on or project.settings.fail_on or DEFAULT_FAIL_ON
    if fail_on not in FAIL_ON_CHOICES:
        raise AdcheckError(f"--fail-on {fail_on!r}: expected one of {', '.join(FAIL_ON_CHOICES)}")
    cases = project.cases
    jobs = max(1, min(options.jobs or default_jobs(), len(cases) or 1))
    base = Path.cwd()
    results: list[CaseResult | None] = [None] * len(cases)
    done = 0

    # Import, before the threads start, what each case imports lazily: an import hook that parses
    # source (pytest's assertion rewriting, which covers this package when the plugin is
    # loaded) would otherwise run ast.parse in several threads at once, which CPython 3.11
    # does not survive (see adcheck/syntax.py).
    import adcheck.explain.link  # noqa: F401
    import adcheck.explain.rules  # noqa: F401
    import adcheck.run  # noqa: F401

    # Threads are enough: each backend already runs in its own worker process.
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="adcheck-case") as pool:
        futures = {pool.submit(run_case, case, project, options, base): index for index, case in enumerate(cases)}
        from concurrent.futures import as_completed

        for future in as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            done += 1
            if on_case_done:
                on_case_done(done, len(cases), result)

    finished = tuple(r for r in results if r is not None)
    failures = tuple(f for r in finished if not r.broken for f in failures_of(r.report, fail_on))
    return CheckResult(results=finished, fail_on=fail_on, failures=failures)


def result_dict(result: CheckResult, *, timings: bool) -> dict:
    """``adcheck check --format json``: the ``run`` object of each case under ``cases``."""
    from .report.json import SCHEMA_VERSION, report_dict

    new = {f.key for f in result.new_failures}
    return {
        "schema": SCHEMA_VERSION,
        "verdict": "fail" if result.exit_code != ExitCode.OK else "pass",
        "fail_on": result.fail_on,
        "cases": [report_dict(r.report, timings=timings) for r in result.results],
        "failures": [
            {"case": f.case, "subject": f.subject, "status": f.status, "baselined": f.key not in new}
            for f in result.failures
        ],
        "broken": [{"case": r.report.target, "message": r.broken} for r in result.broken],
        "baseline": {
            "path": display_path(result.baseline, Path.cwd()) if result.baseline else None,
            "no_longer_failing": [{"case": case, "subject": subject} for case, subject in result.fixed],
        },
    }
