"""The command line. The only module that prints report text or decides the exit code."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import click

from . import __version__
from .choices import CONTEXTS, DeviceChoice, FailOn, ModeChoice
from .errors import AdcheckError, ConfigError, ExitCode
from .report.formats import FORMATS, RenderOptions, report_format
from .report.text import printable, printable_line



def colour_enabled(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adcheck")
@click.option("--debug", is_flag=True, help="Show tracebacks of adcheck's own errors.")
@click.pass_context
def cli(ctx, debug):
    """Check automatic derivatives against each other and an adaptive finite-difference oracle.

    Exit codes: 0 every applicable backend agrees, 1 a disagreement or a backend error
    (for check: a failure under --fail-on that the baseline does not accept; for lint: a
    finding of severity error or warning), 2 a usage, input or configuration error, or no AD
    backend could run the function, 3 an internal error, 130 interrupted.
    """
    ctx.obj = {"debug": debug}


def _settings(**values):
    """The command line's settings layer; every value validated, the flag named on a mistake."""
    from .settings import validated

    return validated(**{key: value for key, value in values.items() if value is not None and value != ()})


def _shared_options(command):
    """The options ``run`` and ``check`` share, declared once (their choices are the settings')."""
    options = [
        click.option("--backend", "backends", multiple=True, metavar="NAME",
                     help="Run only this backend (repeatable; overrides the configuration); fd always runs."),
        click.option("--timeout", type=float, metavar="SECONDS",
                     help="Seconds per backend before its worker is killed (default: 120)."),
        click.option("--rtol", type=float, help="Relative tolerance (default: per-precision table)."),
        click.option("--atol", type=float, help="Absolute tolerance (default: a share of the function's own scale)."),
        click.option("--memory-limit", metavar="SIZE", help="Memory per worker, e.g. 4G (default: a share of the "
                     "machine)."),
        click.option("--fail-on", type=click.Choice([str(v) for v in FailOn]),
                     help="What fails the run: error (backend errors only), disagree (and disagreements; the "
                          "default), inconclusive (and unverified entries), warning (and lint warnings)."),
        click.option("--mode", type=click.Choice([str(v) for v in ModeChoice]), default=None,
                     help="full: whole Jacobians; fast: Jacobian-vector products along random directions; auto (the "
                          "default): fast when full Jacobians would take more than about 8 s, estimated from one "
                          "timed evaluation."),
        click.option("--format", "output_format", type=click.Choice(tuple(FORMATS)), default="table",
                     show_default=True),
        click.option("--output", type=click.Path(dir_okay=False),
                     help="Write the --format report to this file; the terminal gets the table."),
        click.option("--no-timings", is_flag=True, help="Leave out timings (byte-identical reports across runs)."),
        click.option("--no-lint", is_flag=True, help="Skip the lint and runtime probes."),
        click.option("--blame/--no-blame", default=None,
                     help="Check a disagreeing backend's primitives one by one and name the wrong rule "
                          "(default: on)."),
        click.option("--blame-primitives", type=int, metavar="N",
                     help="At most N primitives per backend (default 2000)."),
        click.option("--blame-seconds", type=float, metavar="S", help="At most S seconds per backend (default 60)."),
        click.option("--contexts", metavar="LIST", help="Also compute each backend's derivative in these contexts and "
                     f"compare: {','.join(CONTEXTS)}."),
        click.option("--device", type=click.Choice([str(v) for v in DeviceChoice]), default=None,
                     help="Where JAX and PyTorch compute (default cpu; auto: the GPU when there is one)."),
    ]
    for option in reversed(options):  # as stacked decorators apply: the first listed shows first
        command = option(command)
    return command


@cli.command()
@click.argument("target")
@click.option("--input", "inputs", multiple=True, metavar="JSON|@FILE",
              help="One positional argument: JSON ('[1,2,3]', '2.0') or @file.npy/.npz/.json. Repeat per argument.")
@click.option("--random", "random_shapes", multiple=True, metavar="SHAPE",
              help="A standard-normal argument of this shape (100, 3x4). Repeat per argument.")
@click.option("--inputs-from", "inputs_function", metavar="FILE.py:FUNC",
              help="The arguments FUNC returns (a tuple: one per argument; pytrees of numpy, JAX or torch arrays), "
                   "made in a worker process.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for --random (a non-negative integer).")
@click.option("--wrt", metavar="ARGS", help="Differentiate these only (default: all): argument indices or names, "
              "and paths into dict/list arguments, comma-separated: 0,2 or params.w,x.")
@_shared_options
@click.option("--order", type=int, default=None, help="2: also check second derivatives (Hessian, or d(Jv)/dx "
              "for vector outputs; in fast mode, along random directions).")
@click.option("--search", type=int, metavar="N", help="After the given input, check up to N more that hypothesis "
              "draws (near it, across magnitudes 1e-12..1e12, special values, ties) and shrink a failure to the "
              "simplest input; --seed makes it reproducible.")
@click.option("--add-case", is_flag=True, help="With --search: append the shrunk failing input to the nearest "
              "pyproject.toml as a [[tool.adcheck.case]].")
def run(target, inputs, random_shapes, inputs_function, seed, wrt, backends, timeout, rtol, atol, memory_limit,
        fail_on,
        output_format, output, no_timings, no_lint, mode, order, blame, blame_primitives, blame_seconds, contexts,
        device, search, add_case):
    """Compare the Jacobian of TARGET (file.py:func or package.module:func) across backends."""
    from .check import failures_of
    from .limits import ensure_resource_limits
    from .prepare import CommandLineInputs, prepare
    from .run import check_target

    settings = _settings(backends=backends, timeout=timeout, rtol=rtol, atol=atol, memory_limit=memory_limit,
                         lint=False if no_lint else None, mode=mode, order=order, fail_on=fail_on, blame=blame,
                         blame_primitives=blame_primitives, blame_seconds=blame_seconds, contexts=contexts,
                         device=device, search=search)
    if add_case and not settings.search:
        raise click.UsageError("--add-case adds the input a search finds: give --search N too")
    ensure_resource_limits()  # ulimit -n 20: one line now, not a fork server's traceback later
    if output:
        from .fileio import refuse_overwriting_inputs

        refuse_overwriting_inputs(output, [text[1:] for text in inputs if text.startswith("@")]
                                  + [target.rpartition(":")[0]])
    # The compilation cache is readied after every mistake in the target has had its one line, before any worker.
    prepared = prepare(target, CommandLineInputs(inputs, random_shapes, seed, wrt, inputs_function),
                       timeout=settings.resolved().timeout, before_workers=_prepare_compile_cache)
    if settings.search:
        report = _run_and_search(prepared, settings, seed, add_case)
    else:
        with BackendProgress(enabled=output_format == "table") as progress:  # never over a JSON or CI format
            report = check_target(prepared, settings, progress=progress)
    emit(report, output_format, output, timings=not no_timings, fail_on=settings.resolved().failure_policy)
    if (report.nothing_checked or report.nothing_verified) and not report.failed:
        raise SystemExit(ExitCode.USAGE)
    raise SystemExit(ExitCode.FAILED if failures_of(report, settings.resolved().failure_policy) else ExitCode.OK)


def _prepare_compile_cache() -> None:
    """Before any worker starts: heal JAX's compilation cache, or turn it off in one line."""
    from .compile_cache import prepare_cache

    notice = prepare_cache()
    if notice:
        click.echo(printable_line(f"adcheck: note: {notice}"), err=True)


def _run_and_search(prepared, settings, seed: int, add_case: bool):
    """The run at the given input, then ``--search``, in the same warm workers; with
    ``--add-case``, the shrunk failure appended to the pyproject as a case (a line on stderr)."""
    from .run import check_target
    from .search import search
    from .workers import WorkerPool

    pool = WorkerPool()
    try:
        report = check_target(prepared, settings, pool=pool)
        found = search(prepared, settings, pool, count=settings.search, seed=seed)
    finally:
        pool.close()
    if add_case and found.failure is not None:
        from .search.cases import append_case

        where = append_case(prepared.target, found.failure, prepared.arguments, Path.cwd(), seed=seed,
                            count=settings.search)
        click.echo(f"adcheck: added the shrunk input as a [[tool.adcheck.case]] to {where}", err=True)
    return replace(report, search=found)


class BackendProgress:
    """A progress bar of finished backends on stderr: only on a terminal, and only once the run
    has taken longer than a couple of seconds (a quick run should not flicker)."""

    DELAY = 2.0

    def __init__(self, enabled: bool = True):
        import time

        self.enabled = enabled
        self.started = time.monotonic()
        self.bar = None
        self.shown = 0

    def __call__(self, done: int, total: int, name: str) -> None:
        import time

        if not self.enabled or not sys.stderr.isatty() or time.monotonic() - self.started < self.DELAY:
            return
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="backends", file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.label = f"backends ({name} done)"
        self.bar.update(done - self.shown)
        self.shown = done

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.bar is not None:
            self.bar.__exit__(*exc_info)


class CaseProgress:
    """``adcheck check`` on a terminal: one progress line on stderr, cases done of all and the
    failures so far, in place of a line per case (which a log, not a terminal, keeps)."""

    def __init__(self, total: int):
        self.failed = 0
        self.bar = click.progressbar(length=total, label="cases", file=sys.stderr, show_pos=True, show_eta=False)
        self.bar.__enter__()

    def update(self, result) -> None:
        self.failed += bool(result.broken or result.report.failed)
        self.bar.label = f"cases ({self.failed} failed)" if self.failed else "cases"
        self.bar.update(1)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def render(reports: list, output_format: str, options: RenderOptions) -> str:
    """The report text of ``reports`` (a run's one report) in ``output_format``."""
    return report_format(output_format).render(reports, options)


def write_output(output: str, text: str) -> None:
    from .fileio import write_text_atomic

    write_text_atomic(output, text + ("\n" if text and not text.endswith("\n") else ""))


def echo_report(text: str, *, colour: bool = False) -> None:
    if text:
        click.echo(text, color=colour)


def emit(report, output_format: str, output: str | None, *, timings: bool, fail_on=None) -> None:
    """``run``'s report: the chosen format on stdout, or the table there and the format in ``output``."""
    colour = colour_enabled(sys.stdout)
    options = RenderOptions(timings=timings, fail_on=fail_on or RenderOptions.fail_on)
    if output:
        write_output(output, render([report], output_format, options))
        echo_report(render([report], "table", replace(options, colour=colour)), colour=colour)
    else:
        echo_report(render([report], output_format, replace(options, colour=colour and output_format == "table")),
                    colour=colour)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The pyproject.toml to read (default: the nearest one above the working directory "
                   "with a [tool.adcheck] table).")
@_shared_options
@click.option("-j", "--jobs", type=int, help="Cases run at once (default: the CPUs adcheck may use).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Baseline file (default: .adcheck-baseline.json next to the pyproject).")
@click.option("--update-baseline", is_flag=True, help="Record the current failures in the baseline and exit 0.")
@click.option("--shard", metavar="K/N", help="Run only shard K of N (a stable split of the cases: N CI jobs with "
              "K = 1..N cover every case once; merge their reports with adcheck merge-reports).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
@click.option("--search", type=int, metavar="N", help="After each case's input, search up to N more (see adcheck run "
              "--search; overrides the cases' search key). A search's failure is never written to the baseline.")
def check(paths, config_file, backends, timeout, rtol, atol, memory_limit, jobs, fail_on, mode, baseline_file,
          update_baseline, shard, output_format, output, no_timings, no_lint, quiet, blame, blame_primitives,
          blame_seconds, contexts, device, search):
    """Run every case: [[tool.adcheck.case]] in pyproject.toml and @adcheck.case functions in PATHS."""
    from .check import run_check
    from .limits import ensure_resource_limits

    overrides = _settings(backends=backends, timeout=timeout, rtol=rtol, atol=atol, memory_limit=memory_limit,
                          jobs=jobs, fail_on=fail_on, mode=mode, lint=False if no_lint else None, blame=blame,
                          blame_primitives=blame_primitives, blame_seconds=blame_seconds, contexts=contexts,
                          device=device, search=search)
    if shard is not None:
        from .check import parse_shard

        parse_shard(shard)  # a mistyped --shard stops here, before anything is loaded
    ensure_resource_limits()
    project = _project_cases(paths, config_file, overrides, shard)
    baseline = _baseline_before_running(project, paths, baseline_file, update_baseline, output)
    timings = not no_timings
    colour = colour_enabled(sys.stdout)
    ahead = _rendered_ahead(output_format, timings=timings, colour=colour and not output)
    progress = _CheckProgress(len(project.cases), ahead, quiet, bar=not quiet and output_format == "table"
                              and sys.stderr.isatty())
    if not quiet:
        from .check import default_jobs

        jobs_setting = project.settings.overridden_by(overrides).jobs
        at_once = min(jobs_setting or default_jobs(), len(project.cases))
        click.echo(f"adcheck: {len(project.cases)} case(s), {at_once} at a time", err=True)
    _prepare_compile_cache()  # after every mistake of the user's has had its one line, before any worker
    try:
        result = run_check(project, overrides, on_case_done=progress)
    finally:
        progress.close()
    result = _settle_baseline(result, baseline, update_baseline)
    _emit_check(result, output_format, output, timings=timings, colour=colour, ahead=ahead)
    if update_baseline and not result.broken and not result.stopped:
        raise SystemExit(ExitCode.OK)
    raise SystemExit(result.exit_code)


def _project_cases(paths, config_file, overrides, shard):
    """The project's cases (this shard's), or one line and exit 2 when there are none to run."""
    from .config import display_path, load_project

    project = load_project(list(paths), pyproject=config_file)
    if project.settings.overridden_by(overrides).device == "gpu":
        from .devices import resolve_device

        resolve_device("gpu")  # no GPU: one line and exit 2 here, not one broken case each
    if not project.cases:
        where = display_path(project.pyproject, Path.cwd()) if project.pyproject else "no pyproject.toml with [tool.adcheck]"
        raise ConfigError(f"no cases found ({where}; {len(paths)} path(s) searched for @adcheck.case)",
                          hint="add [[tool.adcheck.case]] tables or pass files with @adcheck.case functions")
    if shard is not None:
        from .check import shard as shard_of

        project = replace(project, cases=shard_of(project.cases, shard))
    return project


def _baseline_before_running(project, paths, baseline_file, update_baseline: bool, output) -> Path:
    """The baseline's path, checked now (a malformed one, one a report would overwrite): a
    mistake stops CI before the cases run, not after."""
    from .check import baseline_path
    from .fileio import refuse_overwriting_inputs

    baseline = baseline_file or baseline_path(project)
    inputs = [project.pyproject, *paths, *(case.file for case in project.cases)]
    if not update_baseline:
        from .baseline import read_baseline

        read_baseline(baseline)
    else:
        from .baseline import refuse_replacing_a_linked_file

        refuse_replacing_a_linked_file(baseline)
        refuse_overwriting_inputs(baseline, inputs, option="--baseline")
    if output:
        refuse_overwriting_inputs(output, [project.pyproject, baseline, *inputs[1:]])
    return baseline


class _CheckProgress:
    """Each case as it ends: its text written ahead, and a bar on a terminal or a line otherwise."""

    def __init__(self, total: int, ahead, quiet: bool, bar: bool):
        self.ahead, self.quiet = ahead, quiet
        self.bar = CaseProgress(total) if bar else None

    def __call__(self, done, total, result) -> None:
        if self.ahead is not None:
            self.ahead.add(result.report)
        if self.bar is not None:
            self.bar.update(result)
        elif not self.quiet:
            state = "broken" if result.broken else ("FAIL" if result.report.failed else "pass")
            click.echo(printable(f"adcheck: [{done}/{total}] {result.report.target}: {state} ({result.seconds:.1f} s)"),
                       err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _settle_baseline(result, baseline: Path, update_baseline: bool):
    """The result as the baseline sees it, or (``--update-baseline``) the baseline rewritten."""
    from .config import display_path

    if result.stopped:
        click.echo(f"adcheck: interrupted; {len(result.results)} case(s) finished, {len(result.interrupted)} did not",
                   err=True)
        return result
    if update_baseline:
        from .baseline import write_baseline
        from .check import updated_baseline

        write_baseline(baseline, updated_baseline(baseline, result))
        recorded = [f for f in result.failures if f.subject != "search"]  # a search's failure is not recorded
        click.echo(f"adcheck: wrote {len(recorded)} failure(s) to {display_path(baseline, Path.cwd())}", err=True)
        return result
    from .check import apply_baseline

    return apply_baseline(result, baseline)


def _emit_check(result, output_format: str, output, *, timings: bool, colour: bool, ahead) -> None:
    """The check's report in its format, on stdout or in ``output`` (then the table on stdout);
    the closing lines on stderr under a format that is not the table."""
    summary = check_summary(result)
    options = RenderOptions(timings=timings, colour=colour and not output, fail_on=result.fail_on, summary=summary,
                            interrupted=_interruption(result))
    text = report_format(output_format).render_check(result, options, ahead)
    if output:
        write_output(output, text)
        echo_report(report_format("table").render_check(result, replace(options, colour=colour), None), colour=colour)
        return
    echo_report(text, colour=colour)
    if output_format != "table" and summary:
        for line in summary.splitlines():
            click.echo(printable(line), err=True)


def _rendered_ahead(output_format: str, *, timings: bool, colour: bool):
    """Where the report is a case's text after another's (the table, the JSON), each case's is
    written as the case ends, while the others compute (``report.RenderedAhead``)."""
    from .report import RenderedAhead

    writer = report_format(output_format).case_writer(RenderOptions(timings=timings, colour=colour))
    return RenderedAhead(writer) if writer is not None else None


def _interruption(result):
    """The ``report.common.Interruption`` of a check that stopped early, else None."""
    if not result.stopped:
        return None
    from .report.common import Interruption

    return Interruption(len(result.results), tuple(result.interrupted))


def check_summary(result) -> str:
    """The last lines of ``check``: counts, what failed, what the baseline says."""
    from .config import display_path

    n = len(result.results)
    failed = result.failed_cases()
    interruption = _interruption(result)
    lines = [f"INTERRUPTED: {interruption.sentence.partition(';')[0]}"] if interruption else []
    lines += [f"{n} case{'s' if n != 1 else ''}: {n - len(failed) - len(result.broken)} passed, "
              f"{len(failed)} failed" + (f", {len(result.broken)} could not run" if result.broken else "")
              + f" (--fail-on {result.fail_on})"]
    for failure in result.new_failures:
        lines.append(f"FAIL {failure}")
    for broken in result.broken:
        lines.append(f"BROKEN {broken.report.target}: {broken.broken}")
    for name in result.interrupted:
        lines.append(f"INTERRUPTED {name}")
    if result.baselined:
        lines.append(f"{len(result.baselined)} known failure(s) accepted by the baseline "
                     f"{display_path(result.baseline, Path.cwd())}")
    if result.fixed:
        lines.append("baseline entries that no longer fail (rerun with --update-baseline to drop them):")
        lines += [f"  {case} ({subject})" for case, subject in result.fixed]
    return "\n".join(lines)


@cli.command("merge-reports")
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False), help="Write the merged report here (default: stdout).")
def merge_reports(reports, output):
    """Merge the reports of the shards of one check (all --format json, or junit, or sarif) into one.

    Exit 1 when the merged report holds a failure (for JSON: one the baseline does not accept;
    2 when a case could not run), else 0.
    """
    from .merge import merge

    if output:
        from .fileio import refuse_overwriting_inputs

        refuse_overwriting_inputs(output, reports)
    _, text, code = merge(list(reports))
    if output:
        write_output(output, text)
    else:
        click.echo(text)
    raise SystemExit(code)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="FILE[:FUNC]...")
def lint(specs):
    """Static checks of derivative code: print path:line:col: CODE message per finding.

    Exit 1 when a finding has severity error or warning, else 0.
    """
    from .lint import lint_paths

    skipped: list[str] = []
    findings = sorted(lint_paths(list(specs), skipped), key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    for finding in findings:
        click.echo(printable(finding.format()))
    for name in skipped:
        click.echo(printable_line(f"adcheck: {name}: not fully linted: its code nests too deeply to analyse"),
                   err=True)
    failing = any(f.severity in ("error", "warning") for f in findings)
    raise SystemExit(ExitCode.FAILED if failing else ExitCode.OK)


@cli.command("backends")
def list_backends():
    """List every backend, whether it is installed, its version, and what code it runs."""
    from tabulate import tabulate

    from .backends import REGISTRY

    rows = []
    for backend in REGISTRY.values():
        installed = backend.is_installed()
        rows.append([backend.name, "yes" if installed else "no", backend.version() or "-",
                     ", ".join(backend.runs), ", ".join(sorted(backend.modes)), backend.description])
    click.echo(tabulate(rows, headers=["backend", "installed", "version", "runs code for", "modes", "how"],
                        tablefmt="simple"))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _reopen_closed_streams() -> None:
    """``adcheck … >&-`` or ``2>&-``: Python starts with ``sys.stdout`` (or ``sys.stderr``) None.

    The closed descriptor is pointed at /dev/null: what was to go there is dropped, ``--output``
    is still written, and no file adcheck opens later (an ``--output``'s temporary file, a
    worker's pipe) takes descriptor 1 or 2, where a stray print would land in it.
    """
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        if getattr(sys, name) is not None:
            continue
        try:
            os.fstat(fd)
        except OSError:  # closed: give it /dev/null
            null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        try:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", closefd=False, encoding="utf-8",
                                    errors="surrogateescape" if fd == 0 else "backslashreplace"))
        except OSError:  # not even /dev/null: leave it None; click writes nothing then
            pass


def main(argv=None) -> int:
    """Entry point: the one place that turns errors into exit codes.

    SIGTERM (a CI job cancelled, a timeout) and SIGHUP (the terminal closed) unwind like Ctrl-C, so
    every worker is killed; the handlers are the previous ones again when ``main`` returns (tests
    and the pytest plugin call ``main`` in a process that has its own).
    """
    import threading

    _reopen_closed_streams()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:  # accepted after the command too (adcheck run ... --debug): it is the group's option
        args = ["--debug", *(arg for arg in args if arg != "--debug")]
    previous = _interrupt_on_termination() if threading.current_thread() is threading.main_thread() else {}
    running = None
    try:
        from .workers import RUNNING as running

        running.stopping.clear()
        cli.main(args=args, prog_name="adcheck", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:  # click turns Ctrl-C inside a command into Abort
        return _interrupted(exc, running)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "adcheck"
        click.echo(printable_line(f"adcheck: error: {exc.format_message()} (see '{command} --help')"), err=True)
        return ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except AdcheckError as exc:
        if debug:  # the traceback, and still the error's own exit code (a bad target is 2 either way)
            import traceback

            traceback.print_exc()
        click.echo(printable_line(f"adcheck: {'note' if exc.exit_code == ExitCode.OK else 'error'}: {exc}"), err=True)
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - adcheck's own bug: one line, ask for --debug
        if debug:
            raise
        click.echo(printable_line(f"adcheck: internal error: {type(exc).__name__}: {exc} "
                                  "(rerun with --debug for the traceback)"), err=True)
        return ExitCode.INTERNAL
    finally:
        if running is not None:
            running.stopping.clear()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return ExitCode.OK


def _interrupt_on_termination() -> dict:
    """SIGTERM, and SIGHUP unless ignored (nohup), unwind like Ctrl-C: the terminal closed or a CI
    runner's hang-up still gets the finished cases' report. The previous handlers, to put back."""
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _interrupt)}
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        previous[hangup] = signal.signal(hangup, _interrupt)
    return previous


def _interrupted(exc: BaseException, running) -> int:
    """Every worker stopped; the exit code of an interruption (or of a fork server that hung up)."""
    if running is not None:
        running.stop_all()
    if isinstance(exc.__context__, EOFError):
        # Not Ctrl-C: click also turns an EOFError into Abort, and a fork server that hung up
        # (its fork failed: a process or memory limit) is one.
        from .limits import worker_start_failure

        click.echo(f"adcheck: error: {worker_start_failure()}", err=True)
        return ExitCode.USAGE
    click.echo("adcheck: interrupted", err=True)
    return ExitCode.INTERRUPTED


def entry_point() -> None:
    """The ``adcheck`` command: Ctrl-C while Python is still importing adcheck is exit 130 too."""
    # As ``python -m adcheck`` finds ``adcheck run pkg.mod:f``'s module in the working directory,
    # so does the console script; after the installed packages, so a local file cannot hide one.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        code = main()
    except KeyboardInterrupt:
        code = ExitCode.INTERRUPTED
    # What is left lives until the exit: kept out of the collections Python runs while it shuts
    # down, which walked every object the imports made (25 ms of every run, 9 with this).
    import gc

    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry_point()
