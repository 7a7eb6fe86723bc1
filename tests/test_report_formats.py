"""The format registry: every format the command line offers is one registered entry that
renders a run and a check through the same interface, and ``merge-reports`` merges exactly the
formats the registry marks as mergeable."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import click
import pytest

import report_samples as samples
from adcheck.cli import cli
from adcheck.merge import MERGERS
from adcheck.report.formats import FORMATS, MERGEABLE, RenderOptions, report_format

PARSES = {"json": json.loads, "junit": ET.fromstring, "sarif": json.loads}


def test_the_command_lines_format_choices_are_the_registry():
    for command in ("run", "check"):
        option = next(p for p in cli.commands[command].params if p.name == "output_format")
        assert isinstance(option.type, click.Choice)
        assert tuple(option.type.choices) == tuple(FORMATS)


def test_merge_reports_merges_exactly_the_formats_the_registry_marks():
    assert set(MERGERS) == set(MERGEABLE) == {"json", "junit", "sarif"}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_renders_a_run_and_a_check_through_one_interface(name):
    fmt = report_format(name)
    assert fmt.name == name
    options = RenderOptions(timings=False, summary="1 case: 1 failed")
    reports = [samples.mixed_report(), samples.kink_report()]
    run_text = fmt.render(reports[:1], options)
    assert "jax-rev" in run_text or "jax_rev" in run_text
    result = SimpleNamespace(reports=reports, results=[SimpleNamespace(report=r) for r in reports],
                             new_failures=(), failures=(), broken=(), interrupted=(), baseline=None, fixed=(),
                             fail_on="disagree", exit_code=1)
    check_text = fmt.render_check(result, options, None)
    assert check_text
    if name in PARSES:
        PARSES[name](check_text)  # well-formed
    writer = fmt.case_writer(options)
    if writer is not None:  # a format written case by case holds each case's text
        assert all(writer(r) in check_text for r in reports)
