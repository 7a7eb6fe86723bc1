"""``--mode auto`` chooses from one timed evaluation, not from the input count alone, and says so."""

from __future__ import annotations

from adcheck.model import Mode
from adcheck.settings import AUTO_FULL_SECONDS, ModeChoice, choose_mode, full_jacobian_seconds
from conftest import FIXTURES, invoke


def test_a_quick_function_of_thousands_of_inputs_is_still_full_below_the_budget():
    assert full_jacobian_seconds(1000, 1e-5) < AUTO_FULL_SECONDS
    assert choose_mode(ModeChoice.AUTO, 1000, 1e-5) == Mode.FULL


def test_a_2762_input_mlp_goes_fast():
    assert choose_mode(ModeChoice.AUTO, 2762, 26e-6) == Mode.FAST  # 26 us an evaluation, as measured


def test_a_slow_function_of_a_few_hundred_inputs_goes_fast():
    assert choose_mode(ModeChoice.AUTO, 300, 0.01) == Mode.FAST


def test_an_explicit_mode_is_kept_and_no_timing_keeps_the_input_count_rule():
    assert choose_mode(ModeChoice.FULL, 10**6, 1.0) == Mode.FULL
    assert choose_mode(ModeChoice.AUTO, 5000) == Mode.FAST and choose_mode(ModeChoice.AUTO, 3000) == Mode.FULL


def test_the_run_says_why_auto_chose_fast():
    result = invoke("run", f"{FIXTURES / 'inputs_from.py'}:slow_sum", "--random", "200", "--backend", "autograd",
                    "--no-lint", "--no-timings")
    assert result.exit_code == 0, result.stderr
    assert "--mode auto chose fast mode: one evaluation takes" in result.stdout
    assert "full Jacobians of 200 inputs would take about" in result.stdout


def test_thousands_of_inputs_go_fast_without_timing_the_function(monkeypatch):
    """Above the input count whose columns' bookkeeping alone is over budget, no worker times the
    function: no evaluation can be quick enough to bring full Jacobians under it."""
    from adcheck import run
    from adcheck.task import Estimate

    n_inputs = 2762
    assert full_jacobian_seconds(n_inputs, 0.0) > AUTO_FULL_SECONDS
    timed = []
    real = run.run_tasks
    monkeypatch.setattr(run, "run_tasks", lambda tasks, *a, **k: timed.extend(
        t for t in tasks if isinstance(t.job, Estimate)) or real(tasks, *a, **k))
    result = invoke("run", f"{FIXTURES / 'inputs_from.py'}:square_sum", "--random", str(n_inputs), "--backend",
                    "autograd", "--no-lint", "--no-timings")
    assert result.exit_code == 0, result.stderr
    assert not timed
    assert f"--mode auto chose fast mode: full Jacobians of {n_inputs} inputs would take over" in result.stdout


def test_order_2_counts_the_hessian_columns_in_auto_modes_budget():
    # 1000 inputs at 0.1 ms: 5 s of FD for the Jacobian, under the budget; with the Hessian's
    # columns (each an evaluation of a first derivative) over it.
    assert choose_mode(ModeChoice.AUTO, 1000, 1e-4) == Mode.FULL
    assert choose_mode(ModeChoice.AUTO, 1000, 1e-4, order=2) == Mode.FAST
    assert full_jacobian_seconds(1000, 1e-4, order=2) > 2 * full_jacobian_seconds(1000, 1e-4)
