"""`--order 2`: a custom rule with the right first derivative but a wrong derivative of its own."""

import numpy as np
import pytest

from adcheck.prepare import CommandLineInputs, prepare
from adcheck.model import Status
from adcheck.report import table
from adcheck.run import check_target
from adcheck.settings import Settings
from conftest import FIXTURES, invoke

OPTIONS = Settings(order=2, lint=False, backends=("jax-fwd", "jax-rev"))


def run(func):
    return check_target(prepare(f"{FIXTURES / 'second_order.py'}:{func}", CommandLineInputs(("[0.5, 1.0, 2.0]",))),
                        OPTIONS)


def test_frozen_slope_rule_passes_first_order_and_fails_second_order():
    report = run("loss")
    assert {v.name: v.status for v in report.comparison.verdicts} == {
        "fd": Status.REFERENCE, "jax-fwd": Status.AGREE, "jax-rev": Status.AGREE}
    second = {v.name: v for v in report.second_order.verdicts}
    assert second["jax-fwd"].status == Status.DISAGREE
    assert second["jax-rev"].status == Status.DISAGREE
    # The Hessian is diagonal; the rule loses the -x sin(x) term on it: 2cos(x) vs 2cos(x) - x sin(x).
    assert {(m.row, m.col) for m in second["jax-rev"].mismatches} == {(0, 0), (1, 1), (2, 2)}
    assert report.failed
    text = table.render(report, timings=False)
    assert "Second derivatives (Hessian)" in text
    assert "FAIL: jax-fwd (second derivative), jax-rev (second derivative)" in text


def test_correct_function_passes_second_order():
    report = run("good_loss")
    assert [v.status for v in report.second_order.verdicts] == [Status.AGREE, Status.AGREE]
    assert not report.failed


def test_vector_output_checks_derivative_of_jacobian_vector_product():
    report = run("vector")
    assert "d(J v)/dx" in table.render(report, timings=False)
    assert {v.name: v.status for v in report.second_order.verdicts} == {
        "jax-fwd": Status.DISAGREE, "jax-rev": Status.DISAGREE}


def test_cli_order_2_exits_1_in_full_and_in_fast_mode():
    for mode in ("full", "fast"):
        result = invoke("run", f"{FIXTURES / 'second_order.py'}:loss", "--input", "[0.5, 1.0, 2.0]", "--order", "2",
                        "--backend", "jax-rev", "--no-timings", "--mode", mode)
        assert result.exit_code == 1, (mode, result.stderr)
        assert "FAIL: jax-rev (second derivative)" in result.stdout
        assert "Traceback" not in result.stderr


def test_torch_backends_check_second_derivatives_too():
    prepared = prepare(f"{FIXTURES / 'torch_funcs.py'}:sin_times_sum", CommandLineInputs(("[0.5, 1.0, 2.0]",)))
    report = check_target(prepared, Settings(order=2, lint=False))
    second = {v.name: v.status for v in report.second_order.verdicts}
    assert second == {"torch-fwd": Status.AGREE, "torch-rev": Status.AGREE}
    assert not report.failed


# --- autograd, and a torch Function whose backward is right but not differentiable -------------------


def order_2(fixture: str, func: str, backend: str):
    """``adcheck run --order 2`` on one backend: (exit code, JSON report)."""
    import json

    result = invoke("run", f"{FIXTURES / fixture}:{func}", "--input", "[0.5, 1.0, 2.0]", "--order", "2",
                    "--backend", backend, "--format", "json", "--no-timings", "--no-lint", "--no-blame")
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout)


def statuses(rows) -> dict[str, str]:
    return {row["name"]: row["status"] for row in rows}


def test_autograd_hessian_of_a_smooth_function_agrees():
    code, report = order_2("second_order_autograd.py", "good_loss", "autograd")
    assert code == 0, report
    assert statuses(report["backends"]) == {"fd": "reference", "autograd": "agree"}
    assert statuses(report["second_order"]["backends"]) == {"autograd": "agree"}


def test_autograd_rule_right_in_value_but_not_differentiable_fails_second_order_only():
    code, report = order_2("second_order_autograd.py", "loss", "autograd")
    assert code == 1
    assert statuses(report["backends"]) == {"fd": "reference", "autograd": "agree"}  # gradients are right
    (row,) = report["second_order"]["backends"]
    assert (row["name"], row["status"]) == ("autograd", "disagree")
    assert row["message"] == "differs from FD of its own first derivative: 3 of 9 entries outside tolerance"
    # The diagonal loses -x sin(x): 2 cos(x) - x sin(x) is what FD of the gradient finds.
    assert sorted(tuple(m["entry"]) for m in row["mismatches"]) == [(0, 0), (1, 1), (2, 2)]
    for m in row["mismatches"]:
        x = [0.5, 1.0, 2.0][m["entry"][0]]
        assert m["reference"] == pytest.approx(2 * np.cos(x) - x * np.sin(x), rel=1e-6)
        assert m["value"] == pytest.approx(2 * np.cos(x), rel=1e-9)


def test_torch_hessian_of_a_smooth_function_agrees():
    code, report = order_2("second_order_torch.py", "good_loss", "torch-rev")
    assert code == 0, report
    assert statuses(report["second_order"]["backends"]) == {"torch-rev": "agree"}


def test_torch_function_whose_backward_is_not_differentiable_fails_second_order(tmp_path):
    import json

    output = tmp_path / "report.json"
    result = invoke("run", f"{FIXTURES / 'second_order_torch.py'}:loss", "--input", "[0.5, 1.0, 2.0]", "--order", "2",
                    "--backend", "torch-rev", "--no-timings", "--no-lint", "--no-blame", "--format", "json",
                    "--output", str(output))
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Second derivatives (Hessian)" in result.stdout  # the table on the terminal, JSON in the file
    assert result.stdout.rstrip().splitlines()[-1] == "FAIL: torch-rev (second derivative)"
    report = json.loads(output.read_text())
    assert statuses(report["backends"]) == {"fd": "reference", "torch-rev": "agree"}
    (row,) = report["second_order"]["backends"]
    assert (row["name"], row["status"]) == ("torch-rev", "disagree")
    assert sorted(tuple(m["entry"]) for m in row["mismatches"]) == [(0, 0), (1, 1), (2, 2)]
