"""The command line. The only module that prints report text or decides the exit code."""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import AdcheckError, ExitCode

FORMAT_CHOICES = ("table", "json")


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

    Exit codes: 0 every applicable backend agrees, 1 a disagreement or a backend error,
    2 a usage or input error, 3 an internal error.
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
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Also write the report here.")
@click.option("--no-timings", is_flag=True, help="Leave out timings (byte-identical reports across runs).")
@click.option("--no-lint", is_flag=True, help="Skip the lint and runtime probes.")
def run(target, inputs, random_shapes, seed, wrt, backends, timeout, rtol, atol, memory_limit, output_format,
        output, no_timings, no_lint):
    """Compare the Jacobian of TARGET (file.py:func or package.module:func) across backends."""
    from .inputs import build_arguments
    from .run import RunOptions, check_target

    arguments = build_arguments(inputs, random_shapes, seed, wrt)
    if backends:
        from .backends import resolve

        resolve(backends)  # an unknown name fails before any work starts
    options = RunOptions(backends=tuple(backends), timeout=timeout, rtol=rtol, atol=atol,
                         memory_limit=_memory(memory_limit), lint=not no_lint)
    report = check_target(target, arguments, options)
    emit(report, output_format, output, timings=not no_timings)
    raise SystemExit(ExitCode.FAILED if report.failed else ExitCode.OK)


def emit(report, output_format: str, output: str | None, *, timings: bool) -> None:
    from .report import json as json_report
    from .report import table

    if output_format == "json":
        text = json_report.render(report, timings=timings)
        click.echo(text)
    else:
        click.echo(table.render(report, colour=colour_enabled(sys.stdout), timings=timings), color=colour_enabled(sys.stdout))
        text = table.render(report, colour=False, timings=timings) if output else None
    if output:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            raise AdcheckError(f"--output {output}: cannot write ({exc.strerror})") from None


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


def main(argv=None) -> int:
    """Entry point: the one place that turns errors into exit codes."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="adcheck", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.Abort:
        click.echo("adcheck: interrupted", err=True)
        return 130
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
