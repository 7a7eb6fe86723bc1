"""What the parent asks of a worker: one backend, one target, one set of arguments, one mode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .inputs import Arguments
from .loader import Target
from .model import Mode


@dataclass(frozen=True)
class LocaliseJob:
    """Fast mode: find the wrong entries of one backend's gradient row ``u^T J`` by bisection."""

    row_index: int  # which cotangent of the shared probe vectors
    row: np.ndarray  # the backend's u^T J
    cotangent: np.ndarray  # u
    direction: np.ndarray  # a direction along which the dot-product test failed


@dataclass(frozen=True)
class Task:
    backend: str
    target: Target
    arguments: Arguments
    framework: str  # what the code is written for (model.Framework)
    flavour: str = "numpy"  # the rebinding the worker imports the user's code with (loader.rebinding_table)
    rebound: str = ""  # the same in words, "" when the code runs as written
    mode: Mode = Mode.FULL
    order: int = 1
    probes: bool = True  # the reference: run the runtime probes afterwards
    memory_limit: int | None = None  # bytes
    localise: dict[str, LocaliseJob] = field(default_factory=dict)  # the reference, fast mode: per backend
    rtol: float | None = None  # the tolerances bisection judges directional derivatives with
    atol: float | None = None
    module_target: bool = False  # the target is a torch.nn.Module: argument 0 holds its parameters
    blame: bool = False  # check the backend's primitives one by one (after it disagreed)
    blame_primitives: int = 0  # the budget: at most this many primitives (0: no limit)
    blame_seconds: float = 0.0  # and at most this long (0: no limit)
    contexts: tuple[str, ...] = ()  # --contexts: also compute the derivative in these ("jit", "float32", ...)
    eager: bool = False  # --contexts: the user's own jax.jit/torch.compile run uncompiled (calling.user_compilation_off)
    device: str = "cpu"  # where JAX and torch compute: "cpu" or "gpu"
    describe: bool = False  # only load the target and describe it (its module parameters, if any)
    estimate: bool = False  # only time one evaluation of the function: --mode auto's cost estimate
    nearby: bool = False  # only evaluate the function near the input: after a rebound backend disagreed
    witness: tuple[int, ...] = ()  # the reference only: the second witness for these columns (after FD alone accused)
    jitter: bool = False  # also measure the Jacobian's own rounding noise (after a disagreement): workers.with_own_noise
    batch: tuple[np.ndarray, ...] = ()  # --search: compute at each of these flat inputs instead (search.screen)
