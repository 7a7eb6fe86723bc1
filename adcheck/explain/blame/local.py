"""Is one primitive's derivative rule right at the inputs it saw? The numerics every framework shares.

A primitive (or a unit: a custom rule, a jitted function, a torch ``Function``) is checked alone:
``g(z)``, its differentiable operands ``z`` flattened, evaluated plainly for the reference, and the
framework's rule for ``g`` (``J D`` in forward mode, ``U^T J`` in reverse mode).

Directions: the check runs along the directions in which the program itself moves the operands
(``D``, from the program evaluated a small step either side of the input), not along basis
vectors. A primitive whose operand lives on a subspace (``cholesky`` of a symmetrised matrix, a
triangular factor) has a rule that is only defined there; the program's own directions never
leave it. An operand entry the input does not move has a zero direction: what happens there
cannot reach the Jacobian (except a NaN, which survives multiplication by zero and is caught).

Reference: central finite differences along each direction with scipy's error estimate
(``adcheck.finite_differences``), judged with the comparison's own per-dtype tolerances
(``adcheck.verdict.tolerances``): scale-free, an entry's absolute tolerance a multiple of its own scale. A
mismatch is then given two second opinions that may clear it: one-sided differences (a kink, where
any value between the one-sided slopes is a valid subgradient) and the complex step where the
primitive runs on complex numbers (a reference without cancellation). What they leave must be
confirmed by a second witness before it counts: the Taylor remainder walked down to an ulp on both
sides (no rule is named wrong on FD's word alone). Finally the mismatch is localised to one
Jacobian entry where the primitive allows it, for the message.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...finite_differences import (
    Line,
    NotAnalytic,
    complex_step_jacobian,
    finite_difference_jacobian,
    typical_scale,
)
from ...verdict.tolerances import EPS, ERROR_ESTIMATE_FACTOR, RowTolerances, absolute_tolerance, agreement_bound

# Cotangents in reverse mode: the output basis when there are at most this many outputs (each
# output then checked on its own), else random unit cotangents plus sampled basis vectors.
BASIS_COTANGENTS = 8
RANDOM_COTANGENTS = 4
SAMPLED_COTANGENTS = 4
# Forward mode: up to this many operand entries, the rule's whole Jacobian is computed (one JVP
# per entry), so each compared product knows the size of the terms it sums; above it, the terms
# are estimated from products along the direction with random signs.
FULL_FORWARD_INPUTS = 32
SIGN_PATTERNS = 2
# Entries tried when localising a mismatch to one (output, input) pair: one FD column each.
LOCALISE_COLUMNS = 8
# A rule's own rounding: the AD value is a sum of terms |J_ij d_j|, each rounded; this many ulps
# of their total is the noise a correct rule carries (a sum that cancels keeps the terms' noise).
TERM_ROUNDING_ULPS = 64.0
SEED = 20240611


@dataclass(frozen=True)
class Operand:
    """A named, shaped piece of a flat vector (a differentiable operand or an output)."""

    name: str
    shape: tuple[int, ...]  # a complex operand's ends in 2: its real and imaginary parts
    complex: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class LocalProblem:
    """One primitive alone: plain values for the reference, the framework's rule for the check."""

    z0: np.ndarray  # the differentiable operands, flattened, float64
    value: Callable[[np.ndarray], np.ndarray]  # flat operands -> flat outputs (float64), plainly
    eps: np.ndarray  # per output: the machine epsilon of the dtype it is computed in
    inputs: tuple[Operand, ...]  # how z0 splits into operands (for naming entries)
    outputs: tuple[Operand, ...]
    forward: Callable[[np.ndarray], np.ndarray] | None = None  # (n_in, K) -> J D, (n_out, K)
    reverse: Callable[[np.ndarray], np.ndarray] | None = None  # (n_out, Q) -> U^T J, (Q, n_in)
    complex_value: Callable[[np.ndarray], np.ndarray] | None = None  # complex flat -> complex flat


@dataclass(frozen=True)
class Evidence:
    """The numbers a finding shows: the rule's derivative against the reference's, ± its error."""

    rule: float
    reference: float
    error: float
    output: int | None  # flat output index (None: a combination of outputs)
    input: int | None  # flat input index (None: along the direction the program moves the operands)
    method: str = "FD"  # what the reference is: "FD" or "complex step"

    @property
    def nonfinite(self) -> bool:
        return not np.isfinite(self.rule) and np.isfinite(self.reference)


@dataclass(frozen=True)
class Verdict:
    judged: bool  # False: no reference could decide (not finite, or nothing to compare)
    wrong: bool = False
    evidence: Evidence | None = None


NOT_JUDGED = Verdict(False)


def check(problem: LocalProblem, directions: np.ndarray, rng_seed: int = SEED) -> Verdict:
    """Compare the rule with the reference along ``directions`` (n_in, K); see the module docstring."""
    z0 = problem.z0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = _safe_value(problem, z0)
        if value is None or value.size == 0 or z0.size == 0:
            return NOT_JUDGED
        directions = _usable_directions(directions, z0.size, rng_seed)
        eps = np.broadcast_to(np.asarray(problem.eps, dtype=float), value.shape)
        reference, error = _directional_fd(problem.value, z0, value, directions, eps)
        compared = _compare_along(problem, directions, value, eps, reference, error, rng_seed)
        if compared is None:
            return NOT_JUDGED
        judged, wrong, ratio = compared.judged, compared.wrong, compared.ratio
        if not judged.any():
            return NOT_JUDGED
        if wrong.any():
            wrong = _second_opinions(problem, directions, value, eps, compared, wrong)
        if not wrong.any():
            return Verdict(True)
        return Verdict(True, True, _localise(problem, directions, value, eps, compared, wrong, ratio))


def _safe_value(problem: LocalProblem, z: np.ndarray) -> np.ndarray | None:
    try:
        return np.asarray(problem.value(z), dtype=np.float64).ravel()
    except Exception:  # noqa: BLE001 - a primitive that cannot be re-evaluated alone: not judged
        return None


def _usable_directions(directions: np.ndarray, n_in: int, seed: int) -> np.ndarray:
    """Unit columns; a zero or non-finite column becomes a random direction (so a NaN rule at an
    operand the program does not move is still seen)."""
    directions = np.asarray(directions, dtype=float).reshape(n_in, -1)
    columns = []
    rng = np.random.default_rng(seed)
    for k in range(directions.shape[1]):
        d = directions[:, k]
        norm = np.linalg.norm(d) if np.all(np.isfinite(d)) else 0.0
        columns.append(d / norm if norm > 0 else None)
    if all(c is None for c in columns):
        random = rng.standard_normal(n_in)
        return (random / np.linalg.norm(random))[:, None]
    return np.stack([c for c in columns if c is not None], axis=1)


class _Span:
    """``t -> g(z0 + s D t)``: the primitive on the span of the directions, ``s`` the operands'
    typical scale (so ``t`` is of order one whatever the units; as ``finite_differences.Line``)."""

    batch = None

    def __init__(self, value_function, z0, directions):
        self.f, self.z0 = value_function, z0
        self.scale = typical_scale(z0)
        self.w = directions * self.scale

    def __call__(self, t):
        return self.f(self.z0 + self.w @ t)


def _directional_fd(value_function, z0, value, directions, eps):
    """FD of ``g`` along each direction, all in one Richardson call: (n_out, K) values and errors."""
    n_out, k = value.size, directions.shape[1]
    span = _Span(value_function, z0, directions)
    try:
        jac, err = finite_difference_jacobian(span, np.zeros(k), n_out, eps=eps, value=value)
    except Exception:  # noqa: BLE001 - the reference cannot be computed here: not judged
        return np.full((n_out, k), np.nan), np.full((n_out, k), np.inf)
    return jac / span.scale, err / span.scale


@dataclass
class _Compared:
    """The rule against the reference, entry by entry of the compared products."""

    rule: np.ndarray  # (R, K): forward J D (R = outputs), reverse (U^T J) D (R = cotangents)
    reference: np.ndarray
    error: np.ndarray
    bound: np.ndarray
    judged: np.ndarray
    wrong: np.ndarray
    ratio: np.ndarray
    cotangents: np.ndarray | None  # reverse mode: U (n_out, R)
    rows: np.ndarray | None  # reverse mode: U^T J (R, n_in)


def _compare_along(problem, directions, value, eps, reference, error, seed) -> _Compared | None:
    n_out = value.size
    try:
        if problem.forward is not None:
            rule, terms = _forward_with_terms(problem, directions, n_out, seed)
            cotangents = rows = None
            ref, err = reference, error
            row_eps, row_value = eps, np.abs(value)
        elif problem.reverse is not None:
            cotangents = _cotangents(n_out, seed)
            rows = np.asarray(problem.reverse(cotangents), dtype=float).reshape(cotangents.shape[1], -1)
            rule = rows @ directions
            terms = np.abs(rows) @ np.abs(directions)
            ref = cotangents.T @ reference
            err = np.abs(cotangents.T) @ np.where(np.isfinite(error), error, np.inf)
            row_eps = np.full(cotangents.shape[1], float(np.max(eps)))
            row_value = np.abs(cotangents.T) @ np.abs(value)
        else:
            return None
    except Exception:  # noqa: BLE001 - the rule fails alone where it ran in the program: not judged
        return None
    bound = _bound(rule, ref, err, row_eps, row_value, terms, typical_scale(problem.z0))
    judged = np.isfinite(ref) & np.isfinite(err)
    nonfinite = ~np.isfinite(rule)
    difference = np.abs(np.where(nonfinite, 0.0, rule) - np.where(judged, ref, 0.0))
    wrong = judged & (nonfinite | (difference > bound))
    ratio = np.where(nonfinite, np.inf, difference / np.maximum(bound, np.finfo(float).tiny))
    return _Compared(rule, ref, err, bound, judged, wrong, np.where(judged, ratio, 0.0), cotangents, rows)


def _forward_with_terms(problem, directions, n_out, seed):
    """Forward mode: ``J D`` and the size of the terms each entry sums (``|J| |D|``)."""
    n_in = directions.shape[0]
    if n_in <= FULL_FORWARD_INPUTS:
        jacobian = np.asarray(problem.forward(np.eye(n_in)), dtype=float).reshape(n_out, n_in)
        finite = np.where(np.isfinite(jacobian), jacobian, 0.0)
        rule = jacobian @ directions
        rule = np.where(np.isfinite(rule), finite @ directions, rule)
        return rule, np.abs(finite) @ np.abs(directions)
    rule = np.asarray(problem.forward(directions), dtype=float).reshape(n_out, -1)
    rng = np.random.default_rng(seed + 2)
    signs = rng.choice([-1.0, 1.0], size=(n_in, SIGN_PATTERNS))
    squares = np.zeros_like(rule)
    for p in range(SIGN_PATTERNS):
        flipped = np.asarray(problem.forward(directions * signs[:, [p]]), dtype=float).reshape(n_out, -1)
        squares += np.where(np.isfinite(flipped), flipped, 0.0) ** 2
    # E[(J (d * s))_i**2] is the sum of the squared terms; their sum of magnitudes is at most
    # sqrt(n) times its root.
    support = np.maximum(np.count_nonzero(directions, axis=0), 1)
    return rule, np.sqrt(squares / SIGN_PATTERNS * support[None, :])


def _cotangents(n_out: int, seed: int) -> np.ndarray:
    if n_out <= BASIS_COTANGENTS:
        return np.eye(n_out)
    rng = np.random.default_rng(seed + 1)
    random = rng.standard_normal((n_out, RANDOM_COTANGENTS))
    random /= np.linalg.norm(random, axis=0, keepdims=True)
    sampled = np.sort(rng.choice(n_out, size=SAMPLED_COTANGENTS, replace=False))
    basis = np.zeros((n_out, SAMPLED_COTANGENTS))
    basis[sampled, np.arange(SAMPLED_COTANGENTS)] = 1.0
    return np.hstack([random, basis])


def _bound(rule, reference, error, row_eps, row_value, terms, scale) -> np.ndarray:
    """The comparison's agreement bound for each compared entry (``verdict.tolerances``' formula),
    plus the rounding a rule's sum of terms carries."""
    row_eps = np.asarray(row_eps, dtype=float).reshape(-1)
    tol = RowTolerances(row_eps)
    finite_rule = np.where(np.isfinite(rule), np.abs(rule), 0.0)
    well = np.where(np.isfinite(error) & (error <= 0.5 * np.abs(reference)), np.abs(reference), 0.0)
    magnitudes = np.maximum(well, finite_rule)
    if terms is not None:
        magnitudes = np.maximum(magnitudes, np.where(np.isfinite(terms), terms, 0.0))
    atol = absolute_tolerance(magnitudes, np.asarray(row_value).reshape(-1), row_eps,
                              np.full(rule.shape[1], scale), tol.atol_scale)
    if terms is not None:
        atol = atol + TERM_ROUNDING_ULPS * row_eps.reshape(-1, 1) * np.where(np.isfinite(terms), terms, 0.0)
    return agreement_bound(reference, error, tol, atol)


# --- second opinions -------------------------------------------------------------------------------


def _second_opinions(problem, directions, value, eps, compared: _Compared, wrong) -> np.ndarray:
    """Clear the mismatches a kink or the complex step explains; what stays is wrong.

    One-sided differences are taken of the mismatching rows only (the outputs, or the cotangents'
    projections): an elementwise primitive of 10^6 entries with one wrong entry differences one
    number, not a million."""
    wrong = wrong.copy()
    for k in np.flatnonzero(wrong.any(axis=0)):
        rows = np.flatnonzero(wrong[:, k])
        if compared.cotangents is None:
            line = Line(_Outputs(problem.value, rows), problem.z0, directions[:, k])
            row_value, row_eps = value[rows], eps[rows]
        else:
            u = compared.cotangents.T[rows]
            line = Line(problem.value, problem.z0, directions[:, k], u=u)
            row_value, row_eps = np.atleast_1d(u @ value), np.full(rows.size, float(np.max(eps)))
        project = (lambda y: y) if compared.cotangents is None else (lambda y: compared.cotangents.T @ y)
        cleared = _kink_clears(line, row_value, row_eps, compared, k, rows)
        cleared |= _complex_step_clears(problem, directions[:, k], value, compared, k, project)[rows]
        wrong[rows, k] &= ~cleared
        # A NaN or inf rule where FD is finite is its own evidence (ADC604); a finite one needs the walk.
        still = np.flatnonzero(wrong[rows, k] & np.isfinite(compared.rule[rows, k]))
        if still.size:
            wrong[rows[still], k] = _taylor_walk_confirms(line, row_value, row_eps, compared, k, rows, still)
    return wrong


def _taylor_walk_confirms(line, value, eps, compared, k, rows, still) -> np.ndarray:
    """Of ``rows[still]``, those the Taylor remainder walked down to an ulp on both sides of the
    operands finds wrong too (``verdict.taylor.walk_decisions``): FD along the direction is one witness,
    and a rule is named wrong only on two. The walk reads the smallest steps where the remainder
    is a Taylor remainder, so a primitive that varies faster than FD's steps (sin at 4e7) is not
    accused on FD's aliasing."""
    from ...verdict.taylor import walk_decisions, walk_margin
    from ...ladders import witness_ladders
    from ...model import TaylorLadder

    try:
        plus, minus = witness_ladders(line, np.zeros(1), value, np.array([0]), eps)
    except Exception:  # noqa: BLE001 - the walk cannot be taken: no second witness
        return np.zeros(still.size, dtype=bool)
    rule = (compared.rule[rows, k] * line.scale)[:, None]  # per unit of the line's parameter
    tolerance = (compared.bound[rows, k] * line.scale)[:, None]
    wanted = np.zeros(rule.shape, dtype=bool)
    wanted[still] = True
    margin = walk_margin(eps)
    both = [walk_decisions(sign * rule, value, TaylorLadder(np.array([0]), *side), tolerance, tolerance, wanted,
                           margin, strict=True, disagree_factor=1.0)[1][:, 0]
            for sign, side in ((1.0, plus), (-1.0, minus))]
    return (both[0] & both[1])[still]


class _Outputs:
    """``f`` restricted to some of its outputs (batched when ``f`` is)."""

    def __init__(self, f, rows):
        self.f, self.rows = f, rows
        self.batch = self._batch if getattr(f, "batch", None) else None

    def __call__(self, z):
        return np.asarray(self.f(z)).ravel()[self.rows]

    def _batch(self, points):
        return self.f.batch(points)[self.rows]


def _kink_clears(line, value, eps, compared, k, rows) -> np.ndarray:
    """Of ``rows``, those where one-sided differences disagree with each other and the rule lies
    between them (``line`` gives those rows only)."""
    n_out = value.size
    try:
        plus, plus_error = finite_difference_jacobian(line, np.zeros(1), n_out, step_direction=1, eps=eps, value=value)
        minus, minus_error = finite_difference_jacobian(line, np.zeros(1), n_out, step_direction=-1, eps=eps,
                                                        value=value)
    except Exception:  # noqa: BLE001
        return np.zeros(rows.size, dtype=bool)
    plus, minus = plus[:, 0] / line.scale, minus[:, 0] / line.scale
    slack = compared.bound[rows, k] + ERROR_ESTIMATE_FACTOR * (
        np.abs(plus_error[:, 0] / line.scale) + np.abs(minus_error[:, 0] / line.scale))
    low, high = np.minimum(plus, minus), np.maximum(plus, minus)
    kink = np.abs(plus - minus) > slack
    rule = compared.rule[rows, k]
    return np.isfinite(rule) & kink & (rule >= low - slack) & (rule <= high + slack)


def _complex_step_clears(problem, direction, value, compared, k, project) -> np.ndarray:
    """Rows where the complex-step derivative applies and agrees with the rule (FD was misled)."""
    nothing = np.zeros(compared.rule.shape[0], dtype=bool)
    if problem.complex_value is None:
        return nothing
    z0 = problem.z0

    def along(t):
        return np.asarray(problem.complex_value(z0.astype(np.complex128) + t[0] * direction), dtype=np.complex128)

    try:
        jac, err = complex_step_jacobian(along, np.zeros(1), value, np.array([0]))
    except (NotAnalytic, Exception):  # noqa: BLE001 - does not apply here
        return nothing
    reference = project(jac[:, 0])
    bound = compared.bound[:, k] + ERROR_ESTIMATE_FACTOR * np.abs(project(err[:, 0]))
    rule = compared.rule[:, k]
    return np.isfinite(rule) & (np.abs(rule - reference) <= bound)


# --- localising -----------------------------------------------------------------------------------


def _localise(problem, directions, value, eps, compared: _Compared, wrong, ratio) -> Evidence:
    """The worst mismatch, as one Jacobian entry when one entry can be shown wrong on its own."""
    row, k = _worst(wrong, ratio, compared.reference)
    fallback = Evidence(float(compared.rule[row, k]), float(compared.reference[row, k]),
                        float(compared.error[row, k]), _output_of(compared, row), None)
    output = fallback.output
    try:
        if output is None:
            output, fallback = _output_by_basis(problem, directions[:, k], compared, row, k, fallback)
        if output is None:
            return fallback
        entry = _entry(problem, directions[:, k], value, eps, output, compared)
        if entry is not None and entry.nonfinite and entry.input is not None and entry.input != output \
                and problem.z0.size == value.size:
            # A NaN spreads along a whole row (forward) or column (reverse) of an elementwise
            # rule, multiplied by zeros; the diagonal entry is where it comes from.
            diagonal = _entry(problem, directions[:, k], value, eps, entry.input, compared, only=entry.input)
            if diagonal is not None and diagonal.nonfinite:
                entry = diagonal
    except Exception:  # noqa: BLE001 - localising is for the message; the verdict stands
        return fallback
    return entry or fallback


def _worst(wrong, ratio, reference) -> tuple[int, int]:
    """The wrong entry furthest outside its bound; among non-finite ones, the one whose reference
    is largest (the NaN where the true derivative matters most)."""
    infinite = wrong & np.isinf(ratio)
    if infinite.any():
        score = np.where(infinite, np.abs(np.where(np.isfinite(reference), reference, 0.0)), -1.0)
    else:
        score = np.where(wrong, ratio, -1.0)
    row, k = np.unravel_index(int(np.argmax(score)), score.shape)
    return int(row), int(k)


def _output_of(compared: _Compared, row: int) -> int | None:
    if compared.cotangents is None:
        return int(row)
    u = compared.cotangents[:, row]
    nonzero = np.flatnonzero(u)
    return int(nonzero[0]) if nonzero.size == 1 else None


def _output_by_basis(problem, direction, compared, row, k, fallback):
    """Reverse mode, a random cotangent failed: try the outputs it weighs most, one at a time."""
    u = compared.cotangents[:, row]
    candidates = np.argsort(-np.abs(u))[:LOCALISE_COLUMNS]
    basis = np.zeros((u.size, candidates.size))
    basis[candidates, np.arange(candidates.size)] = 1.0
    rows = np.asarray(problem.reverse(basis), dtype=float).reshape(candidates.size, -1)
    # The reference along this direction per output is not kept; recompute it for the candidates.
    line = Line(_Outputs(problem.value, candidates), problem.z0, direction)
    jac, err = finite_difference_jacobian(line, np.zeros(1), candidates.size, eps=np.max(problem.eps))
    reference, error = jac[:, 0] / line.scale, err[:, 0] / line.scale
    rule = rows @ direction
    bad, ratio = _mismatches(rule, reference, error, float(np.max(problem.eps)))
    if not bad.any():  # no one of them shows it alone: the cotangent's mismatch is the evidence
        return None, fallback
    _, worst = _worst(bad[None, :], ratio[None, :], reference[None, :])
    output = int(candidates[worst])
    return output, Evidence(float(rule[worst]), float(reference[worst]), float(error[worst]), output, None)


def _mismatches(rule, reference, error, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(bad, how far outside its bound) per entry of one output's rule against its FD reference,
    with the comparison's tolerances for ``eps``."""
    tol = RowTolerances(np.array([eps]))
    magnitude = np.maximum(np.where(np.isfinite(rule), np.abs(rule), 0.0),
                           np.where(np.isfinite(reference), np.abs(reference), 0.0))
    atol = float(tol.atol_scale[0, 0]) * float(np.max(magnitude, initial=0.0))
    bound = atol + float(tol.rtol[0, 0]) * np.abs(reference) + ERROR_ESTIMATE_FACTOR * np.where(
        np.isfinite(error), error, np.inf)
    judged = np.isfinite(reference) & np.isfinite(error)
    bad = judged & (~np.isfinite(rule) | (np.abs(rule - reference) > bound))
    ratio = np.where(np.isfinite(rule), np.abs(rule - reference) / np.maximum(bound, np.finfo(float).tiny), np.inf)
    return bad, ratio


def _entry(problem, direction, value, eps, output, compared, only: int | None = None) -> Evidence | None:
    """The (output, input) entry that is wrong on its own, among the inputs the direction moves
    most (or the rule's row weighs most): FD of single columns against the rule's entries."""
    n_in = problem.z0.size
    if problem.reverse is not None and problem.forward is None:
        unit = np.zeros((value.size, 1))
        unit[output, 0] = 1.0
        rule_row = np.asarray(problem.reverse(unit), dtype=float).reshape(-1)
        weight = np.where(np.isfinite(rule_row), np.abs(rule_row), np.inf) + np.abs(direction)
    else:
        rule_row = None
        weight = np.abs(direction)
    if only is not None:
        columns = np.array([only])
    else:
        columns = np.argsort(-weight, kind="stable")[:LOCALISE_COLUMNS]
        columns = columns[weight[columns] > 0] if np.any(weight[columns] > 0) else columns[:1]
        if n_in == value.size and output not in columns:  # elementwise: the diagonal entry first
            columns = np.concatenate([[output], columns[:LOCALISE_COLUMNS - 1]])
        elif n_in == value.size:
            columns = np.concatenate([[output], columns[columns != output]])
    if rule_row is None:
        basis = np.zeros((n_in, columns.size))
        basis[columns, np.arange(columns.size)] = 1.0
        rule = np.asarray(problem.forward(basis), dtype=float).reshape(value.size, -1)[output]
    else:
        rule = rule_row[columns]
    only_output = np.array([output])  # the one output compared: FD of a 10^6-output primitive would difference all
    jac, err = finite_difference_jacobian(_Outputs(problem.value, only_output), problem.z0, 1, columns=columns,
                                          eps=eps[only_output], value=value[only_output])
    reference, error = jac[0], err[0]
    bad, ratio = _mismatches(rule, reference, error, float(eps[output]))
    if not bad.any():
        return None
    _, worst = _worst(bad[None, :], ratio[None, :], reference[None, :])
    return Evidence(float(rule[worst]), float(reference[worst]), float(error[worst]), output, int(columns[worst]))


def output_eps(dtypes) -> np.ndarray:
    """Per output entry, the machine epsilon of its dtype (``dtypes``: (name, size) pairs)."""
    parts = [np.full(size, EPS.get(name, EPS["float64"])) for name, size in dtypes]
    return np.concatenate(parts) if parts else np.zeros(0)


def pieces(z, shapes) -> list[np.ndarray]:
    """A flat vector cut into consecutive pieces of these shapes (operands, outputs), in order."""
    found, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape)) if shape else 1
        found.append(np.asarray(z[offset:offset + size]).reshape(shape))
        offset += size
    return found


def numbered(stem: str, shapes, complex_flags=()) -> tuple[Operand, ...]:
    """Operands named ``stem`` when there is one, else ``stem1``, ``stem2``..., in order."""
    flags = tuple(complex_flags) or (False,) * len(shapes)
    return tuple(Operand(stem if len(shapes) == 1 else f"{stem}{k + 1}", tuple(shape), is_complex)
                 for k, (shape, is_complex) in enumerate(zip(shapes, flags)))


def entry_name(operands: tuple[Operand, ...], index: int | None) -> str:
    """``x[2]``, ``b[0, 1]`` or ``x`` (one entry): flat ``index`` of the concatenated operands."""
    if index is None:
        return ""
    for operand in operands:
        if index < operand.size:
            if operand.complex:  # Re x[1], Im x[1]
                part, shape = ("Re ", "Im ")[index % 2], operand.shape[:-1]
                if not shape:
                    return part + operand.name
                position = np.unravel_index(index // 2, shape)
                return f"{part}{operand.name}[{', '.join(str(int(p)) for p in position)}]"
            if operand.size == 1:
                return operand.name
            position = np.unravel_index(index, operand.shape)
            return f"{operand.name}[{', '.join(str(int(p)) for p in position)}]"
        index -= operand.size
    return f"[{index}]"
