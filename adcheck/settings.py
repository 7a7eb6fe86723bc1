"""One settings object for every way of running adcheck, and the validation of every value.

The layers, each overriding the one before: adcheck's defaults < ``[tool.adcheck]`` < the case
(``[[tool.adcheck.case]]`` or ``@adcheck.case``) < the command line (or ``assert_jacobians_agree``'s
keywords). A layer leaves a setting at ``None`` to inherit it. Every value is checked here, once,
with the flag or key it came from named in the message.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace

from .choices import CONTEXTS, DeviceChoice, FailOn, ModeChoice
from .errors import AdcheckError
from .model import Mode


DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 7 * 24 * 3600.0  # a week: anything longer is a typo (and overflows some clocks)


@dataclass(frozen=True)
class Settings:
    """Every setting; ``None`` means "inherit from the layer below" until ``resolved``."""

    backends: tuple[str, ...] | None = None  # empty: every applicable backend
    timeout: float | None = None
    rtol: float | None = None  # None after resolving too: the per-dtype table's
    atol: float | None = None
    memory_limit: int | None = None  # bytes per worker; None after resolving: a share of the machine
    lint: bool | None = None
    mode: ModeChoice | None = None
    order: int | None = None
    fail_on: FailOn | None = None
    jobs: int | None = None  # cases at once (check); None after resolving: one per CPU
    blame: bool | None = None  # check a disagreeing backend's primitives one by one
    blame_primitives: int | None = None  # at most this many primitives per backend
    blame_seconds: float | None = None  # and at most this many seconds per backend
    contexts: tuple[str, ...] | None = None  # also compute derivatives under jit, in float32, on the GPU...
    device: str | None = None  # "cpu", "gpu" or "auto"
    search: int | None = None  # --search N: after the given input, check up to N more (0: no search)

    def overridden_by(self, other: Settings) -> Settings:
        """These settings with every value ``other`` sets taking precedence."""
        changes = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name) is not None}
        return replace(self, **changes)

    def resolved(self) -> Settings:
        """Defaults filled in where no layer set a value."""
        return DEFAULTS.overridden_by(self)

    @property
    def failure_policy(self) -> FailOn:
        return self.fail_on or FailOn.DISAGREE


DEFAULTS = Settings(backends=(), timeout=DEFAULT_TIMEOUT, lint=True, mode=ModeChoice.AUTO, order=1,
                    fail_on=FailOn.DISAGREE, blame=True, blame_primitives=2000, blame_seconds=60.0, contexts=(),
                    device="cpu", search=0)


# --- validation: one function per kind of value, naming where it came from -------------------------


def _fail(where: str, message: str) -> AdcheckError:
    return AdcheckError(f"{where}: {message}")


def positive_seconds(value, where: str) -> float:
    number = finite_number(value, where)
    if number <= 0:
        raise _fail(where, f"expected a positive number of seconds, got {value!r}")
    if number > MAX_TIMEOUT:
        raise _fail(where, f"{value!r} seconds is more than a week; expected a timeout in seconds")
    return number


def tolerance(value, where: str) -> float:
    number = finite_number(value, where)
    if number < 0:
        raise _fail(where, f"expected a non-negative number, got {value!r}")
    return number


def finite_number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(str(value))
        except ValueError:
            raise _fail(where, f"expected a number, got {value!r}") from None
    number = float(value)
    if not math.isfinite(number):
        raise _fail(where, f"expected a finite number, got {value!r}")
    return number


def count(value, where: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"expected a whole number, got {value!r}")
    if value < minimum:
        raise _fail(where, f"expected a whole number of at least {minimum}, got {value!r}")
    return value


def seed(value, where: str = "--seed") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(where, f"expected a non-negative whole number, got {value!r}")
    if value >= 2**128:
        raise _fail(where, f"{value} is too large for a seed (at most 2**128 - 1)")
    return value


MAX_MEMORY_SIZE = (1 << 63) - 1  # bytes: the largest resource limit Linux and macOS accept
_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def memory_size(value, where: str = "--memory-limit") -> int:
    """A size like 4G, 512M, 1.5g or a number of bytes; at least 64 MiB (less cannot even import numpy)."""
    if isinstance(value, bool):
        raise _fail(where, f"expected a size like 4G or 512M, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip().lower().removesuffix("b").removesuffix("i")
        try:
            number = float(text[:-1]) * _UNITS[text[-1]] if text and text[-1] in _UNITS else float(text)
        except ValueError:
            raise _fail(where, f"expected a size like 4G or 512M, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise _fail(where, f"expected a positive size like 4G or 512M, got {value!r}")
    if number < 64 << 20:
        raise _fail(where, f"{value!r} is too little memory for a worker (at least 64M)")
    if number > MAX_MEMORY_SIZE:  # setrlimit takes a 64-bit count: more cannot be a limit at all
        raise _fail(where, f"{value!r} is more memory than a limit can hold (at most 2**63 - 1 bytes)")
    return int(number)


def boolean(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


def choice(value, enum, where: str):
    try:
        return enum(value)
    except ValueError:
        raise _fail(where, f"expected one of {', '.join(e.value for e in enum)}, got {value!r}") from None


def order(value, where: str = "--order") -> int:
    if isinstance(value, bool) or value not in (1, 2):
        raise _fail(where, f"expected 1 or 2, got {value!r}")
    return int(value)


def context_names(value, where: str = "--contexts") -> tuple[str, ...]:
    """``eager,jit`` or a list: the execution contexts to compare."""
    names = tuple(part.strip() for part in value.split(",")) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise _fail(where, f"expected a list of contexts like eager,jit, got {value!r}")
    names = tuple("eager" if name == "float64" else name for name in names)  # float64 is the eager reference
    for name in names:
        if name not in CONTEXTS:
            raise _fail(where, f"unknown context {name!r}; known contexts: {', '.join(CONTEXTS)} (float64 = eager)")
    return tuple(dict.fromkeys(names))


def backend_names(value, where: str = "--backend") -> tuple[str, ...]:
    from .backends import REGISTRY

    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise _fail(where, f"expected a list of backend names, got {value!r}")
    for name in names:
        if name not in REGISTRY:
            raise _fail(where, f"unknown backend {name!r}; known backends: {', '.join(REGISTRY)}")
    return tuple(names)


def validated(where: dict[str, str] | None = None, **values) -> Settings:
    """A Settings layer from raw values, each checked; ``where`` names each value's flag or key."""
    where = where or {}

    def name(key):
        return where.get(key, f"--{key.replace('_', '-')}")

    checks = {
        "backends": backend_names,
        "timeout": positive_seconds,
        "rtol": tolerance,
        "atol": tolerance,
        "memory_limit": memory_size,
        "lint": boolean,
        "mode": lambda v, w: choice(v, ModeChoice, w),
        "order": order,
        "fail_on": lambda v, w: choice(v, FailOn, w),
        "jobs": count,
        "blame": boolean,
        "blame_primitives": lambda v, w: count(v, w, minimum=0),
        "blame_seconds": tolerance,  # a non-negative finite number
        "contexts": context_names,
        "device": lambda v, w: str(choice(v, DeviceChoice, w)),
        "search": lambda v, w: count(v, w, minimum=0),
    }
    unknown = set(values) - set(checks)
    if unknown:
        raise AdcheckError(f"unknown setting {sorted(unknown)[0]!r}")
    return Settings(**{key: None if value is None else checks[key](value, name(key)) for key, value in values.items()})


def default_memory_limit(n_workers: int) -> int:
    """Each worker's share of three quarters of the machine (the workers run side by side),
    but at least 1 GiB: importing jax or torch alone takes a few hundred MB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    return max(1 << 30, total * 3 // 4 // max(1, n_workers))


def choose_mode(choice_: ModeChoice, n_inputs: int, seconds_per_evaluation: float | None = None,
                order: int = 1) -> Mode:
    """The mode a run uses. Auto: full Jacobians unless finite differences of every column are
    expected to cost more than ``AUTO_FULL_SECONDS`` (``full_jacobian_seconds``, at ``order``) from
    one timed evaluation; without a timing, full up to ``AUTO_FAST_INPUTS`` inputs."""
    from .fast import AUTO_FAST_INPUTS

    if choice_ != ModeChoice.AUTO:
        return Mode(str(choice_))
    if seconds_per_evaluation is None:
        return Mode.FAST if n_inputs > AUTO_FAST_INPUTS else Mode.FULL
    full = full_jacobian_seconds(n_inputs, seconds_per_evaluation, order)
    return Mode.FAST if full > AUTO_FULL_SECONDS else Mode.FULL


# Auto mode's budget for the finite differences of a full Jacobian: above it, fast mode (products
# along a few random directions, then bisection to the wrong entries) answers in seconds.
AUTO_FULL_SECONDS = 8.0
# Evaluations per input column of a full FD Jacobian: a Richardson ladder of 8 steps per side
# with its error estimate, the working precision, the kink and impurity checks; 15 per column were
# counted on a 7-input tanh loss (104 calls), rounded up for the ladders that need a second start.
FD_EVALUATIONS_PER_COLUMN = 20
# And what a column costs besides the function: scipy.differentiate's bookkeeping and the AD
# backends' tangent or cotangent for it. Measured on a 2762-input MLP loss whose evaluation takes
# 26 us: its full run took 8.4 s of CPU in all, about 3 ms a column, on a 2-core machine.
FD_SECONDS_PER_COLUMN = 3e-3
# Below this many inputs a full Jacobian is taken without timing the function: even at 20 ms an
# evaluation, 64 columns cost under the budget's order, and the timing would cost a worker.
AUTO_ALWAYS_FULL_INPUTS = 64


# --order 2 in full mode differences each backend's first derivative over every input again, and
# an evaluation of a reverse-mode gradient costs at most this many evaluations of the function
# (the cheap gradient principle: Griewank and Walther, "Evaluating Derivatives", 2nd ed., 2008,
# section 4.6, OPS(gradient) <= 4 OPS(f)).
GRADIENT_EVALUATIONS = 4


def full_jacobian_seconds(n_inputs: int, seconds_per_evaluation: float, order: int = 1) -> float:
    """What full mode's finite differences cost: every column of the Jacobian, and at ``order``
    2 every column of the Hessian (FD of a first derivative) too."""
    first = n_inputs * (FD_EVALUATIONS_PER_COLUMN * seconds_per_evaluation + FD_SECONDS_PER_COLUMN)
    if order < 2:
        return first
    return first + n_inputs * (FD_EVALUATIONS_PER_COLUMN * GRADIENT_EVALUATIONS * seconds_per_evaluation
                               + FD_SECONDS_PER_COLUMN)
