"""A wrong rule is named as the user wrote it: at the rule's own ``def`` line when the target is
the rule-carrying function, and for a torch Function with forward's argument names and the place
of the wrong gradient in what ``backward`` returns. Fixture: fixtures/blame/named_rules.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, invoke
from test_blame import blame_task, blamed

from adcheck.model import display_path
from adcheck.workers import run_tasks

NAMED = FIXTURES / "blame" / "named_rules.py"
LINES = NAMED.read_text().splitlines()
REL = display_path(str(NAMED))  # as messages show it


def line_of(text: str) -> int:
    return next(number for number, line in enumerate(LINES, 1) if line.lstrip().startswith(text))


@pytest.mark.parametrize("backend", ["jax-fwd", "jax-rev"])
def test_a_target_that_is_a_custom_jvp_function_is_blamed_at_its_rules_def_line(backend):
    (run,) = run_tasks([blame_task("named_rules.py", "soft", backend, "jax", [0.3, -0.7, 1.1])], timeout=300.0)
    assert blamed(run) == [("ADC501", "named_rules.py", line_of("def soft_jvp("))]
    (finding,) = run.blame.findings
    assert f"soft_jvp at {REL}:{line_of('def soft_jvp(')})" in finding.message
    assert "called at" not in finding.message  # nothing of the user's called it


def test_the_github_annotation_of_a_custom_jvp_target_is_on_the_rule_not_line_1():
    result = invoke("run", f"{NAMED}:soft", "--input", "[0.3, -0.7, 1.1]", "--format", "github")
    assert result.exit_code == 1, result.stderr
    rows = [row for row in result.stdout.splitlines() if "title=adcheck ADC501" in row]
    assert rows and all(f"line={line_of('def soft_jvp(')}," in row for row in rows)


def test_a_torch_function_is_named_at_backward_with_forwards_names_and_the_wrong_gradients_place():
    task = blame_task("named_rules.py", "scaled_tanh_sum", "torch-rev", "torch", [0.3, -0.7, 1.1], [1.5, 0.5, 2.0])
    (run,) = run_tasks([task], timeout=300.0)
    (finding,) = run.blame.findings
    assert (finding.code, Path(finding.path).name, finding.line) == \
        ("ADC501", "named_rules.py", line_of("return torch.sum(ScaledTanh.apply"))
    assert f"ScaledTanh.backward at {REL}:{line_of('def backward(')}" in finding.message  # not @staticmethod's
    assert f"returned gradient [1] (the one for scale) at {REL}:{line_of('return g * scale')}" in finding.message
    assert "/d scale[" in finding.message and "x2" not in finding.message


def test_the_run_names_forwards_arguments_in_its_table():
    result = invoke("run", f"{NAMED}:scaled_tanh_sum", "--input", "[0.3, -0.7, 1.1]", "--input", "[1.5, 0.5, 2.0]",
                    "--backend", "torch-rev", "--format", "json")
    assert result.exit_code == 1, result.stderr
    # The blamed rule explains the row; the lint's "has a user-defined rule" notices explain nothing more.
    (finding,) = [f for f in json.loads(result.stdout)["findings"] if f["code"] == "ADC501" and f["explains"]]
    assert "returned gradient [1] (the one for scale)" in finding["message"]
    assert finding["line"] == line_of("return torch.sum(ScaledTanh.apply")
