"""The working state of one backend's judgement: a boolean mask per finding over the Jacobian's
entries, which the deciders of ``chain`` fill in order and ``messages`` reads. It never leaves
the verdict package: what crosses out of it is a ``model.BackendVerdict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import BackendRun
from .reference import ResolvedReference


def _false(shape) -> np.ndarray:
    return np.zeros(shape, dtype=bool)


@dataclass
class Ledger:
    """What the deciders have found so far about one backend's entries (a working state of the
    chain, never passed beyond it)."""

    run: BackendRun
    reference: ResolvedReference
    others: dict[str, np.ndarray]
    impure: str
    jac: np.ndarray
    diff: np.ndarray  # |J - J_fd|
    bound: np.ndarray  # the largest |J - J_fd| that agrees
    tolerance: np.ndarray  # atol + rtol |J|: what a witness must resolve
    usable: np.ndarray  # the reference is usable there (the function is pure)
    agree: np.ndarray = None
    disagree: np.ndarray = None
    settled: np.ndarray = None  # FD's bar is narrow enough to decide
    outside: np.ndarray = None  # outside FD's bar, however wide
    nonfinite: np.ndarray = None  # NaN/inf where FD is finite
    kinks: np.ndarray = None  # a valid subgradient at a kink
    explained: np.ndarray = None  # rounding noise (the value's or the backend's own) covers the difference
    self_explained: np.ndarray = None  # ... the backend's own
    own_reach: np.ndarray = None
    accused: np.ndarray = None  # FD alone found it wrong
    overruled: np.ndarray = None  # ... and a second witness sided with the backend
    unwitnessed: np.ndarray = None  # accused, and no second witness spoke
    contradicted: np.ndarray = None  # the Taylor test convicts, the complex step acquits
    consensus: np.ndarray = None  # verified only by the other AD backends / the complex step
    contested: np.ndarray = None  # the other AD backends give other values
    evidence: np.ndarray = None  # object: which witness decided an entry FD could not
    voters: np.ndarray = None  # object: who verified a consensus entry
    taylor_estimate: np.ndarray = None  # the Taylor test's |J - J_true| (NaN where it has none)
    walk_sides: np.ndarray | None = None  # object: what the walk said on each side
    complex_step: np.ndarray | None = None  # the complex step the second witness took (NaN where none)

    def __post_init__(self):
        shape = self.jac.shape
        for name in ("agree", "disagree", "settled", "outside", "nonfinite", "kinks", "explained",
                     "self_explained", "accused", "overruled", "unwitnessed", "contradicted", "consensus",
                     "contested"):
            setattr(self, name, _false(shape))
        self.own_reach = np.zeros(shape)
        self.evidence = np.full(shape, "", dtype=object)
        self.voters = np.full(shape, "", dtype=object)
        self.taylor_estimate = np.full(shape, np.nan)

    @property
    def undecided(self) -> np.ndarray:
        return ~(self.agree | self.disagree)
