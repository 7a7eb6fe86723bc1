"""What the parent asks of a worker: one backend, one target, one set of arguments, one mode,
and one job (``Task.job``): what to compute with them.

Each job is a type of its own, and ``jobs.execute`` dispatches on it; each names its result
type (``Result``, a ``model.JobResult``), and what comes back from a worker for the job is always
of that type, a failure included (``Task.failed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .fast import LocaliseRow
from .inputs import Arguments
from .loader import Target
from .model import (
    BackendRun,
    BatchResult,
    BlameRun,
    Description,
    EachResult,
    JobResult,
    LocaliseResult,
    Location,
    Mode,
    NearbyResult,
    NoiseResult,
    Status,
    Timing,
    WitnessResult,
)


@dataclass(frozen=True)
class Compute:
    """The backend's Jacobian at the input (its contexts and second order as the task asks); for
    the reference, the runtime probes afterwards. Fills ``jacobian``/``products``, ``value``."""

    Result: ClassVar[type[JobResult]] = BackendRun


@dataclass(frozen=True)
class Describe:
    """Only load the target and describe it (a torch.nn.Module's parameters)."""

    Result: ClassVar[type[JobResult]] = Description


@dataclass(frozen=True)
class Estimate:
    """Only time one evaluation of the function, for ``--mode auto``'s cost estimate."""

    Result: ClassVar[type[JobResult]] = Timing


@dataclass(frozen=True)
class Nearby:
    """The function's values near the input (after a rebound backend disagreed)."""

    Result: ClassVar[type[JobResult]] = NearbyResult


@dataclass(frozen=True)
class Jitter:
    """The Jacobian's own rounding noise, measured (after a disagreement): ``jobs.with_own_noise``."""

    Result: ClassVar[type[JobResult]] = NoiseResult


@dataclass(frozen=True)
class WitnessColumns:
    """The reference only: the second witness for these columns, after FD alone accused entries
    there (``backends.fd.witness``)."""

    Result: ClassVar[type[JobResult]] = WitnessResult

    columns: tuple[int, ...]


@dataclass(frozen=True)
class WitnessDirections:
    """Fast mode's reference only: the second witness along these probe directions (indices
    into ``fast.probe_vectors``' directions), after FD alone accused products along them: a
    witness whose columns are the directions (``backends.fd.witness_along``)."""

    Result: ClassVar[type[JobResult]] = WitnessResult

    directions: tuple[int, ...]


@dataclass(frozen=True)
class Localise:
    """Fast mode's reference only: the wrong entries of each backend's failing gradient row, by
    bisection in FD (``fast.bisect_row``), judged with ``rtol``/``atol``."""

    Result: ClassVar[type[JobResult]] = LocaliseResult

    rows: dict[str, LocaliseRow]  # per backend
    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True)
class Batch:
    """``--search``: compute at each of these flat inputs instead (``search.screen``)."""

    Result: ClassVar[type[JobResult]] = BatchResult

    inputs: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class AtEach:
    """``--search``'s second look at the inputs its screen flagged: ``jobs[k]`` (the reference's
    ``Compute``, ``WitnessColumns`` or ``WitnessDirections``) at the flat input ``inputs[k]``, each
    as the ordinary task computes it, in one task (``search.second_look``): ``each``, in order."""

    Result: ClassVar[type[JobResult]] = EachResult

    inputs: tuple[np.ndarray, ...]
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Blame:
    """Check the backend's primitives one by one (after it disagreed), within a budget: at most
    ``primitives`` primitives and ``seconds`` seconds (0: no limit)."""

    Result: ClassVar[type[JobResult]] = BlameRun

    primitives: int = 0
    seconds: float = 0.0


Job = (Compute | Describe | Estimate | Nearby | Jitter | WitnessColumns | WitnessDirections | Localise | Batch | AtEach
       | Blame)


@dataclass(frozen=True)
class Task:
    backend: str
    target: Target
    arguments: Arguments
    framework: str  # what the code is written for (model.Framework)
    flavour: str = "numpy"  # the rebinding the worker imports the user's code with (loader.rebinding_table)
    rebound: str = ""  # the same in words, "" when the code runs as written
    job: Job = Compute()
    mode: Mode = Mode.FULL
    order: int = 1
    probes: bool = True  # the reference: run the runtime probes afterwards
    memory_limit: int | None = None  # bytes
    module_target: bool = False  # the target is a torch.nn.Module: argument 0 holds its parameters
    contexts: tuple[str, ...] = ()  # --contexts: also compute the derivative in these ("jit", "float32", ...)
    eager: bool = False  # --contexts: the user's own jax.jit/torch.compile run uncompiled (calling.user_compilation_off)
    device: str = "cpu"  # where JAX and torch compute: "cpu" or "gpu"

    def failed(self, status: Status, seconds: float, message: str = "", location: Location | None = None) -> JobResult:
        """The job's own result type with only the envelope filled: it failed (ERROR), or cannot
        apply here (NOT_APPLICABLE)."""
        return self.job.Result(self.backend, status, seconds, message, location)
