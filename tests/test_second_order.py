"""`--order 2`: a custom rule with the right first derivative but a wrong derivative of its own."""

from adcheck.inputs import build_arguments
from adcheck.model import Status
from adcheck.report import table
from adcheck.run import check_target
from adcheck.settings import Settings

OPTIONS = Settings(order=2, lint=False, backends=("jax-fwd", "jax-rev"))


def run(func):
    return check_target(f"fixtures/second_order.py:{func}", build_arguments(("[0.5, 1.0, 2.0]",)), OPTIONS)


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
    assert all(v.status == Status.DISAGREE for v in report.second_order.verdicts)


def test_cli_order_2_exits_1_and_fast_mode_is_refused():
    from conftest import invoke

    result = invoke("run", "fixtures/second_order.py:loss", "--input", "[0.5, 1.0, 2.0]", "--order", "2",
                    "--backend", "jax-rev", "--no-timings")
    assert result.exit_code == 1
    assert "FAIL: jax-rev (second derivative)" in result.stdout
    refused = invoke("run", "fixtures/second_order.py:loss", "--input", "[0.5]", "--order", "2", "--mode", "fast")
    assert refused.exit_code == 2
    assert "--order 2" in refused.stderr and "Traceback" not in refused.stderr


def test_torch_backends_check_second_derivatives_too():
    report = check_target("fixtures/torch_funcs.py:sin_times_sum", build_arguments(("[0.5, 1.0, 2.0]",)),
                          Settings(order=2, lint=False))
    second = {v.name: v.status for v in report.second_order.verdicts}
    assert second == {"torch-fwd": Status.AGREE, "torch-rev": Status.AGREE}
    assert not report.failed
