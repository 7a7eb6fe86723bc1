"""``err/tol`` is honest: NaN for a NaN entry, uncapped, and over the tolerance that convicted an
entry, so a disagreeing row does not read below 1 (``verdict.messages._errors``)."""

from __future__ import annotations

import numpy as np

from adcheck.model import BackendRun, Status
from adcheck.verdict.ledger import Ledger
from adcheck.verdict.messages import _errors


def ledger(jac, fd, bound, tolerance) -> Ledger:
    jac, fd = np.array([jac], dtype=float), np.array([fd], dtype=float)
    made = Ledger(BackendRun("jax-rev", Status.COMPUTED), None, {}, "", jac, np.abs(jac - fd),
                  np.array([bound], dtype=float), np.array([tolerance], dtype=float), np.ones(jac.shape, bool))
    return made


def test_a_nan_entry_makes_the_rows_ratio_nan_not_the_finite_entries_maximum():
    book = ledger([np.nan, 1.0 + 2.0**-30], [0.5, 1.0], [1e-6, 1e-6], [1e-6, 1e-6])
    book.nonfinite[0, 0] = True
    book.disagree[0, 0] = True
    book.settled[0, 1] = True
    assert np.isnan(_errors(book).max_rel)


def test_an_entry_convicted_inside_fds_wide_bar_reads_over_the_witness_tolerance():
    # FD's bar (0.5) is wider than the difference (0.1); the Taylor test put the error at 0.1
    # against a tolerance of 1e-6: the entry is 1e5 over it, not 0.2.
    book = ledger([1.1], [1.0], [0.5], [1e-6])
    book.disagree[0, 0] = True
    book.taylor_estimate[0, 0] = 0.1
    assert _errors(book).max_rel > 1e4


def test_a_huge_error_is_not_capped():
    book = ledger([3e9], [1.0], [1e-6], [1e-6])
    book.disagree[0, 0] = True
    book.settled[0, 0] = True
    assert _errors(book).max_rel > 1e15
