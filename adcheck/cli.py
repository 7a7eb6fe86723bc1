"""The command line. The only module that prints report text or decides the exit code."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import AdcheckError, ConfigError, ExitCode

FORMAT_CHOICES = ("table", "json", "junit", "github", "sarif", "markdown")
FAIL_ON_CHOICES = ("disagree", "error", "warning")  # adcheck.check.FAIL_ON_CHOICES, without the import


def colour_enabled(stream) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return stream.isatty()


def _memory(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    cleaned = text.strip().lower().removesuffix("b").removesuffix("i")
    try:
        if cleaned and cleaned[-1] in units:
            return int(float(cleaned[:-1]) * units[cleaned[-1]])
        return int(float(cleaned))
    except ValueError:
        raise AdcheckError(f"--memory-limit {text!r}: expected a size like 4G or 512M") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="adcheck")
@click.option("--debug", is_flag=True, help="Show tracebacks of adcheck's own errors.")
@click.pass_context
def cli(ctx, debug):
    """Check automatic derivatives against each other and an adaptive finite-difference oracle.

    Exit codes: 0 every applicable backend agrees, 1 a disagreement or a backend error
    (for check: a failure under --fail-on that the baseline does not accept; for lint: a
    finding of severity error or warning), 2 a usage, input or configuration error, 3 an
    internal error.
    """
    ctx.obj = {"debug": debug}


@cli.command()
@click.argument("target")
@click.option("--input", "inputs", multiple=True, metavar="JSON|@FILE",
              help="One positional argument: JSON ('[1,2,3]', '2.0') or @file.npy/.npz/.json. Repeat per argument.")
@click.option("--random", "random_shapes", multiple=True, metavar="SHAPE",
              help="A standard-normal argument of this shape (100, 3x4). Repeat per argument.")
@click.option("--seed", default=0, show_default=True, help="Seed for --random.")
@click.option("--wrt", metavar="I,J", help="Differentiate these arguments only (default: all).")
@click.option("--backend", "backends", multiple=True, metavar="NAME",
              help="Run only this backend (repeatable); fd always runs.")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds per backend before its worker is killed.")
@click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance (default: per-dtype table).")
@click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance (default: per-dtype table).")
@click.option("--memory-limit", metavar="SIZE", help="Memory per worker, e.g. 4G (default: half the machine).")
@click.option("--format", "output_format", type=click.Choice(FORMAT_CHOICES), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the --format report to this file; the terminal gets the table.")
@click.option("--no-timings", is_flag=True, help="Leave out timings (byte-identical reports across runs).")
@click.option("--no-lint", is_flag=True, help="Skip the lint and runtime probes.")
@click.option("--mode", type=click.Choice(("auto", "full", "fast")), default="auto", show_default=True,
              help="full: whole Jacobians; fast: Jacobian-vector products along random directions; "
                   "auto: fast above 4000 inputs.")
@click.option("--order", type=click.IntRange(1, 2), default=1, show_default=True,
              help="2: also check second derivatives (Hessian, or d(Jv)/dx for vector outputs).")
def run(target, inputs, random_shapes, seed, wrt, backends, timeout, rtol, atol, memory_limit, output_format,
        output, no_timings, no_lint, mode, order):
    """Compare the Jacobian of TARGET (file.py:func or package.module:func) across backends."""
    from .inputs import build_arguments
    from .run import RunOptions, check_target

    arguments = build_arguments(inputs, random_shapes, seed, wrt)
    if backends:
        from .backends import resolve

        resolve(backends)  # an unknown name fails before any work starts
    if order == 2 and mode == "fast":
        raise click.UsageError("--order 2 needs whole Jacobians; it cannot be combined with --mode fast")
    options = RunOptions(backends=tuple(backends), timeout=timeout, rtol=rtol, atol=atol,
                         memory_limit=_memory(memory_limit), lint=not no_lint, mode=mode, order=order)
    with BackendProgress() as progress:
        report = check_target(target, arguments, options, progress=progress)
    emit(report, output_format, output, timings=not no_timings)
    raise SystemExit(ExitCode.FAILED if report.failed else ExitCode.OK)


class BackendProgress:
    """A progress bar of finished backends on stderr: only on a terminal, and only once the run
    has taken longer than a couple of seconds (a quick run should not flicker)."""

    DELAY = 2.0

    def __init__(self):
        import time

        self.started = time.monotonic()
        self.bar = None
        self.shown = 0

    def __call__(self, done: int, total: int, name: str) -> None:
        import time

        if not sys.stderr.isatty() or time.monotonic() - self.started < self.DELAY:
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


def render(reports: list, output_format: str, *, timings: bool, colour: bool = False, summary: str = "") -> str:
    """The report text of ``reports`` in ``output_format`` (table/json handled for a single run)."""
    if output_format == "table":
        from .report import table

        text = "\n\n".join(table.render(r, colour=colour, timings=timings) for r in reports)
        return text + ("\n\n" + summary if summary else "")
    if output_format == "json":
        from .report import json as json_report

        return json_report.render(reports[0], timings=timings)
    module = importlib.import_module(f"adcheck.report.{output_format}")
    return module.render(reports, timings=timings)


def write_output(output: str, text: str) -> None:
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + ("\n" if text and not text.endswith("\n") else ""))
    except OSError as exc:
        raise AdcheckError(f"--output {output}: cannot write ({exc.strerror})") from None


def echo_report(text: str, *, colour: bool = False) -> None:
    if text:
        click.echo(text, color=colour)


def emit(report, output_format: str, output: str | None, *, timings: bool) -> None:
    """``run``'s report: the chosen format on stdout, or the table there and the format in ``output``."""
    colour = colour_enabled(sys.stdout)
    if output:
        echo_report(render([report], "table", timings=timings, colour=colour), colour=colour)
        write_output(output, render([report], output_format, timings=timings))
    else:
        echo_report(render([report], output_format, timings=timings, colour=colour and output_format == "table"),
                    colour=colour)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The pyproject.toml to read (default: the nearest one above the working directory "
                   "with a [tool.adcheck] table).")
@click.option("--backend", "backends", multiple=True, metavar="NAME",
              help="Run only this backend (repeatable; overrides the configuration); fd always runs.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds per backend (default: 120).")
@click.option("--rtol", type=click.FloatRange(min=0), help="Relative tolerance for every case.")
@click.option("--atol", type=click.FloatRange(min=0), help="Absolute tolerance for every case.")
@click.option("--memory-limit", metavar="SIZE", help="Memory per worker, e.g. 4G (default: half the machine).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Cases run at once (default: the number of CPUs).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES),
              help="What fails the run: error (backend errors only), disagree (and disagreements; the default), "
                   "warning (and lint warnings).")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Baseline file (default: .adcheck-baseline.json next to the pyproject).")
@click.option("--update-baseline", is_flag=True, help="Record the current failures in the baseline and exit 0.")
@click.option("--format", "output_format", type=click.Choice(FORMAT_CHOICES), default="table", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the --format report to this file; the terminal gets the table.")
@click.option("--no-timings", is_flag=True, help="Leave out timings (byte-identical reports across runs).")
@click.option("--no-lint", is_flag=True, help="Skip the lint and runtime probes.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines on stderr.")
def check(paths, config_file, backends, timeout, rtol, atol, memory_limit, jobs, fail_on, baseline_file,
          update_baseline, output_format, output, no_timings, no_lint, quiet):
    """Run every case: [[tool.adcheck.case]] in pyproject.toml and @adcheck.case functions in PATHS."""
    from .check import CheckOptions, apply_baseline, baseline_path, run_check, write_baseline
    from .config import display_path, load_project

    project = load_project(list(paths), pyproject=config_file)
    if not project.cases:
        where = display_path(project.pyproject, Path.cwd()) if project.pyproject else "no pyproject.toml with [tool.adcheck]"
        raise ConfigError(f"no cases found ({where}; {len(paths)} path(s) searched for @adcheck.case)",
                          hint="add [[tool.adcheck.case]] tables or pass files with @adcheck.case functions")
    if backends:
        from .backends import resolve

        resolve(backends)
    options = CheckOptions(backends=tuple(backends), timeout=timeout, rtol=rtol, atol=atol,
                           memory_limit=_memory(memory_limit), lint=not no_lint, jobs=jobs)

    def progress(done, total, result):
        if not quiet:
            state = "broken" if result.broken else ("FAIL" if result.report.failed else "pass")
            click.echo(f"adcheck: [{done}/{total}] {result.report.target}: {state} ({result.seconds:.1f} s)", err=True)

    if not quiet:
        from .check import default_jobs

        at_once = min(options.jobs or default_jobs(), len(project.cases))
        click.echo(f"adcheck: {len(project.cases)} case(s), {at_once} at a time", err=True)
    result = run_check(project, options, fail_on, on_case_done=progress)
    baseline = baseline_file or baseline_path(project)
    if update_baseline:
        write_baseline(baseline, result.failures)
        click.echo(f"adcheck: wrote {len(result.failures)} failure(s) to {display_path(baseline, Path.cwd())}",
                   err=True)
    else:
        result = apply_baseline(result, baseline)

    timings = not no_timings
    colour = colour_enabled(sys.stdout)
    summary = check_summary(result)
    if output_format == "json":
        text = check_json(result, timings=timings)
    else:
        text = render(result.reports, output_format, timings=timings, colour=colour and not output,
                      summary=summary)
    if output:
        echo_report(render(result.reports, "table", timings=timings, colour=colour, summary=summary), colour=colour)
        write_output(output, text if output_format != "table" else
                     render(result.reports, "table", timings=timings, summary=summary))
    else:
        echo_report(text, colour=colour)
        if output_format != "table" and summary:
            for line in summary.splitlines():
                click.echo(line, err=True)
    raise SystemExit(ExitCode.OK if update_baseline and not result.broken else result.exit_code)


def check_json(result, *, timings: bool) -> str:
    import json

    from .check import result_dict

    return json.dumps(result_dict(result, timings=timings), indent=2)


def check_summary(result) -> str:
    """The last lines of ``check``: counts, what failed, what the baseline says."""
    from .config import display_path

    n = len(result.results)
    failed = result.failed_cases()
    lines = [f"{n} case{'s' if n != 1 else ''}: {n - len(failed) - len(result.broken)} passed, "
             f"{len(failed)} failed" + (f", {len(result.broken)} could not run" if result.broken else "")
             + f" (--fail-on {result.fail_on})"]
    for failure in result.new_failures:
        lines.append(f"FAIL {failure}")
    for broken in result.broken:
        lines.append(f"BROKEN {broken.report.target}: {broken.broken}")
    if result.baselined:
        lines.append(f"{len(result.baselined)} known failure(s) accepted by the baseline "
                     f"{display_path(result.baseline, Path.cwd())}")
    if result.fixed:
        lines.append("baseline entries that no longer fail (rerun with --update-baseline to drop them):")
        lines += [f"  {case} ({subject})" for case, subject in result.fixed]
    return "\n".join(lines)


@cli.command()
@click.argument("specs", nargs=-1, required=True, metavar="FILE[:FUNC]...")
def lint(specs):
    """Static checks of derivative code: print path:line:col: CODE message per finding.

    Exit 1 when a finding has severity error or warning, else 0.
    """
    try:
        from .explain.rules import lint_paths
    except ImportError as exc:
        raise AdcheckError(f"the lint rules are not available ({exc})") from None
    findings = sorted(lint_paths(list(specs)), key=lambda f: (f.path, f.line, f.col, f.code, f.message))
    for finding in findings:
        click.echo(finding.format())
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
                     ", ".join(backend.runs), backend.description])
    click.echo(tabulate(rows, headers=["backend", "installed", "version", "runs code for", "how"], tablefmt="simple"))


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI job cancelled, a timeout) unwinds like Ctrl-C, so the workers are killed."""
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def main(argv=None) -> int:
    """Entry point: the one place that turns errors into exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    _stop_on_sigterm()
    try:
        cli.main(args=args, prog_name="adcheck", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("adcheck: interrupted", err=True)
        return 130
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "adcheck"
        click.echo(f"adcheck: error: {exc.format_message()} (see '{command} --help')", err=True)
        return ExitCode.USAGE
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except AdcheckError as exc:
        if debug:
            raise
        click.echo(f"adcheck: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("adcheck: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - adcheck's own bug: one line, ask for --debug
        if debug:
            raise
        click.echo(f"adcheck: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                   err=True)
        return ExitCode.INTERNAL
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
