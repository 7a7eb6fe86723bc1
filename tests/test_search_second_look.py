"""--search's cost: an input that only the screen's quick FD estimate flags is settled by the
second witness in the warm reference worker, without a whole ordinary run; a wrong rule the screen
flags still goes to one, and is found and shrunk; the screen evaluates JAX code through vmap."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from conftest import FIXTURES, REPO

GIVEN = "[0.3, 1.2, -0.7]"


@pytest.fixture
def no_database(monkeypatch):
    monkeypatch.setenv("ADCHECK_SEARCH_DATABASE", "")


@pytest.fixture
def pool():
    from adcheck.workers import WorkerPool

    pool = WorkerPool()
    yield pool
    pool.close()


def _searcher(target: str, given: str, pool):
    from adcheck.prepare import CommandLineInputs, prepare
    from adcheck.search import Searcher
    from adcheck.settings import Settings

    return Searcher(prepare(target, CommandLineInputs((given,))), Settings().resolved(), pool, 0)


def _mlp_parameters() -> str:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from search_workloads import parameters_json
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return parameters_json()


# The 50-parameter MLP loss of benchmarks/search_cost.py with its output weights w2 (entries 32 to
# 47) as a search drew them: one weight at 1.2e8. The function is correct; the screen's two-step
# FD estimate lands outside its own error bar there (fast mode's products), so the screen flags it.
MLP_W2 = [123456780.0, 3.0, -3.5, -0.0, 3.0, -4.0, 2.5, 5.0, 3.0, 3.0, 1.0, 0.4, -0.0, 3.0, -0.0, 1.0]


def test_an_input_only_the_quick_fd_flags_is_settled_without_an_ordinary_run(no_database, pool):
    searcher = _searcher(f"{REPO / 'benchmarks' / 'search_workloads.py'}:mlp_loss", _mlp_parameters(), pool)
    flat = searcher.given.copy()
    flat[32:48] = MLP_W2
    (outcome,) = searcher.check([(frozenset(), flat)])
    assert outcome.screen_failed, "the screen no longer flags this input: the test needs another one"
    assert outcome.settled_by == "second look"
    assert outcome.verdict in ("pass", "unverifiable")
    assert searcher.second_looks == 1 and searcher.confirmations == 0


def test_a_wrong_rule_the_screen_flags_is_still_confirmed_by_an_ordinary_run(no_database, pool):
    """The second witness convicts the custom JVP at negative inputs: the input goes on to a whole
    ordinary run, which confirms it."""
    searcher = _searcher(f"{FIXTURES / 'search' / 'negative_rule.py'}:signed_square_sum", GIVEN, pool)
    (outcome,) = searcher.check([(frozenset(), np.array([-0.5, 1.0, -2.0]))])
    assert outcome.verdict == "fail" and outcome.settled_by == "run"
    assert outcome.report is not None and outcome.report.failed
    assert searcher.second_looks == 1 and searcher.confirmations == 1
    assert searcher.first_failure == 1


def test_a_nan_derivative_needs_no_witness_to_go_on_to_an_ordinary_run(no_database, pool):
    """jax-rev's NaN at exactly 0 where FD is finite is a disagreement no witness can clear: the
    second look asks none, and the ordinary run confirms it."""
    searcher = _searcher(f"{FIXTURES / 'search' / 'sqrt_at_zero.py'}:sqrt_or_zero", GIVEN, pool)
    (outcome,) = searcher.check([(frozenset(), np.array([0.0, 1.0, 2.0]))])
    assert outcome.verdict == "fail" and outcome.settled_by == "run"
    assert searcher.second_looks == 0 and searcher.confirmations == 1


def test_second_look_without_witnesses_runs_no_task():
    from adcheck.model import Mode
    from adcheck.search.second_look import SUSPECT, second_look

    # No witness to ask: no worker is needed (a pool of None would fail if one were asked).
    assert second_look(None, [(np.zeros(3), [], None)] * 2, Mode.FULL, None, None, None) == [SUSPECT] * 2


@pytest.mark.search_acceptance
def test_a_planted_wrong_rule_is_still_found_and_shrunk(no_database, pool):
    from adcheck.search import search
    from adcheck.prepare import CommandLineInputs, prepare
    from adcheck.settings import Settings

    prepared = prepare(f"{FIXTURES / 'search' / 'negative_rule.py'}:signed_square_sum", CommandLineInputs((GIVEN,)))
    found = search(prepared, Settings().resolved(), pool, count=100, seed=0)
    assert found.failure is not None and found.failure.report.failed
    assert np.any(found.failure.flat < 0) and found.confirmed >= 1


def test_the_screen_evaluates_jax_code_without_a_batch_axis_through_vmap(monkeypatch):
    """The MLP's ``INPUTS @ params["w1"]`` takes no trailing batch axis; the screen's reference
    then evaluates each input's points in one ``jax.vmap`` call, and gets the same estimates
    as one call per point."""
    import dataclasses

    from adcheck.jobs import execute
    from adcheck.search import screen
    from adcheck.task import Batch

    searcher = _searcher(f"{REPO / 'benchmarks' / 'search_workloads.py'}:mlp_loss", _mlp_parameters(), None)
    task = next(t for t in searcher.work.tasks if t.backend == "fd")
    flagged = searcher.given.copy()
    flagged[32:48] = MLP_W2
    task = dataclasses.replace(task, job=Batch((searcher.given, flagged)), probes=False)
    used = []
    vmapped = screen._jax_batching
    monkeypatch.setattr(screen, "_jax_batching", lambda *a: used.append(vmapped(*a)) or used[-1])
    batched = execute(task).batch
    assert used == [True]
    monkeypatch.setattr(screen, "_jax_batching", lambda *a: False)
    one_by_one = execute(task).batch
    # The same estimates, well within their error bars: all of a batch's points go through one
    # product, summed in another order than one input's, an ulp of the value apart, and the
    # bar's rounding part allows 16 (screen.QUICK_ROUNDING_ULPS).
    for together, alone in zip(batched, one_by_one):
        assert np.all(np.abs(together.products.jv - alone.products.jv) <= 0.25 * alone.products.jv_error)
        np.testing.assert_allclose(together.products.jv_error, alone.products.jv_error, rtol=0.25)
