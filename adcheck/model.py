"""Plain data passed between the stages: tasks, worker results, verdicts, findings, the run report.

Nothing here prints; the CLI and ``adcheck.report`` turn these into text. What a worker sends
back is its job's own result type (``task.Job``'s ``Result``), a ``JobResult``: the compute job's
is ``BackendRun``, whose every field a backend must fill or leave at its documented default. There
is no grab-bag dict for a backend to forget a mode in.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Framework(StrEnum):
    """What code is written for (decided from what the target function reaches)."""

    NUMPY = "numpy"
    AUTOGRAD = "autograd"
    JAX = "jax"
    TORCH = "torch"
    ARRAY_API = "array-api"


class Mode(StrEnum):
    """How Jacobians are checked: whole (``full``) or through products along directions (``fast``)."""

    FULL = "full"
    FAST = "fast"


class Status(StrEnum):
    REFERENCE = "reference"  # the finite-difference oracle
    COMPUTED = "computed"  # a worker finished; compare decides the final status
    AGREE = "agree"
    DISAGREE = "disagree"
    INCONCLUSIVE = "inconclusive"  # some entries could be verified neither by a reference nor by AD consensus
    KINK = "kink"  # differs from central FD only where one-sided FDs disagree: a valid subgradient
    UNUSABLE = "unusable"  # the reference itself: the function's value changes between identical calls
    ERROR = "error"
    UNAVAILABLE = "unavailable"  # the backend's package is not installed
    NOT_APPLICABLE = "not-applicable"  # the backend cannot run this code (or this mode)


FAILING = frozenset({Status.DISAGREE, Status.ERROR, Status.UNUSABLE})
CHECKED = frozenset({Status.AGREE, Status.KINK, Status.DISAGREE, Status.INCONCLUSIVE})


def display_path(path: str) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if relative.startswith("..") else relative


# The library whose derivative rules each AD backend runs: jax-fwd and jax-rev (or torch's two
# modes) share one library's rules and are no independent witnesses of each other; blame replays a
# backend's program with that library's module (``explain.blame.<library>``).
RULES_OF_BACKEND = {"autograd": "autograd", "jax-fwd": "jax", "jax-rev": "jax", "torch-fwd": "torch",
                    "torch-rev": "torch"}


def rules_of(backend: str) -> str | None:
    """``RULES_OF_BACKEND[backend]``, None for the reference or an unknown name."""
    return RULES_OF_BACKEND.get(backend)


@dataclass(frozen=True)
class Location:
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"

    def displayed(self) -> str:
        """``path:line`` with the path as the user would type it (``display_path``)."""
        return f"{display_path(self.path)}:{self.line}"


@dataclass(frozen=True)
class Finding:
    """One lint, probe or blame diagnostic: ``path:line:col: CODE message``."""

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


# --- what workers send back ----------------------------------------------------------------------


@dataclass(frozen=True)
class OneSided:
    """One-sided FD derivatives for some input columns, to tell kinks from wrong derivatives."""

    columns: np.ndarray  # input indices
    plus: np.ndarray  # (n_outputs, len(columns)), steps >= 0
    plus_error: np.ndarray
    minus: np.ndarray  # steps <= 0
    minus_error: np.ndarray


@dataclass(frozen=True)
class ComplexStep:
    """Complex-step derivatives ``Im f(x + i h e_j) / h`` for some columns: no subtractive
    cancellation, so exact to rounding wherever the function is real-analytic."""

    columns: np.ndarray
    jacobian: np.ndarray  # (n_outputs, len(columns))
    error: np.ndarray  # same shape: a rounding-sized bound


@dataclass(frozen=True)
class TaylorLadder:
    """``f(x + h_k e_j)`` over a ladder of steps, for the Taylor remainder test of any Jacobian.

    With the right ``J`` the remainder ``|f(x + h e_j) - f(x) - h J e_j|`` falls like ``h**2``;
    with a wrong one like ``h``. The values are shared by every backend: the parent computes
    each backend's remainders from them.
    """

    columns: np.ndarray
    steps: np.ndarray  # (len(columns), K), largest first
    values: np.ndarray  # (n_outputs, len(columns), K)
    noise: np.ndarray  # (n_outputs,): the rounding level of one evaluation of each output
    # Walks along a direction (fast mode): (len(columns), K), the length of each step's rounding off
    # the direction, |fl(x + h w) - x - h w| (None along a basis vector, where steps are exact).
    offsets: np.ndarray | None = None


@dataclass(frozen=True)
class Witness:
    """The second witness for entries finite differences alone find wrong (``fd.witness``): the
    Taylor remainder walked from the input's scale down to a few ulps of it on each side, and the
    complex step where the function is real-analytic, for the columns FD accused."""

    plus: TaylorLadder  # steps x + h e_j
    minus: TaylorLadder  # steps x - h e_j (its ``steps`` are the lengths h, positive)
    complex_step: ComplexStep | None = None
    complex_step_note: str = ""  # why there is none

    @classmethod
    def absent(cls, why: str) -> "Witness":
        """No second witness could be taken (its worker failed): the accused entries stay unproven."""
        empty = TaylorLadder(np.zeros(0, dtype=int), np.zeros((0, 0)), np.zeros((0, 0, 0)), np.zeros(0))
        return cls(empty, empty, None, why)


@dataclass(frozen=True)
class Precision:
    """The precision a function computes in, measured, per output."""

    name: str  # "float64", "float32", "float16" (the coarsest over the outputs)
    eps: np.ndarray  # (n_outputs,) machine epsilon of each output's working precision
    measured: bool = True  # False: taken from the input dtype (the measurement could not tell)
    noise: np.ndarray | None = None  # (n_outputs,) measured rounding noise of one evaluation, absolute


@dataclass(frozen=True)
class Reference:
    """Everything the reference worker measured besides the central-difference Jacobian."""

    precision: Precision
    one_sided: OneSided | None = None
    complex_step: ComplexStep | None = None
    taylor: TaylorLadder | None = None
    complex_step_note: str = ""  # why no complex step was taken, when one was wanted
    impure: str = ""  # non-empty: the function's value at x changed after the FD's calls (how)


@dataclass(frozen=True)
class Products:
    """Fast mode: ``J V`` (forward mode and the FD reference) or ``U^T J`` (reverse mode)."""

    jv: np.ndarray | None = None  # (n_outputs, n_directions)
    jv_error: np.ndarray | None = None  # FD only
    ujt: np.ndarray | None = None  # (n_cotangents, n_inputs)


@dataclass(frozen=True)
class SecondOrder:
    """``--order 2``: a backend's second derivative next to FD of its own first derivative.

    ``status`` is COMPUTED when the numbers are there, else ERROR or NOT_APPLICABLE with a message.
    """

    status: str
    message: str = ""
    value: np.ndarray | None = None  # the first derivative (gradient or J v), flattened
    jacobian: np.ndarray | None = None  # its AD derivative
    fd: np.ndarray | None = None
    fd_error: np.ndarray | None = None
    walk: Witness | None = None  # fast mode: the Taylor walk of the first derivative along accused directions


@dataclass(frozen=True)
class LocalisedEntry:
    """One entry of a backend's gradient row found wrong by bisection in fast mode."""

    index: int
    value: float
    reference: float
    reference_error: float


@dataclass(frozen=True)
class BlameResult:
    """Per-primitive checking of a disagreeing backend (``adcheck.explain.blame``)."""

    findings: tuple[Finding, ...] = ()  # ADC502 (a library rule) / ADC501 (the user's rule), ADC604 with the primitive
    checked: int = 0  # primitives (or rule applications) checked
    total: int = 0  # primitives in the computation
    stopped: str = ""  # non-empty: why it stopped before the end (the budget), and how far it got


@dataclass(frozen=True)
class ContextResult:
    """One backend's derivative in another execution context (``--contexts``)."""

    context: str  # "jit", "float32", "gpu", "compile", ...
    jacobian: np.ndarray | None = None  # full mode
    products: Products | None = None  # fast mode
    status: str = "computed"  # "computed", "error" or "not-applicable"
    message: str = ""
    eps: float = 2.0**-52  # the precision the context computes in (its tolerance follows from it)


@dataclass(frozen=True)
class ProbeResult:
    findings: tuple[Finding, ...] = ()
    executed_lines: dict[str, tuple[int, ...]] | None = None  # {path: line numbers that ran}


@dataclass(frozen=True)
class SecondLook:
    """What the parent measured around a compute run after a first comparison (``run._second_look``,
    fast mode's walk), from the results of the jobs it asked for then, kept beside the run they
    are about for the second comparison to read. No worker fills it."""

    own_noise: np.ndarray | None = None  # from a NoiseResult: see task.Jitter
    nearby: np.ndarray | None = None  # from a NearbyResult: see task.Nearby
    witness: Witness | None = None  # the reference's, from a WitnessResult: see task.WitnessColumns

    @property
    def taken(self) -> bool:
        """Something was measured: the comparison is made again with it."""
        return self.own_noise is not None or self.nearby is not None or self.witness is not None


@dataclass(frozen=True)
class JobResult:
    """What every job's worker sends back, whatever the job: whose it is, how it ended, how long
    it took. A job that failed (ERROR: the function raised, the worker died or timed out), that
    cannot apply (NOT_APPLICABLE) or whose backend is missing (UNAVAILABLE) sends its own result
    type (``task.Task.failed``) with only these filled, and each reader treats it so."""

    name: str
    status: Status  # COMPUTED, REFERENCE, ERROR, UNAVAILABLE or NOT_APPLICABLE
    seconds: float = 0.0
    message: str = ""
    location: Location | None = None

    def as_row(self) -> BackendRun:
        """The result as a backend's row in a report: itself for a compute job's run, else its
        envelope (a failure of a job that stood for the row, such as a search's batch)."""
        if isinstance(self, BackendRun):
            return self
        return BackendRun(self.name, self.status, self.seconds, self.message, self.location)


@dataclass(frozen=True)
class BackendRun(JobResult):
    """What one backend's worker sent back for a compute job (``task.Compute``): a row of the report."""

    value: np.ndarray | None = None  # flattened primal output
    jacobian: np.ndarray | None = None  # (n_outputs, n_inputs), C order of both (full mode)
    error: np.ndarray | None = None  # FD error estimate, same shape (the reference only)
    rebound: str = ""  # how the code ran: "" natively, else e.g. "numpy rebound to jax.numpy"
    method: str = ""  # how the Jacobian was computed, when a backend has several ways
    products: Products | None = None  # fast mode
    second_order: SecondOrder | None = None  # --order 2
    reference: Reference | None = None  # the reference only
    probes: ProbeResult | None = None  # the reference only, unless --no-lint
    outputs: tuple = ()  # the reference: OutputLeaf per output array (the rows' names)
    contexts: tuple[ContextResult, ...] = ()  # --contexts: the same derivative elsewhere
    second_look: SecondLook = field(default_factory=SecondLook)  # the parent's, after a disagreement: no worker's


@dataclass(frozen=True)
class Description(JobResult):
    """What a describe job (``task.Describe``) found the target to be."""

    module: tuple | None = None  # a torch.nn.Module: (its parameters, forward's parameter names); else None


@dataclass(frozen=True)
class Timing(JobResult):
    """What an estimate job (``task.Estimate``) measured: one plain evaluation's time."""

    evaluation: float = 0.0  # seconds, the quickest of a few calls after the first (jobs.time_one_evaluation)


@dataclass(frozen=True)
class BatchResult(JobResult):
    """What a ``--search`` screen job (``task.Batch``) computed: the backend's run at each input."""

    batch: tuple[BackendRun, ...] = ()  # in the order of task.Batch's inputs (empty: the whole task failed)


@dataclass(frozen=True)
class EachResult(JobResult):
    """What a ``--search`` second look (``task.AtEach``) computed: each of its jobs' results, at
    its own input."""

    each: tuple[JobResult, ...] = ()  # in the order of task.AtEach's jobs (empty: the whole task failed)


@dataclass(frozen=True)
class BlameRun(JobResult):
    """What a blame job (``task.Blame``) found, checking a disagreeing backend's primitives."""

    blame: BlameResult | None = None  # the primitives it found wrong (None: the job failed, its message says how)


@dataclass(frozen=True)
class LocaliseResult(JobResult):
    """What a localise job (``task.Localise``) found by bisection in FD (fast mode's reference)."""

    localised: dict[str, tuple[LocalisedEntry, ...]] = field(default_factory=dict)  # per backend, its wrong entries


@dataclass(frozen=True)
class WitnessResult(JobResult):
    """What a witness job (``task.WitnessColumns``, ``task.WitnessDirections``) took: the second
    witness for the entries (or products) finite differences alone found wrong."""

    witness: Witness | None = None  # None: the job failed, its message says how


@dataclass(frozen=True)
class NearbyResult(JobResult):
    """What a nearby job (``task.Nearby``) computed: the function's values near the input, as the
    backend runs it."""

    nearby: np.ndarray | None = None  # values at calling.nearby_points(x0), (points, outputs)


@dataclass(frozen=True)
class NoiseResult(JobResult):
    """What a jitter job (``task.Jitter``) measured: the backend's own rounding noise."""

    own_noise: np.ndarray | None = None  # per entry, the Jacobian's move under ulp nudges of x (None: unmeasured)


# --- verdicts ------------------------------------------------------------------------------------


class Evidence(StrEnum):
    """What settled an entry that finite differences could not."""

    COMPLEX_STEP = "complex step"
    TAYLOR = "Taylor remainder"
    AD_CONSENSUS = "AD consensus"
    OTHER_FRAMEWORK = "another framework's AD"
    NONE = "nothing"


@dataclass(frozen=True)
class EntryMismatch:
    """A Jacobian entry where a backend is outside tolerance of the reference (or unverified)."""

    row: int
    col: int
    value: float
    reference: float
    reference_error: float
    abs_error: float
    rel_error: float  # |error| / the tolerance that applied: above 1 is outside it
    evidence: str = ""  # for an inconclusive entry: what was tried, and what it said


@dataclass(frozen=True)
class BackendVerdict:
    name: str
    status: Status
    seconds: float
    message: str = ""
    location: Location | None = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None  # the worst |error| / tolerance over the judged entries
    worst_entry: tuple[int, int] | None = None
    mismatches: tuple[EntryMismatch, ...] = ()  # worst first, at most a screenful
    n_mismatches: int = 0
    n_inconclusive: int = 0  # entries neither the reference nor AD consensus could verify
    inconclusive: tuple[EntryMismatch, ...] = ()  # the first few of them, with the evidence
    n_consensus: int = 0  # entries verified only by agreement with the other AD backends
    n_nonfinite: int = 0  # NaN/inf entries where the reference is finite
    n_kinks: int = 0  # entries accepted as subgradients at a kink
    kinks: tuple[tuple[int, int], ...] = ()  # the first few of them
    mismatch_mask: np.ndarray | None = None  # bool (n_outputs, n_inputs)
    primal_mismatch: str = ""  # non-empty when the backend's function value differs
    n_entries: int = 0  # entries judged (0: the backend's Jacobian was not compared)
    n_overruled: int = 0  # entries where FD disagreed and the second witness sided with the backend
    unwitnessed: np.ndarray | None = None  # bool: disagreements FD alone found, before a second witness was asked


@dataclass(frozen=True)
class Comparison:
    verdicts: tuple[BackendVerdict, ...]
    odd_one_out: tuple[str, ...] = ()
    consensus: str = ""  # one sentence on who agrees with whom

    @property
    def checked(self) -> tuple[str, ...]:
        """The AD backends whose Jacobian was compared with the reference."""
        return tuple(v.name for v in self.verdicts if v.status in CHECKED)

    @property
    def failed(self) -> bool:
        """A disagreement or an error (nothing checked at all is ``RunReport.nothing_checked``)."""
        return any(v.status in FAILING for v in self.verdicts)

    def verdict(self, name: str) -> BackendVerdict:
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(name)


@dataclass(frozen=True)
class ArgumentInfo:
    """One leaf (array) of a positional argument."""

    index: int  # the positional argument
    shape: tuple[int, ...]
    dtype: str
    differentiated: bool
    promoted_from: str | None = None  # e.g. "int64" when an integer input became float64
    name: str = ""  # "x", 'params["w"]'


@dataclass(frozen=True)
class OutputLeaf:
    """One array of the function's output (a pytree): its path and shape."""

    path: str  # "", "[0]", '["loss"]', ".mean"
    shape: tuple[int, ...]
    complex: bool = False  # two rows per entry, Re and Im (adcheck.complex_numbers)


def output_name(outputs, function: str, row: int) -> str:
    """``loss``, ``f[2]``, ``f["a"][1, 0]``: row ``row`` of the Jacobian of ``function``, whose
    output arrays are ``outputs`` (``OutputLeaf``s)."""
    root = function or "out"
    for leaf in outputs:
        width = 2 if leaf.complex else 1
        size = (int(np.prod(leaf.shape)) if leaf.shape else 1) * width
        if row < size:
            index = np.unravel_index(row // width, leaf.shape) if leaf.shape else ()
            part = ("Re ", "Im ")[row % 2] if leaf.complex else ""
            return part + root + leaf.path + (f"[{', '.join(str(int(i)) for i in index)}]" if index else "")
        row -= size
    return f"{root}[{row}]"  # no output structure recorded (a hand-made report)


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
    outputs: tuple[OutputLeaf, ...] = ()  # the output's arrays (a pytree's leaves), for naming rows
    function: str = ""  # the function's name: the root of the rows' names
    search: SearchSummary | None = None  # --search: what the search of other inputs found
    mode: str = "full"  # the mode the run compared in ("full" or "fast": products, not Jacobians)

    @property
    def n_outputs(self) -> int:
        return self.output_shapes[0][0] if self.output_shapes else 0

    def output_name(self, row: int) -> str:
        """``loss``, ``f[2]``, ``f["a"][1, 0]``: row ``row`` of the Jacobian, named by its output."""
        return output_name(self.outputs, self.function, row)

    def input_name(self, column: int) -> str:
        """``x[2]``, ``params["w"][1, 0]``: column ``column`` of the Jacobian, named by its input."""
        for info in self.arguments:
            if not info.differentiated:
                continue
            width = 2 if info.dtype.startswith("complex") else 1
            size = (int(np.prod(info.shape)) if info.shape else 1) * width
            if column < size:
                index = np.unravel_index(column // width, info.shape) if info.shape else ()
                name = info.name or f"arg{info.index}"
                part = ("Re ", "Im ")[column % 2] if width == 2 else ""
                return part + name + (f"[{', '.join(str(int(i)) for i in index)}]" if index else "")
            column -= size
        return f"x[{column}]"

    def entry_name(self, row: int, column: int) -> str:
        """``d loss / d params["w"][1, 0]``"""
        return f"d {self.output_name(row)} / d {self.input_name(column)}"

    @property
    def nothing_checked(self) -> bool:
        """No AD backend could run the function (and none failed trying): nothing was verified."""
        return not self.comparison.checked and not self.comparison.failed

    @property
    def nothing_verified(self) -> bool:
        """Backends ran, none failed, and not one entry of any of them was verified by anything:
        every entry is inconclusive. Such a run proves nothing, and does not pass."""
        ad = [v for v in self.comparison.verdicts if v.status in CHECKED]
        return bool(ad) and not self.failed and all(
            v.status == Status.INCONCLUSIVE and v.n_entries and v.n_inconclusive == v.n_entries for v in ad)

    @property
    def failed(self) -> bool:
        second = self.second_order is not None and self.second_order.failed
        return self.comparison.failed or second

    @property
    def inconclusive(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.comparison.verdicts if v.status == Status.INCONCLUSIVE)

    def run(self, name: str) -> BackendRun | None:
        return next((r for r in self.runs if r.name == name), None)

    def causes(self, backend: str) -> tuple[Finding, ...]:
        """The findings that may explain ``backend``'s row."""
        return tuple(f for f in self.findings if backend in f.explains)

    def cause_codes(self, backend: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.code for f in self.causes(backend)))


# --- --search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFailure:
    """The simplest input the search found where a backend fails, shrunk by hypothesis."""

    flat: np.ndarray  # the differentiated inputs, flattened as the Jacobian's columns
    input_args: tuple[str, ...]  # one JSON text per positional argument: a ready ``--input`` each
    backends: tuple[str, ...]  # the backends that fail there
    entry: str  # the worst entry's name (``d f[0] / d x[1]``), or "" for an error row
    status: str  # "disagree" or "error"
    found_after: int  # inputs tried until the first failing one
    shrink_calls: int  # inputs hypothesis tried while shrinking it
    report: RunReport  # the shrunk input checked again as an ordinary run, in full
    kept_as: str = ""  # adcheck check: the project's case whose input this is (that case reports it)

    @property
    def input_line(self) -> str:
        return " ".join(f"--input '{text}'" for text in self.input_args)


@dataclass(frozen=True)
class SearchSummary:
    """``--search N``: which inputs were tried, which were skipped and why, and what failed."""

    requested: int  # N
    seed: int
    tried: int  # distinct inputs checked (the screen ran on each)
    by_kind: tuple[tuple[str, int], ...]  # (kind of input, how many), kinds in strategy order
    outside_domain: int  # the value is NaN/inf or the function raises there: skipped, not failures
    unverifiable: int  # nothing could verify any entry there (FD unsettled, no AD consensus): skipped
    screen_failures: int  # inputs the cheap screen flagged
    confirmed: int  # of those, inputs the full comparison confirmed
    magnitudes: tuple[float, float] | None  # the smallest and largest nonzero |entry| tried
    specials: tuple[str, ...]  # the special values tried ("exact 0", "ties", ...)
    domain_edges: tuple[str, ...]  # "value NaN for x[0] < -1"
    failure: SearchFailure | None = None
    database: str = ""  # where hypothesis keeps failing examples ("" when off)
    seconds: float = 0.0
