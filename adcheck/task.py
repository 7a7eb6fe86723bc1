"""What the parent asks of a worker: one backend, one target, one set of arguments, one mode,
and one job (``Task.job``): what to compute with them.

Each job is a type of its own, and ``jobs.execute`` dispatches on it; what comes back is a
``model.BackendRun`` with the fields that job fills (named on each job).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fast import LocaliseRow
from .inputs import Arguments
from .loader import Target
from .model import Mode


@dataclass(frozen=True)
class Compute:
    """The backend's Jacobian at the input (its contexts and second order as the task asks); for
    the reference, the runtime probes afterwards. Fills ``jacobian``/``products``, ``value``."""


@dataclass(frozen=True)
class Describe:
    """Only load the target and describe it (a torch.nn.Module's parameters): ``module``."""


@dataclass(frozen=True)
class Estimate:
    """Only time one evaluation of the function, for ``--mode auto``'s cost estimate: ``seconds``."""


@dataclass(frozen=True)
class Nearby:
    """The function's values near the input (after a rebound backend disagreed): ``nearby``."""


@dataclass(frozen=True)
class Jitter:
    """The Jacobian again, with its own rounding noise measured (after a disagreement):
    ``own_noise`` (``jobs.with_own_noise``)."""


@dataclass(frozen=True)
class WitnessColumns:
    """The reference only: the second witness for these columns, after FD alone accused entries
    there: ``witness`` (``backends.fd.witness``)."""

    columns: tuple[int, ...]


@dataclass(frozen=True)
class WitnessDirections:
    """Fast mode's reference only: the second witness along these probe directions (indices
    into ``fast.probe_vectors``' directions), after FD alone accused products along them:
    ``witness``, whose columns are the directions (``backends.fd.witness_along``)."""

    directions: tuple[int, ...]


@dataclass(frozen=True)
class Localise:
    """Fast mode's reference only: the wrong entries of each backend's failing gradient row, by
    bisection in FD (``fast.bisect_row``), judged with ``rtol``/``atol``: ``localised``."""

    rows: dict[str, LocaliseRow]  # per backend
    rtol: float | None = None
    atol: float | None = None


@dataclass(frozen=True)
class Batch:
    """``--search``: compute at each of these flat inputs instead (``search.screen``): ``batch``."""

    inputs: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class AtEach:
    """``--search``'s second look at the inputs its screen flagged: ``jobs[k]`` (the reference's
    ``Compute``, ``WitnessColumns`` or ``WitnessDirections``) at the flat input ``inputs[k]``, each
    as the ordinary task computes it, in one task (``search.second_look``): ``batch``, in order."""

    inputs: tuple[np.ndarray, ...]
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Blame:
    """Check the backend's primitives one by one (after it disagreed), within a budget: at most
    ``primitives`` primitives and ``seconds`` seconds (0: no limit). Fills ``blame``."""

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
