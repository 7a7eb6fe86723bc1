"""Fast mode: products instead of Jacobians, and bisection to the wrong entry."""

import numpy as np
import pytest

from adcheck.fast import N_RANDOM, bisect_row, detection_threshold, probe_vectors
from adcheck.prepare import CommandLineInputs, prepare
from adcheck.model import Status
from adcheck.run import check_target
from adcheck.settings import Settings
from conftest import FIXTURES, invoke


def test_probe_vectors_are_the_same_in_every_process_and_unit_length():
    first, second = probe_vectors(50, 3), probe_vectors(50, 3)
    np.testing.assert_array_equal(first.directions, second.directions)
    np.testing.assert_allclose(np.linalg.norm(first.directions[:, :8], axis=0), 1.0)
    # The sampled basis columns pick out exactly their inputs.
    for k, column in enumerate(first.sampled_columns):
        assert first.directions[column, 8 + k] == 1.0 and first.directions[:, 8 + k].sum() == 1.0


def test_detection_threshold_grows_with_dimension_and_shrinks_with_directions():
    assert detection_threshold(1e-6, 10**6) > detection_threshold(1e-6, 10**3)
    assert detection_threshold(1e-6, 10**6, n_directions=32) < detection_threshold(1e-6, 10**6, n_directions=8)


def test_bisection_finds_the_single_wrong_gradient_entry():
    rng = np.random.default_rng(3)
    true_gradient = rng.standard_normal(4096)
    backend_row = true_gradient.copy()
    backend_row[1234] += 0.25
    direction = rng.standard_normal(4096)
    calls = []

    def directional(w):
        calls.append(1)
        return float(true_gradient @ w), 1e-12

    found = bisect_row(directional, backend_row, direction, lambda value, error: 1e-9 + 1e-6 * abs(value))
    assert [entry.index for entry in found] == [1234]
    assert found[0].reference == true_gradient[1234]
    assert len(calls) <= 2 * 12 + 1  # two halves per level, log2(4096) levels, one leaf check


def fast(func, n, backends=("autograd", "jax-rev", "jax-fwd")):
    return check_target(prepare(f"{FIXTURES / 'big_loss.py'}:{func}", CommandLineInputs(random_shapes=(str(n),))),
                        Settings(mode="fast", backends=backends, lint=False))


def test_fast_mode_catches_and_localises_one_wrong_entry():
    report = fast("one_wrong_entry", 3000)
    verdicts = {v.name: v for v in report.comparison.verdicts}
    assert verdicts["autograd"].status == Status.DISAGREE
    assert [(m.row, m.col) for m in verdicts["autograd"].mismatches] == [(0, 1000)]
    assert verdicts["jax-rev"].status == Status.AGREE  # jax ignores the autograd rule
    assert verdicts["jax-fwd"].status == Status.AGREE
    assert any(note.startswith("fast mode:") for note in report.notes)


def test_fast_mode_passes_a_correct_loss():
    report = fast("loss", 3000)
    assert not report.failed


# --- --mode auto: full Jacobians while they are cheap, products beyond -------------------------------


@pytest.mark.parametrize(("n_inputs", "mode"), [(1000, "full"), (4001, "fast")])
def test_auto_mode_switches_to_fast_mode_when_full_jacobians_cost_too_much(n_inputs, mode):
    import json

    # A cheap scalar loss on autograd alone: the full FD gradient of 1000 inputs is one row, and
    # 4001 inputs at 3 ms of bookkeeping a column are past auto mode's budget whatever the loss costs.
    result = invoke("run", f"{FIXTURES / 'big_loss.py'}:loss", "--random", str(n_inputs), "--backend", "autograd",
                    "--format", "json", "--no-timings", "--no-lint", "--no-blame")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["inputs"][0]["shape"] == [n_inputs]
    chose_fast = [note for note in report["notes"] if note.startswith("--mode auto chose fast mode")]
    products = [note for note in report["notes"] if note.startswith("fast mode:")]
    if mode == "full":
        assert chose_fast == [] and products == []
        assert len(report["jacobians"]["autograd"][0]) == n_inputs  # the whole gradient was compared
    else:
        assert len(chose_fast) == 1 and f"full Jacobians of {n_inputs} inputs would take over" in chose_fast[0]
        assert len(products) == 1
        assert report["jacobians"] == {}  # products only: no Jacobian was formed
    assert {row["name"]: row["status"] for row in report["backends"]} == {"fd": "reference", "autograd": "agree"}


def test_fast_mode_verifies_nothing_against_a_function_that_keeps_state(tmp_path):
    path = tmp_path / "drifting.py"
    path.write_text("import numpy as np\n\n_calls = [0]\n\n\ndef drifting(x):\n    _calls[0] += 1\n"
                    "    return np.sum(np.sin(x)) + 1e-3 * _calls[0]\n")
    result = invoke("run", f"{path}:drifting", "--random", "50", "--mode", "fast", "--backend", "autograd",
                    "--backend", "jax-rev", "--no-timings", "--no-lint")
    assert result.exit_code == 1, result.stdout
    assert "FAIL: the function is not deterministic between calls" in result.stdout
    assert "fd: unusable: the function's value changes between identical calls" in result.stdout
    assert "agree" not in [line.split()[1] for line in result.stdout.splitlines() if line.startswith("autograd ")]


def _fast_runs(jacobian: np.ndarray, fd_error: np.ndarray, reverse_jacobian: np.ndarray):
    """The reference, a forward backend and a reverse backend of one linear map, in fast mode's
    products, with FD's error bars ``fd_error`` on ``J V``."""
    from adcheck.model import BackendRun, Products

    vectors = probe_vectors(jacobian.shape[1], jacobian.shape[0])
    x = np.linspace(0.5, 1.5, jacobian.shape[1])
    value = jacobian @ x
    jv = jacobian @ vectors.directions
    reference = BackendRun("fd", Status.REFERENCE, value=value,
                           products=Products(jv=jv, jv_error=np.broadcast_to(fd_error, jv.shape).copy()))
    forward = BackendRun("jax-fwd", Status.COMPUTED, value=value, products=Products(jv=jv))
    reverse = BackendRun("jax-rev", Status.COMPUTED, value=value,
                         products=Products(ujt=vectors.cotangents.T @ reverse_jacobian))
    return [reference, forward, reverse]


def test_reverse_backends_dot_product_test_verifies_forward_products_fd_cannot_settle():
    from adcheck.verdict.products import compare_fast

    jacobian = np.diag(np.linspace(1.0, 2.0, 40))
    error = np.zeros((40, 1))
    error[7] = 1.0  # FD cannot settle output 7 along any direction
    verdicts = {v.name: v for v in compare_fast(_fast_runs(jacobian, error, jacobian), 40).comparison.verdicts}
    assert verdicts["jax-fwd"].status == Status.AGREE and verdicts["jax-fwd"].n_consensus > 0
    # A reverse backend whose dot-product test differs confirms nothing along the random directions:
    # those products stay open (along a sampled basis column its row still votes where it is right).
    wrong = jacobian.copy()
    wrong[7, 7] += 0.5
    verdicts = {v.name: v for v in compare_fast(_fast_runs(jacobian, error, wrong), 40).comparison.verdicts}
    assert verdicts["jax-fwd"].status == Status.INCONCLUSIVE
    assert verdicts["jax-fwd"].n_inconclusive >= N_RANDOM
