"""A NaN derivative is told as the user's code made it: the user's `where` (in the target's file
or in a helper's, followed as the run executed it) leads the ADC604 finding with its fix and docs
link, and the error ratio of a NaN entry is NaN, never a finite number below 1 on a failing row.
Fixtures: fixtures/where_trap/."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, invoke

WHERE = FIXTURES / "where_trap"
X = "[0.0, 4.0, 1.0]"  # x[0] = 0: the masked-out sqrt branch's derivative is inf there


def line_of(path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def helper_report() -> dict:
    result = invoke("run", f"{WHERE / 'where_model.py'}:energy", "--input", X, "--format", "json")
    assert result.exit_code == 1, result.stderr
    return json.loads(result.stdout)


def test_a_where_trap_in_a_helpers_file_is_offered_as_a_cause(helper_report):
    line = line_of(WHERE / "where_helpers.py", "jnp.where(")
    traps = [f for f in helper_report["findings"] if f["code"] == "ADC302"]
    assert [(f["path"].rsplit("/", 1)[-1], f["line"], f["explains"]) for f in traps] == \
        [("where_helpers.py", line, ["jax-rev"])]


def test_the_nan_finding_names_the_users_where_first_with_its_fix_and_docs(helper_report):
    line = line_of(WHERE / "where_helpers.py", "jnp.where(")
    (nan,) = [f for f in helper_report["findings"] if f["code"] == "ADC604"]
    assert nan["message"].startswith("jax-rev: your `where` at ")
    assert f"where_helpers.py:{line}:" in nan["message"].split(" (ADC302)")[0]
    assert "fix: " in nan["message"] and "docs/rules.md#adc302" in nan["message"]


def test_a_nan_entry_has_a_nan_error_ratio_on_its_failing_row(helper_report):
    (rev,) = [b for b in helper_report["backends"] if b["name"] == "jax-rev"]
    assert rev["status"] == "disagree"
    assert rev["max_error_over_tolerance"] == "NaN"
    assert [m["error_over_tolerance"] for m in rev["mismatches"]] == ["NaN"]


def test_an_inline_where_trap_leads_the_table_and_the_row_shows_nan():
    result = invoke("run", f"{WHERE / 'where_model.py'}:inline_energy", "--input", X, "--no-timings")
    assert result.exit_code == 1, result.stderr
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("jax-rev "))
    assert row[1:4] == ["disagree", "nan", "nan"]
    causes = result.stdout.split("Likely causes:")[1].strip().splitlines()
    line = line_of(WHERE / "where_model.py", "jnp.where(")
    assert "ADC604 jax-rev: your `where` at " in causes[0] and f"where_model.py:{line}:" in causes[0]
    assert "unused branch, e.g." not in causes[0]  # the generic hint gives way to the user's own line
