"""The report formats: one interface, one registry that the command line's choices, the per-case
streaming and ``adcheck merge-reports`` all read.

A format renders a run (``adcheck run``: one report) and a check (``adcheck check``: every case's
report, the failure policy, a stop); a format whose check report is one case's text after
another's may write each case's text as the case ends (``RenderedAhead``). Adding a format is
one module with a ``FORMAT`` and one line in ``FORMATS``. Nothing here imports a format's module
until it is used: ``adcheck --help`` reads only the names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol


if TYPE_CHECKING:
    from ..check import CheckResult
    from ..model import RunReport
    from . import RenderedAhead
    from .common import Interruption


@dataclass(frozen=True)
class RenderOptions:
    """What a format may be asked beyond the reports; each takes what concerns it."""

    timings: bool = True  # seconds in the report (off: the same text on every machine)
    colour: bool = False  # terminal colours (the table)
    fail_on: str = "disagree"  # settings.FailOn: what fails the run (the formats that say so)
    interrupted: Interruption | None = None  # a check that stopped early
    summary: str = ""  # the check's closing lines (the table prints them; the others say it their own way)


class ReportFormat(Protocol):
    name: str

    def render(self, reports: Sequence[RunReport], options: RenderOptions) -> str:
        """The report of these runs (``adcheck run`` passes one)."""

    def render_check(self, result: CheckResult, options: RenderOptions, ahead: RenderedAhead | None) -> str:
        """The report of a check; ``ahead``: the cases' texts already written (``case_writer``)."""

    def case_writer(self, options: RenderOptions) -> Callable[[RunReport], str] | None:
        """One case's text, to be written as the case ends; None for a format that renders the
        check as one document."""


@dataclass(frozen=True)
class Document:
    """A format that renders every case into one document (JUnit, SARIF, GitHub, Markdown):
    ``render(reports, *, timings, fail_on, interrupted)`` in its module."""

    name: str
    render_function: Callable[..., str]

    def render(self, reports: Sequence[RunReport], options: RenderOptions) -> str:
        return self.render_function(list(reports), timings=options.timings, fail_on=options.fail_on,
                                    interrupted=options.interrupted)

    def render_check(self, result: CheckResult, options: RenderOptions, ahead: RenderedAhead | None) -> str:
        return self.render(result.reports, options)

    def case_writer(self, options: RenderOptions) -> None:
        return None


@dataclass(frozen=True)
class Entry:
    """A registered format: its name, where its ``FORMAT`` lives, and what it can do."""

    name: str
    module: str  # imported when the format is used
    merges: bool = False  # adcheck merge-reports can merge shards' reports of it

    def load(self) -> ReportFormat:
        return importlib.import_module(self.module).FORMAT


FORMATS: dict[str, Entry] = {entry.name: entry for entry in (
    Entry("table", "adcheck.report.table"),
    Entry("json", "adcheck.report.json", merges=True),
    Entry("junit", "adcheck.report.junit", merges=True),
    Entry("github", "adcheck.report.github"),
    Entry("sarif", "adcheck.report.sarif", merges=True),
    Entry("markdown", "adcheck.report.markdown"),
)}
MERGEABLE = tuple(name for name, entry in FORMATS.items() if entry.merges)


def report_format(name: str) -> ReportFormat:
    return FORMATS[name].load()
