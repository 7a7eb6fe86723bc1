"""Plain data passed between the stages: worker results, verdicts, findings, the run report.

Nothing here prints; the CLI and ``adcheck.report`` turn these into text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Status(StrEnum):
    REFERENCE = "reference"  # the finite-difference oracle
    COMPUTED = "computed"  # a worker finished; compare decides the final status
    AGREE = "agree"
    DISAGREE = "disagree"
    KINK = "kink"  # differs from central FD only where one-sided FDs disagree: a valid subgradient
    ERROR = "error"
    UNAVAILABLE = "unavailable"  # the backend's package is not installed
    NOT_APPLICABLE = "not-applicable"  # the backend cannot run code written like this


FAILING = frozenset({Status.DISAGREE, Status.ERROR})


@dataclass(frozen=True)
class Location:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class Finding:
    """One lint or probe diagnostic: ``path:line:col: CODE message``."""

    code: str
    severity: str  # "error" | "warning" | "info"
    path: str
    line: int
    col: int  # from 1
    message: str
    explains: tuple[str, ...] = ()  # names of the backends whose disagreement this may explain
    executed: bool | None = None  # did the line run for this input (None: unknown)

    def format(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"


@dataclass(frozen=True)
class BackendRun:
    """What one backend's worker sent back."""

    name: str
    status: Status  # COMPUTED, REFERENCE, ERROR, UNAVAILABLE or NOT_APPLICABLE
    seconds: float = 0.0
    message: str = ""
    location: Location | None = None
    value: np.ndarray | None = None  # flattened primal output
    jacobian: np.ndarray | None = None  # (n_outputs, n_inputs), C order of both
    error: np.ndarray | None = None  # FD error estimate, same shape (fd only)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EntryMismatch:
    """A Jacobian entry where a backend is outside tolerance of the reference."""

    row: int
    col: int
    value: float
    reference: float
    reference_error: float
    abs_error: float
    rel_error: float


@dataclass(frozen=True)
class BackendVerdict:
    name: str
    status: Status
    seconds: float
    message: str = ""
    location: Location | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    worst_entry: tuple[int, int] | None = None
    mismatches: tuple[EntryMismatch, ...] = ()  # worst first, at most a screenful
    n_mismatches: int = 0
    n_kinks: int = 0  # entries accepted as subgradients at a kink
    kinks: tuple[tuple[int, int], ...] = ()  # the first few of them
    mismatch_mask: np.ndarray | None = None  # bool (n_outputs, n_inputs)
    primal_mismatch: str = ""  # non-empty when the backend's function value differs


@dataclass(frozen=True)
class Comparison:
    verdicts: tuple[BackendVerdict, ...]
    odd_one_out: tuple[str, ...] = ()
    consensus: str = ""  # one sentence on who agrees with whom

    @property
    def checked(self) -> tuple[str, ...]:
        """The AD backends whose Jacobian was compared with the reference."""
        return tuple(v.name for v in self.verdicts if v.status in (Status.AGREE, Status.KINK, Status.DISAGREE))

    @property
    def failed(self) -> bool:
        """A disagreement or an error, or nothing could be checked at all."""
        return any(v.status in FAILING for v in self.verdicts) or not self.checked

    def verdict(self, name: str) -> BackendVerdict:
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(name)


@dataclass(frozen=True)
class ArgumentInfo:
    index: int
    shape: tuple[int, ...]
    dtype: str
    differentiated: bool
    promoted_from: str | None = None  # e.g. "int64" when an integer input became float64


@dataclass(frozen=True)
class RunReport:
    target: str
    arguments: tuple[ArgumentInfo, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    framework: str
    runs: tuple[BackendRun, ...]
    comparison: Comparison
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()
    source: Location | None = None  # where the function is defined
    second_order: Comparison | None = None  # --order 2
    timing_notes: tuple[str, ...] = ()  # notes that depend on timings (left out with --no-timings)

    @property
    def failed(self) -> bool:
        second = self.second_order is not None and any(v.status in FAILING for v in self.second_order.verdicts)
        return self.comparison.failed or second

    def run(self, name: str) -> BackendRun | None:
        return next((r for r in self.runs if r.name == name), None)
