"""`--order 2` in fast mode: second directional derivatives at any size, two witnesses before a verdict."""

import json

import numpy as np

from adcheck.fast_second_order import N_DIRECTIONS, compare_fast_second_order, second_order_vectors
from adcheck.prepare import CommandLineInputs, prepare
from adcheck.model import BackendRun, SecondOrder, Status, TaylorLadder, Witness
from adcheck.run import check_target
from adcheck.settings import Settings
from conftest import FIXTURES, invoke

FAST = Settings(order=2, mode="fast", lint=False, blame=False)


def second_statuses(report) -> dict[str, Status]:
    return {v.name: v.status for v in report.second_order.verdicts}


def fast_run(fixture: str, func: str, backends: tuple[str, ...], size: int = 40):
    settings = Settings(order=2, mode="fast", lint=False, blame=False, backends=backends)
    return check_target(prepare(f"{FIXTURES / fixture}:{func}", CommandLineInputs(random_shapes=(str(size),))),
                        settings)


def test_jax_rule_whose_own_derivative_is_wrong_fails_in_fast_mode_both_modes():
    report = fast_run("second_order.py", "loss", ("jax-fwd", "jax-rev"))
    assert {v.name: v.status for v in report.comparison.verdicts} == {
        "fd": Status.REFERENCE, "jax-fwd": Status.AGREE, "jax-rev": Status.AGREE}  # first order is right
    assert second_statuses(report) == {"jax-fwd": Status.DISAGREE, "jax-rev": Status.DISAGREE}
    assert report.failed
    rev = next(v for v in report.second_order.verdicts if v.name == "jax-rev")
    assert "the Taylor remainder agrees" in rev.message and "d(the gradient)[x[" in rev.message


def test_correct_jax_function_passes_fast_second_order():
    report = fast_run("second_order.py", "good_loss", ("jax-fwd", "jax-rev"))
    assert second_statuses(report) == {"jax-fwd": Status.AGREE, "jax-rev": Status.AGREE}
    assert not report.failed
    assert any(note.startswith(f"--order 2 in fast mode: each backend's second derivative along {N_DIRECTIONS}")
               for note in report.notes)


def test_vector_output_fast_second_order_fails_on_the_frozen_rule():
    report = fast_run("second_order.py", "vector", ("jax-fwd", "jax-rev"))
    assert second_statuses(report) == {"jax-fwd": Status.DISAGREE, "jax-rev": Status.DISAGREE}


def test_autograd_fast_second_order_catches_a_rule_that_is_not_differentiable():
    wrong = fast_run("second_order_autograd.py", "loss", ("autograd",))
    right = fast_run("second_order_autograd.py", "good_loss", ("autograd",))
    assert second_statuses(wrong) == {"autograd": Status.DISAGREE}
    assert second_statuses(right) == {"autograd": Status.AGREE}


def test_torch_fast_second_order_reverse_over_reverse_and_forward_over_forward():
    wrong = fast_run("second_order_torch.py", "loss", ("torch-rev",))
    assert second_statuses(wrong) == {"torch-rev": Status.DISAGREE}
    right = fast_run("second_order_torch.py", "good_loss", ("torch-fwd", "torch-rev"))
    assert second_statuses(right) == {"torch-fwd": Status.AGREE, "torch-rev": Status.AGREE}


def test_cli_order_2_on_5000_inputs_goes_fast_in_auto_mode_and_exits_1_on_the_planted_rule():
    args = ("--random", "5000", "--order", "2", "--backend", "jax-rev", "--no-lint", "--no-blame", "--format", "json",
            "--no-timings")
    failing = invoke("run", f"{FIXTURES / 'second_order.py'}:loss", *args)
    assert failing.exit_code == 1, failing.stderr
    report = json.loads(failing.stdout)
    assert any("--mode auto chose fast mode" in note for note in report["notes"])
    assert {row["name"]: row["status"] for row in report["second_order"]["backends"]} == {"jax-rev": "disagree"}
    passing = invoke("run", f"{FIXTURES / 'second_order.py'}:good_loss", *args)
    assert passing.exit_code == 0, passing.stdout + passing.stderr


def test_mode_fast_with_order_2_is_accepted():
    result = invoke("run", f"{FIXTURES / 'second_order.py'}:good_loss", "--input", "[0.5, 1.0]", "--order", "2",
                    "--mode", "fast", "--backend", "jax-rev", "--no-lint", "--no-timings")
    assert result.exit_code == 0, result.stdout + result.stderr
    # Directional second derivatives, not a Hessian: the heading says which.
    assert "Second derivatives (along random directions" in result.stdout and "(Hessian)" not in result.stdout


# --- the two-witness rule, on made-up numbers ---------------------------------------------------------


def _run_with(products, fd, walk=None, name="jax-rev"):
    value = np.array([1.0, 2.0])
    data = SecondOrder(Status.COMPUTED, value=value, jacobian=products, fd=fd, fd_error=np.full(fd.shape, 1e-12),
                       walk=walk)
    return BackendRun(name, Status.COMPUTED, value=np.array([3.0]), second_order=data)


def _walk(slope_error: float, curvature: float = 1.0) -> Witness:
    """The remainder walk of g = (1, 2) + h * (fd + slope_error) + curvature * h**2 along direction 0."""
    steps = 0.25 / 4.0 ** np.arange(26)
    sides = []
    for sign in (1.0, -1.0):
        h = sign * steps
        values = np.array([1.0 + h * 1.0 + curvature * h**2, 2.0 + h * 3.0 + curvature * h**2])
        values = values + h[None, :] * slope_error
        sides.append(TaylorLadder(np.array([0]), steps[None, :], values[:, None, :], np.full(2, 1e-15)))
    return Witness(sides[0], sides[1])


def test_fd_alone_does_not_convict_a_second_derivative():
    fd = np.array([[1.0], [3.0]])
    run = _run_with(np.array([[1.5], [3.0]]), fd)  # FD accuses entry 0, and no walk was taken
    comparison, _ = compare_fast_second_order([run], 2)
    (verdict,) = comparison.verdicts
    assert verdict.status == Status.INCONCLUSIVE
    assert verdict.n_inconclusive == 1 and verdict.n_mismatches == 0


def test_the_walk_convicts_with_fd_and_overrules_it_alone():
    truth = np.array([[1.0], [3.0]])
    # The backend is right (the walk's slope is its value); FD is wrong at entry 0.
    overruled, _ = compare_fast_second_order([_run_with(truth, np.array([[1.5], [3.0]]), _walk(0.0))], 2)
    assert overruled.verdicts[0].status == Status.AGREE
    assert "overruled by the Taylor remainder" in overruled.verdicts[0].message
    # The backend is wrong at entry 0, FD and the walk both say so.
    convicted, _ = compare_fast_second_order([_run_with(np.array([[1.5], [3.0]]), truth, _walk(0.0))], 2)
    assert convicted.verdicts[0].status == Status.DISAGREE
    assert convicted.odd_one_out == ("jax-rev",)


def test_every_worker_draws_the_same_second_order_vectors():
    a, b = second_order_vectors(30, 4), second_order_vectors(30, 4)
    assert np.array_equal(a.directions, b.directions) and np.array_equal(a.cotangent, b.cotangent)
    assert a.directions.shape == (30, N_DIRECTIONS)
    assert np.allclose(np.linalg.norm(a.directions, axis=0), 1.0)
    assert second_order_vectors(30, 1).cotangent.tolist() == [1.0]
