"""Compare each backend's derivatives with the reference, entry by entry: agree, disagree, inconclusive.

Pure functions over arrays: nothing here prints or exits.

An entry of a backend's Jacobian is judged by the first of these that can settle it:

1. the finite-difference reference, where its error bar is narrow enough to tell agreement from
   disagreement (``reference_settles``); where it is wider, a value outside even that bar still
   disagrees, and a value inside it is not yet verified;
2. the Taylor remainder test on the backend's own value (``taylor_decisions``): the remainder of
   a right derivative falls like h**2, of a wrong one like h;
3. the other AD backends and the complex-step derivative, compared at a tight tolerance
   (independent implementations agreeing to 1e-8 is strong evidence: Stan's AD test framework
   uses 1e-8 between AD implementations and 1e-4 against finite differences). They can only
   verify: where they differ and nothing else decides, nobody can say who is wrong;
4. nothing: the entry is inconclusive, never a disagreement.

Every absolute threshold is a multiple of the function's own scale (``entry_scale``): the
verdict does not change when the outputs or the inputs are measured in other units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .model import (
    FAILING,
    BackendRun,
    BackendVerdict,
    Comparison,
    EntryMismatch,
    Evidence,
    OneSided,
    Precision,
    Status,
    rules_of,
)


@dataclass(frozen=True)
class Tolerance:
    rtol: float  # an AD value agrees with the reference within atol + rtol*|ref| + k*err_ref
    atol_scale: float  # atol: this share of the entry's scale (the largest entries of its row and column)
    fd_rtol: float  # the reference settles an entry when k*err_ref <= fd_rtol*|ref| + atol
    ad_rtol: float  # two AD backends agree within ad_atol + ad_rtol*max(|a|, |b|)
    ad_atol_scale: float


# Per working precision (what the function computes in, measured by the reference worker).
# - rtol: float64 1e-6 is ten times tighter than JAX's check_grads gradient tolerance (1e-5,
#   jax._src.public_test_util.default_gradient_tolerance), because the FD error is not folded into
#   rtol but added separately as k*err from scipy's own estimate; float32 2e-3, float16 1e-2 and
#   bfloat16 1e-1 are JAX's own.
# - atol_scale: an entry below 1e-9 (float64) of the largest entries in its row and column is at
#   the level of rounding noise times the condition of a typical stencil; the same factor of
#   about 1e7 ulps for the narrower types.
# - fd_rtol: 1e-4 is what Stan's AD tests accept against finite differences; an error bar wider
#   than that verifies nothing to the accuracy a derivative check needs.
# - ad_rtol: 1e-8 between AD implementations (Stan); the narrower types scale with their eps.
TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(rtol=1e-6, atol_scale=1e-9, fd_rtol=1e-4, ad_rtol=1e-8, ad_atol_scale=1e-10),
    "float32": Tolerance(rtol=2e-3, atol_scale=1e-4, fd_rtol=1e-2, ad_rtol=1e-4, ad_atol_scale=1e-5),
    "float16": Tolerance(rtol=1e-2, atol_scale=1e-2, fd_rtol=5e-2, ad_rtol=1e-2, ad_atol_scale=1e-3),
    "bfloat16": Tolerance(rtol=1e-1, atol_scale=5e-2, fd_rtol=2e-1, ad_rtol=5e-2, ad_atol_scale=1e-2),
}
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}

# k: scipy's estimate is the change between the last two Richardson iterates, which can
# understate the true error of the last one by a small factor; 4 covers that without letting
# a wrong derivative hide in a noisy estimate (a wrong entry is off by O(1), not by 4 err_fd).
ERROR_ESTIMATE_FACTOR = 4.0

MAX_LISTED_MISMATCHES = 10


def precision_name(eps: float) -> str:
    """The table row for a machine epsilon (the nearest on a log scale)."""
    return min(EPS, key=lambda name: abs(np.log(EPS[name]) - np.log(eps)))


class RowTolerances:
    """The tolerance table's entries for each output row, as (n_outputs, 1) arrays."""

    def __init__(self, eps_rows: np.ndarray, rtol: float | None = None):
        names: dict[float, Tolerance] = {}  # a row per output, and mostly one precision among them
        rows = [names.get(e) or names.setdefault(e, TOLERANCES[precision_name(e)])
                for e in np.atleast_1d(eps_rows).astype(float).tolist()]
        self.eps = np.asarray(np.atleast_1d(eps_rows), dtype=float).reshape(-1)

        def column(attribute):
            return np.array([getattr(t, attribute) for t in rows], dtype=float).reshape(-1, 1)

        self.rtol = column("rtol") if rtol is None else np.full((len(rows), 1), float(rtol))
        self.atol_scale = column("atol_scale")
        self.fd_rtol = column("fd_rtol")
        self.ad_rtol = column("ad_rtol")
        self.ad_atol_scale = column("ad_atol_scale")


def uniform_eps(n_outputs: int, dtype=np.float64) -> np.ndarray:
    name = np.dtype(dtype).name
    return np.full(n_outputs, EPS.get(name, EPS["float64"]))


# The part of an entry's absolute tolerance that rounding in the function's own value explains:
# a difference of f_i over a step of x_j's scale carries about this many ulps of |f_i|.
VALUE_NOISE_ULPS = 1e4


def entry_scale(magnitudes: np.ndarray, input_scales) -> np.ndarray:
    """Each entry's scale in its own units: the smaller of D_i / S_j and the largest entry of its
    column. S_j is the input's scale and D_i the largest change the output makes over the inputs'
    scales (max_k |J_ik| S_k).

    An output (a row) in its own units gets a scale of its own, so a wrong entry in a row of tiny
    derivatives cannot hide under the rest; so does an input (a column), so a wrong entry of an
    input in small units cannot hide under another input's large effect; an entry that is tiny
    where its row and column are large is rounding noise at their scale.
    """
    if magnitudes.size == 0:
        return np.zeros_like(magnitudes)
    scales = np.broadcast_to(np.asarray(input_scales, dtype=float), (magnitudes.shape[1],))
    clean = np.where(np.isfinite(magnitudes), magnitudes, 0.0)
    sensitivity = np.max(clean * scales[None, :], axis=1, keepdims=True)
    return np.minimum(sensitivity / scales[None, :], clean.max(axis=0, keepdims=True))


def absolute_tolerance(magnitudes, value, eps_rows, input_scales, factor) -> np.ndarray:
    """``factor`` times each entry's scale, plus the rounding noise of the output's value."""
    scales = np.broadcast_to(np.asarray(input_scales, dtype=float), (magnitudes.shape[1],))
    eps = np.asarray(eps_rows, dtype=float).reshape(-1, 1)
    noise = VALUE_NOISE_ULPS * eps * np.abs(np.where(np.isfinite(value), value, 0.0)).reshape(-1, 1) / scales[None, :]
    return factor * entry_scale(magnitudes, scales) + noise


def well_estimated(reference: np.ndarray, error: np.ndarray) -> np.ndarray:
    """The reference's magnitudes, counting only entries it estimates well (for a first scale)."""
    return np.where(np.isfinite(error) & (error <= 0.5 * np.abs(reference)), np.abs(reference), 0.0)


def reference_settles(reference, error, tol: RowTolerances, atol) -> np.ndarray:
    """Where the reference's error bar is narrow enough to decide agreement: k*err <= fd_rtol*|ref| + atol."""
    return (np.isfinite(reference) & np.isfinite(error)
            & (ERROR_ESTIMATE_FACTOR * error <= tol.fd_rtol * np.abs(reference) + atol))


def agreement_bound(reference, error, tol: RowTolerances, atol) -> np.ndarray:
    """The largest |J_b - J_ref| that still agrees, per entry."""
    finite_error = np.where(np.isfinite(error), error, 0.0)
    return atol + tol.rtol * np.abs(reference) + ERROR_ESTIMATE_FACTOR * finite_error


def fd_settled_columns(jacobian, error, value, eps_rows, input_scales) -> tuple[np.ndarray, np.ndarray]:
    """(settled mask, columns with an unsettled entry), as the reference worker sees it alone.

    The worker is stricter than the parent (a tenth of fd_rtol), so the complex step and the
    Taylor ladder are computed for every column the parent may find unsettled.
    """
    tol = RowTolerances(eps_rows)
    absolute = absolute_tolerance(well_estimated(jacobian, error), value, eps_rows, input_scales, tol.atol_scale)
    strict = np.isfinite(jacobian) & np.isfinite(error) & (
        ERROR_ESTIMATE_FACTOR * error <= 0.1 * tol.fd_rtol * np.abs(jacobian) + absolute)
    return strict, np.flatnonzero(~strict.all(axis=0))


def disagreement_sentence(failing, passing, with_reference: bool = True) -> str:
    """"X disagrees with finite differences and with Y, Z, which agree" (or "" if not both)."""
    if not failing or not passing:
        return ""
    verb = "disagrees" if len(failing) == 1 else "disagree"
    against = "with finite differences and with" if with_reference else "with"
    return f"{', '.join(failing)} {verb} {against} {', '.join(passing)}, which agree"


# --- the reference, resolved ----------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedReference:
    """The best estimate of each entry and what settles it, shared by every backend's verdict."""

    value: np.ndarray
    jacobian: np.ndarray  # the finite-difference Jacobian
    error: np.ndarray
    fd: np.ndarray  # the same, named for the report
    fd_error: np.ndarray
    settled: np.ndarray  # bool: the reference decides this entry
    complex_step: np.ndarray  # the complex-step derivative where it was taken (NaN elsewhere): a vote
    tol: RowTolerances
    atol: np.ndarray  # per entry
    ad_atol: np.ndarray
    user_atol: bool
    one_sided: OneSided | None = None
    taylor: object | None = None  # model.TaylorLadder
    complex_step_note: str = ""
    nearby: np.ndarray | None = None  # plain numpy's values near the input (calling.nearby_points)
    noise: np.ndarray | None = None  # (n_outputs,) measured rounding noise of one evaluation of the value
    own_scales: np.ndarray | None = None  # (n_inputs,) finite_differences.step_scales
    witness: object | None = None  # model.Witness: the second witness, once FD alone has accused entries


def resolve_reference(reference: BackendRun, ad_jacobians: list[np.ndarray], rtol=None, atol=None,
                      eps_rows=None, input_scales=1.0, own_scales=None) -> ResolvedReference:
    jac, err = reference.jacobian, reference.error
    extra = reference.reference
    if eps_rows is None:
        eps_rows = extra.precision.eps if extra is not None else uniform_eps(jac.shape[0])
    tol = RowTolerances(eps_rows, rtol)
    value = reference.value

    def tolerance_from(magnitudes, factor):
        return absolute_tolerance(magnitudes, value, eps_rows, input_scales, factor)

    first_atol = atol if atol is not None else tolerance_from(well_estimated(jac, err), tol.atol_scale)
    settled = reference_settles(jac, err, tol, first_atol)
    magnitudes = np.where(settled, np.abs(jac), _smallest_magnitude(ad_jacobians, jac.shape))
    entry_atol = np.broadcast_to(atol if atol is not None else tolerance_from(magnitudes, tol.atol_scale), jac.shape)
    # With the final scale, an entry may now be settled (or not) where the first pass said otherwise.
    settled = reference_settles(jac, err, tol, entry_atol)
    complex_step = np.full(jac.shape, np.nan)
    cs = extra.complex_step if extra is not None else None
    if cs is not None and np.size(cs.columns):
        complex_step[:, np.asarray(cs.columns)] = cs.jacobian
    return ResolvedReference(
        value=reference.value, jacobian=jac, error=err, fd=jac, fd_error=err, settled=settled,
        complex_step=complex_step, tol=tol, atol=entry_atol, ad_atol=tolerance_from(magnitudes, tol.ad_atol_scale),
        user_atol=atol is not None,
        one_sided=extra.one_sided if extra is not None else None,
        taylor=extra.taylor if extra is not None else None,
        complex_step_note=extra.complex_step_note if extra is not None else "",
        nearby=reference.nearby,
        noise=extra.precision.noise if extra is not None else None,
        own_scales=None if own_scales is None else np.broadcast_to(np.asarray(own_scales, dtype=float),
                                                                   (jac.shape[1],)),
        witness=reference.witness)


def _smallest_magnitude(jacobians: list[np.ndarray], shape) -> np.ndarray:
    """Per entry, the smallest finite |value| over the AD backends (0 where none is finite).

    The smallest, not the largest: an entry's scale sets how much it may differ, and a wrong
    backend must not loosen the tolerance for itself.
    """
    usable = [np.where(np.isfinite(j), np.abs(j), np.inf) for j in jacobians if j is not None and j.shape == shape]
    if not usable:
        return np.zeros(shape)
    smallest = np.min(np.stack(usable), axis=0)
    return np.where(np.isfinite(smallest), smallest, 0.0)


# --- the Taylor remainder test ----------------------------------------------------------------------

TAYLOR_NOISE_MARGIN = 10.0  # a remainder counts when it is this many times one evaluation's noise
WITNESS_NOISE_MARGIN = 1e3  # ... on the float64 walk down to an ulp (``model.Witness``), which has rungs to spare


def walk_margin(eps) -> np.ndarray:
    """Per output, the noise margin of the walk: ``WITNESS_NOISE_MARGIN`` in float64, the short
    ladder's in a coarser precision, whose walk stops at its own ulp with no rungs to spare."""
    return np.where(np.asarray(eps, dtype=float) < 1e-10, WITNESS_NOISE_MARGIN, TAYLOR_NOISE_MARGIN)
TAYLOR_POINTS = 4  # the smallest-step points the decision is read from
TAYLOR_FIRST_ORDER = (0.6, 1.4)  # log-log slope of a remainder the first-order term dominates
TAYLOR_DISAGREE_FACTOR = 10.0  # a first-order remainder this many tolerances wide is a wrong entry
# A wrong derivative's r/h tends to a constant, the error: its Richardson extrapolations settle
# within this share of it, and its successive r/h change by at most this share of the change
# before (a factor of 4 for a smooth remainder). A remainder like h log h (a one-sided infinite
# slope: x log x at 0) has r/h growing without bound, by the same amount each rung: no error
# to name, and no disagreement.
TAYLOR_CONVERGED = 0.1
TAYLOR_SHRINK = 0.5
TAYLOR_STILL = 1e-3


def taylor_decisions(jacobian, value, ladder, tolerance, resolution=None,
                     wanted=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(agree, disagree, estimate of |J - J_true|) from the Taylor remainders of ``jacobian``.

    For entry (i, j) on the ladder: r_k = f_i(x + h_k e_j) - f_i(x) - h_k J_ij. With the right J
    it falls like h**2; with a wrong one like h, r_k/h_k tending to the error. Remainders under
    an evaluation's noise are left out. Over the smallest steps that remain, r/h is extrapolated
    to h = 0 (Richardson: the steps shrink by 4, so (4 D(h/4) - D(h))/3 removes the h term), and
    the change between the last two extrapolations plus the noise they carry is the estimate's
    own uncertainty. Agree: the estimate is within the tolerance give or take its uncertainty,
    and that uncertainty is within ``resolution`` (what a reference must resolve to settle an
    entry; default the tolerance). Disagree: the remainder falls like h all the way to the
    smallest rung, and even less its uncertainty the estimate is many tolerances wide. Anything
    else decides nothing.

    ``wanted``: the entries to decide (default all); the others are left undecided. Computed a
    column at a time over its wanted outputs at once: the outputs whose remainders rise above
    the noise at the same rungs share one calculation.

    Rungs where the function is not finite (a step past overflow or out of the domain) count as
    silent: the decision is read from the smallest steps. This is the short ladder, taken where
    FD could not settle a column; the second witness's walk down to an ulp is ``walk_decisions``.
    """
    resolution = tolerance if resolution is None else resolution
    shape = jacobian.shape
    agree = np.zeros(shape, dtype=bool)
    disagree = np.zeros(shape, dtype=bool)
    estimate = np.full(shape, np.nan)
    if ladder is None:
        return agree, disagree, estimate
    noise = TAYLOR_NOISE_MARGIN * np.asarray(ladder.noise, dtype=float) + np.finfo(float).tiny
    for c, j in enumerate(np.asarray(ladder.columns)):
        pick = np.arange(shape[0]) if wanted is None else np.flatnonzero(wanted[:, j])
        if pick.size == 0:
            continue
        h = ladder.steps[c]
        remainders = ladder.values[pick, c, :] - value[pick, None] - h[None, :] * jacobian[pick, j][:, None]
        finite = np.isfinite(remainders)
        usable = np.isfinite(jacobian[pick, j])
        above = finite & (np.abs(np.where(finite, remainders, 0.0)) > noise[pick, None])
        count = np.count_nonzero(above, axis=1)
        # No remainder above the noise: the error would have shown as one at the largest step.
        quiet = pick[usable & (count == 0) & np.all(finite, axis=1)]
        bound = noise[quiet] / h[0]
        estimate[quiet, j] = bound
        agree[quiet, j] = bound <= np.maximum(tolerance[quiet, j], resolution[quiet, j])
        # Otherwise the last TAYLOR_POINTS rungs above the noise, which must be consecutive.
        last = h.size - 1 - np.argmax(above[:, ::-1], axis=1)
        size = np.minimum(count, TAYLOR_POINTS)
        candidates = usable & (count >= 3)
        for end, points in {(int(e), int(s)) for e, s in zip(last[candidates], size[candidates])}:
            tail = np.arange(end - points + 1, end + 1)
            local = np.flatnonzero(candidates & (last == end) & (size == points))
            local = local[np.all(above[np.ix_(local, tail)], axis=1)]
            if local.size == 0:
                continue
            rows = pick[local]
            r = remainders[np.ix_(local, tail)]
            ratio = r / h[tail]
            step = h[tail[:-1]] / h[tail[1:]]
            extrapolated = (step * ratio[:, 1:] - ratio[:, :-1]) / (step - 1)
            uncertainty = (np.abs(extrapolated[:, -1] - extrapolated[:, -2])
                           + (step[-1] / (step[-1] - 1)) * noise[rows] / h[tail[-1]])
            delta = np.abs(extrapolated[:, -1])
            estimate[rows, j] = delta + uncertainty
            log_h = np.log(h[tail]) - np.mean(np.log(h[tail]))
            log_r = np.log(np.abs(r))
            slope = (log_r - log_r.mean(axis=1, keepdims=True)) @ log_h / (log_h @ log_h)
            allowed = tolerance[rows, j]
            settled = (delta <= allowed + uncertainty) & (uncertainty <= resolution[rows, j])
            agree[rows, j] = settled
            changes = np.abs(np.diff(ratio, axis=1))
            # (an r/h that stands still, a linear function's, has converged however its changes compare)
            converged = (uncertainty <= TAYLOR_CONVERGED * delta) & (
                changes[:, -1] <= TAYLOR_SHRINK * changes[:, -2] + TAYLOR_STILL * np.abs(ratio[:, -1]))
            disagree[rows, j] = (~settled & converged & (delta - uncertainty > TAYLOR_DISAGREE_FACTOR * allowed)
                                 & (end == h.size - 1)
                                 & (TAYLOR_FIRST_ORDER[0] <= slope) & (slope <= TAYLOR_FIRST_ORDER[1]))
    return agree, disagree, estimate


# --- the second witness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondWitness:
    """What the witnesses other than FD say, per entry."""

    agree: np.ndarray  # the Taylor test, or where it is silent the complex step, confirms the value
    disagree: np.ndarray  # ... finds it wrong
    disagree_twice: np.ndarray  # the Taylor test and the complex step both find it wrong
    estimate: np.ndarray  # the Taylor test's estimate of |J - J_true| (NaN where it has none)
    walked: np.ndarray  # the Taylor test read the walk on both sides of the input (``model.Witness``)
    sides: np.ndarray  # object: what the walk said on each side, for the report ("" where it did not walk)
    by: np.ndarray  # object: which of them spoke ("" where neither)


def second_witness(jac, reference: ResolvedReference, tolerance, resolution, wanted, accused) -> SecondWitness:
    """The Taylor test and the complex step on ``jac``'s ``wanted`` entries.

    The Taylor test reads the walk on both sides of the input (``model.Witness``) for the columns
    it covers: it agrees or disagrees only when both sides do (on a one-sided infinite slope, x
    log x at 0, one side's remainder is not a Taylor remainder at all). Elsewhere it reads the
    short one-sided ladder taken for the columns FD could not settle, but never on an entry FD
    accused: that ladder starts on the same scale as FD's steps and is fooled the same way (cos
    at 1e12: every step spans thousands of periods, and r/h tends to -J there, a remainder that
    looks exactly like a wrong derivative's). The Taylor test runs the
    function as written, on real inputs; the complex step runs it on complex ones, where an
    ``abs`` or a comparison can quietly mean something else: it speaks only where the Taylor test
    is silent.
    """
    value = reference.value
    agree, disagree, estimate = taylor_decisions(jac, value, reference.taylor, tolerance, resolution,
                                                 wanted=wanted & ~accused)
    witness = reference.witness
    complex_step = reference.complex_step
    walked = np.zeros(jac.shape, dtype=bool)
    sides = np.full(jac.shape, "", dtype=object)
    if witness is not None and np.size(witness.plus.columns):
        covered = np.zeros(jac.shape[1], dtype=bool)
        covered[np.asarray(witness.plus.columns)] = True
        deep = wanted & covered[None, :]
        walked = deep
        margin = walk_margin(reference.tol.eps)
        # Seconding FD's accusation, the walk must resolve the tolerance itself to overrule it,
        # and convicts an error one tolerance wide; deciding alone, it asks for ten.
        plus, minus = (tuple(np.where(accused, seconding, alone) for seconding, alone in zip(
            walk_decisions(sign * jac, value, ladder, tolerance, tolerance, deep & accused, margin,
                           strict=True, disagree_factor=1.0),
            walk_decisions(sign * jac, value, ladder, tolerance, resolution, deep & ~accused, margin,
                           strict=False, disagree_factor=TAYLOR_DISAGREE_FACTOR)))
            for sign, ladder in ((1.0, witness.plus), (-1.0, witness.minus)))
        def said(side):
            return np.where(side[0], "agrees", np.where(side[1], "disagrees", "no clean h or h**2 regime"))

        sides = np.where(deep, "x + h: " + said(plus).astype(object) + ", x - h: " + said(minus).astype(object), "")
        agree = np.where(covered[None, :], plus[0] & minus[0], agree)
        disagree = np.where(covered[None, :], plus[1] & minus[1], disagree)
        estimate = np.where(covered[None, :], np.fmax(plus[2], minus[2]), estimate)
        if witness.complex_step is not None:
            complex_step = complex_step.copy()
            complex_step[:, np.asarray(witness.complex_step.columns)] = witness.complex_step.jacobian
    taylor_spoke = agree | disagree
    cs_diff = np.abs(complex_step - jac)
    # Where FD is only unsure, the complex step's agreement is a vote among the AD backends'
    # (``ad_votes``), and the report counts the entries it alone verified.
    cs_close = accused & np.isfinite(cs_diff) & (cs_diff <= tolerance)
    cs_far = wanted & np.isfinite(cs_diff) & (cs_diff > TAYLOR_DISAGREE_FACTOR * tolerance)
    by = np.where(taylor_spoke, str(Evidence.TAYLOR), np.where(cs_close | cs_far, str(Evidence.COMPLEX_STEP), ""))
    # The complex step acquits but never convicts on its own word: a formula that cancels rounds
    # its imaginary part as forward-mode AD rounds a quotient (``complex_step_jacobian``).
    return SecondWitness(agree=agree | (~taylor_spoke & cs_close), disagree=disagree,
                         disagree_twice=disagree & cs_far, estimate=estimate, walked=walked, sides=sides,
                         by=by.astype(object))


def independent_dissent(name: str, jac, others: dict[str, np.ndarray], reference: ResolvedReference,
                        bound) -> np.ndarray:
    """Per entry: an AD backend of another framework agrees with FD there and not with ``jac``."""
    dissent = np.zeros(jac.shape, dtype=bool)
    for other, values in others.items():
        if (rules_of(other) or other) == (rules_of(name) or name) or values is None or values.shape != jac.shape:
            continue
        apart = reference.ad_atol + reference.tol.ad_rtol * np.maximum(np.abs(jac), np.abs(values))
        dissent |= (np.isfinite(values) & (np.abs(values - reference.jacobian) <= bound)
                    & (np.abs(values - jac) > apart))
    return dissent


WALK_WINDOW = 4  # consecutive rungs an estimate is read from
# Below a window that reads an error, a rung contradicts it where h |error| is this many
# thresholds wide and the remainder less than its share 1/WALK_CONTRADICTION of h |error|.
WALK_CONTRADICTION = 2.0


def walk_decisions(jacobian, value, ladder, tolerance, resolution, wanted, margin, strict: bool,
                   disagree_factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(agree, disagree, estimate of |J - J_true|) from the walk down to an ulp (``model.Witness``).

    On that walk three regimes follow each other: steps long against the function's variation,
    where r/h tends to -J plus a term like 1/h (its changes grow as h shrinks); the Taylor
    regime, where r/h = (J_true - J) + c h + ..., whose changes shrink by the step ratio; and
    rounding, where r/h is noise over h. So the estimate is read from a window of
    ``WALK_WINDOW`` consecutive rungs, all far above the noise, whose r/h changes shrink from one
    rung to the next: Richardson's extrapolation of the last pair there is the error, and its
    difference from the one before plus the noise they carry its uncertainty; of such windows in
    the last unbroken run of them, the one with the smallest uncertainty (a long step carries less
    of the noise over h, a short one less of the curvature: sinc at 1e-8 needs steps near 1e-5).
    A remainder like
    h log h (a one-sided infinite slope) changes by the same amount at every rung, and has no
    such window. Agree: within the tolerance (``strict``ly: at the far end of the uncertainty
    too), with an uncertainty within ``resolution``; disagree: ``disagree_factor`` tolerances
    outside it, with an uncertainty under a tenth of the error, and no shorter rung contradicting
    it (a remainder far under the h |error| it predicts there). Otherwise nothing.
    """
    shape = jacobian.shape
    agree = np.zeros(shape, dtype=bool)
    disagree = np.zeros(shape, dtype=bool)
    estimate = np.full(shape, np.nan)
    noise = TAYLOR_NOISE_MARGIN * np.asarray(ladder.noise, dtype=float) + np.finfo(float).tiny
    threshold = (np.broadcast_to(np.asarray(margin, dtype=float), noise.shape) / TAYLOR_NOISE_MARGIN) * noise
    for c, j in enumerate(np.asarray(ladder.columns)):
        rows = np.flatnonzero(wanted[:, j] & np.isfinite(jacobian[:, j]))
        h = ladder.steps[c]
        if rows.size == 0 or h.size < WALK_WINDOW:
            continue
        with np.errstate(all="ignore"):
            r = ladder.values[rows, c, :] - value[rows, None] - h[None, :] * jacobian[rows, j][:, None]
            finite = np.isfinite(r)
            above = finite & (np.abs(np.where(finite, r, 0.0)) > threshold[rows, None])
            quiet = ~above.any(axis=1) & finite.all(axis=1)
            bound = threshold[rows[quiet]] / h[0]
            estimate[rows[quiet], j] = bound
            agree[rows[quiet], j] = bound <= tolerance[rows[quiet], j]
            ratio = np.where(above, r / h[None, :], np.nan)
            step = h[:-1] / h[1:]
            extrapolated = (step * ratio[:, 1:] - ratio[:, :-1]) / (step - 1)
            changes = np.abs(np.diff(ratio, axis=1))
            # Each window's estimate (its last extrapolation) and uncertainty; the window that
            # knows the error best is read.
            last = np.arange(WALK_WINDOW - 2, h.size - 1)  # the last extrapolation of each window
            spread = (np.abs(extrapolated[:, last] - extrapolated[:, last - 1])
                      + (step[last] / (step[last] - 1))[None, :] * noise[rows, None] / h[None, last + 1])
            valid = np.zeros(spread.shape, dtype=bool)
            # r/h may stand still (a linear function) only where the secant slope it comes from
            # does: among steps far longer than the function's variation, the secant (f(x+h) -
            # f(x))/h is a vanishing O(1/h) and r/h sits at -J, which is no measurement at all.
            secant = np.abs(ratio + jacobian[rows, j][:, None])
            for w in range(last.size):
                still = TAYLOR_STILL * secant[:, w + WALK_WINDOW - 1]
                valid[:, w] = (above[:, w:w + WALK_WINDOW].all(axis=1)
                               & (changes[:, w + 1] <= TAYLOR_SHRINK * changes[:, w] + still)
                               & (changes[:, w + 2] <= TAYLOR_SHRINK * changes[:, w + 1] + still))
            valid &= np.isfinite(spread)
            # A window whose steps left the value exactly as it was (f(x + h) == f(x): r/h = -J
            # to the last bit, "still") measures a flat function only if the value stays put on
            # every shorter step too. Steps that alias a periodic function land on the same value
            # (sinc at an integer near 7.5e11, stepped by integers, inside a sum of order one)
            # while shorter ones move it again: such a window measures nothing.
            unmoved = ladder.values[rows, c, :] == value[rows, None]
            flat_from = np.flip(np.cumprod(np.flip(unmoved, axis=1), axis=1), axis=1).astype(bool)
            for w in range(last.size):
                valid[:, w] &= ~unmoved[:, w:w + WALK_WINDOW].all(axis=1) | flat_from[:, w]
            # Only the last run of consecutive valid windows: the Taylor regime is one stretch
            # of steps that reaches down to the noise, and a window that happens to look valid
            # among the long steps (an oscillation's remainders can shrink by chance) lies
            # before a gap.
            after = np.cumsum(~valid[:, ::-1], axis=1)[:, ::-1]  # invalid windows at or after each
            valid &= after == np.min(np.where(valid, after, after.shape[1] + 1), axis=1, keepdims=True)
            spread = np.where(valid, spread, np.inf)
            best = np.argmin(spread, axis=1)
            picked = np.flatnonzero(np.isfinite(spread[np.arange(rows.size), best]))
            k = last[best[picked]]
            delta = np.abs(extrapolated[picked, k])
            uncertainty = spread[picked, best[picked]]
            # A wrong derivative's remainder goes on falling like h |error| below its window,
            # down to the noise. A shorter rung where h |error| stands well above the noise but
            # the remainder is far smaller says the window read no error: an oscillation's long
            # steps whose r/h (about -J) happened to change less and less (sinc at 1.5e10). A
            # rung whose value did not move at all is rounding (a formula that cancels to an
            # exact 0 on the shortest steps), not a smaller remainder.
            # (the window's own trend, r/h = error + c h, carried down: a curvature term that
            # still shows at the window's last rung shrinks the remainder as expected)
            slope = (ratio[picked, k + 1] - extrapolated[picked, k]) / h[k + 1]
            predicted = h[None, :] * (extrapolated[picked, k][:, None] + slope[:, None] * h[None, :])
            beyond = np.arange(h.size)[None, :] > (k + 1)[:, None]
            moved = ladder.values[rows[picked], c, :] != value[rows[picked], None]  # (unmoved: rounding's zero)
            contradicted = (beyond & finite[picked] & moved
                            & (np.abs(predicted) > WALK_CONTRADICTION * threshold[rows[picked], None])
                            & (r[picked] * np.sign(predicted) < np.abs(predicted) / WALK_CONTRADICTION)).any(axis=1)
        at = rows[picked]
        allowed = tolerance[at, j]
        estimate[at, j] = delta + uncertainty
        close = (delta + uncertainty <= allowed) if strict else (delta <= allowed + uncertainty)
        agree[at, j] = close & (uncertainty <= resolution[at, j])
        disagree[at, j] = ((delta - uncertainty > disagree_factor * allowed) & (uncertainty <= TAYLOR_CONVERGED * delta)
                           & ~contradicted)
    return agree, disagree, estimate


# --- AD consensus ----------------------------------------------------------------------------------


def ad_votes(name: str, jacobian, others: dict[str, np.ndarray], reference: ResolvedReference):
    """(verified, contested, voters) per entry: what the other AD backends and the complex step
    say about ``jacobian`` where nothing else settled it.

    verified: every voter with a finite value agrees at the tight AD tolerance; contested: some
    voter differs. A contested entry is not a disagreement: an ill-conditioned formula rounds
    differently in each implementation, and one framework's rule can be as wrong as another's.
    """
    shape = jacobian.shape
    voters = {o: j for o, j in others.items() if o != name and j is not None and j.shape == shape}
    if np.isfinite(reference.complex_step).any():
        voters["complex step"] = reference.complex_step
    agree_count = np.zeros(shape, dtype=int)
    disagree_count = np.zeros(shape, dtype=int)
    who = np.full(shape, "", dtype=object)
    for other, values in voters.items():
        both = np.isfinite(jacobian) & np.isfinite(values)
        bound = reference.ad_atol + reference.tol.ad_rtol * np.maximum(np.abs(jacobian), np.abs(values))
        close = both & (np.abs(jacobian - values) <= bound)
        agree_count += close
        disagree_count += both & ~close
        who = np.where(close, np.where(who == "", other, who + ", " + other), who)
    verified = (agree_count > 0) & (disagree_count == 0)
    contested = disagree_count > 0
    return verified, contested, who


# --- judging one backend ------------------------------------------------------------------------------


def compare(runs, rtol: float | None = None, atol: float | None = None, *, eps_rows=None,
            input_scales=1.0, own_scales=None) -> Comparison:
    """Full mode: every computed backend's Jacobian against the resolved reference and each other.

    ``input_scales``: each input's scale (``finite_differences.input_scales``), for the units of
    the absolute tolerances; ``own_scales``: each input's own magnitude
    (``finite_differences.step_scales``), for how far a noisy value's rounding carries into AD."""
    reference_run = next((r for r in runs if r.status == Status.REFERENCE), None)
    computed = [r for r in runs if r.status == Status.COMPUTED and r.jacobian is not None]
    resolved = None
    if reference_run is not None and reference_run.jacobian is not None:
        resolved = resolve_reference(reference_run, [r.jacobian for r in computed if r.value is not None
                                                     and r.value.shape == reference_run.value.shape],
                                     rtol, atol, eps_rows, input_scales, own_scales)
    impure = _impurity(reference_run)
    others = {r.name: r.jacobian for r in computed}
    verdicts = []
    for run in runs:
        if run.status == Status.REFERENCE:
            verdicts.append(_reference_verdict(run, impure))
        elif run.status == Status.COMPUTED and run.jacobian is not None:
            verdicts.append(judge(run, resolved, others, impure=impure))
        else:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
    # A backend whose value differs from plain numpy's under adcheck's rebinding cannot run this
    # code: its Jacobian is of another function and must not vote on the others' entries.
    rejected = {v.name for v in verdicts if v.status == Status.NOT_APPLICABLE}
    if rejected & set(others):
        others = {name: jac for name, jac in others.items() if name not in rejected}
        verdicts = [judge(next(r for r in runs if r.name == v.name), resolved, others, impure=impure)
                    if v.name in others else v for v in verdicts]
    verdicts = _rebinding_differs(verdicts, runs)
    odd, consensus = _consensus(verdicts, resolved, computed, impure)
    return Comparison(tuple(verdicts), odd, consensus)


def _rebinding_differs(verdicts: list[BackendVerdict], runs) -> list[BackendVerdict]:
    """Code written for one AD system, differentiated by another only through adcheck's rebinding:
    when a backend the code is written for agrees with the reference and a rebound one disagrees,
    the difference is the rebinding's (``jnp.std``'s NaN at zero variance in autograd code), not
    the user's derivative, and the rebound row is ``not-applicable``. Code written for plain numpy
    has no such backend: every AD backend is rebound there, and a disagreement stands."""
    rebound = {r.name: r.rebound for r in runs if r.status == Status.COMPUTED}
    native = [v.name for v in verdicts if v.name in rebound and not rebound[v.name]
              and v.status in (Status.AGREE, Status.KINK)]
    if not native:
        return verdicts
    names = ", ".join(native)
    verb = "agrees" if len(native) == 1 else "agree"
    return [replace(
                v, status=Status.NOT_APPLICABLE,
                message=f"with {rebound[v.name]} the derivative differs ({v.message}), while {names}, which this code is "
                        f"written for, {verb} with the reference: the rebinding differs here, not your derivative")
            if v.status == Status.DISAGREE and rebound.get(v.name) and not v.primal_mismatch else v
            for v in verdicts]


def _impurity(reference: BackendRun | None) -> str:
    """Why the reference is unusable (the function's value changes between identical calls), or ""."""
    if reference is None:
        return ""
    findings = reference.probes.findings if reference.probes is not None else ()
    for finding in findings:
        if finding.code == "ADC601":
            return finding.message
    if reference.reference is not None and reference.reference.impure:
        return reference.reference.impure
    return ""


def _reference_verdict(run: BackendRun, impure: str) -> BackendVerdict:
    if impure:
        return BackendVerdict(run.name, Status.UNUSABLE, run.seconds,
                              f"the function's value changes between identical calls ({impure}): finite differences "
                              "of it verify nothing", run.location)
    return BackendVerdict(run.name, Status.REFERENCE, run.seconds, run.message, run.location)


def judge(run: BackendRun, reference: ResolvedReference | None, others: dict[str, np.ndarray],
          impure: str = "") -> BackendVerdict:
    """One backend's verdict from its Jacobian, the resolved reference and the other AD backends'."""

    def refuse(status, message):
        return BackendVerdict(run.name, status, run.seconds, message, run.location)

    if reference is None:
        return refuse(Status.ERROR, "no finite-difference reference to compare with")
    if run.value.shape != reference.value.shape:
        message = f"returned {run.value.size} output values; plain numpy returned {reference.value.size}"
        return refuse(Status.NOT_APPLICABLE if run.rebound else Status.ERROR,
                      f"{message} (with {run.rebound})" if run.rebound else message)
    primal = primal_mismatch(run.value, reference.value, reference.tol)
    if primal and run.rebound:
        return refuse(Status.NOT_APPLICABLE, f"with {run.rebound} the function computes other values ({primal}); "
                                             "adcheck rebound the code in this worker, and it does not mean the same there")
    elsewhere = _other_function_nearby(run, reference)
    jac = run.jacobian
    ref = reference.jacobian
    diff = np.abs(jac - ref)
    bound = agreement_bound(ref, reference.error, reference.tol, reference.atol)
    nonfinite = ~np.isfinite(jac) & np.isfinite(reference.fd)
    usable = ~impure_mask(impure, jac.shape)
    settled = reference.settled & usable
    # Outside the reference's error bar disagrees, however wide the bar; inside a wide one verifies nothing.
    outside = usable & np.isfinite(ref) & ~(diff <= bound)
    disagree = (settled & outside) | nonfinite
    agree = settled & ~disagree

    kinks = np.zeros(jac.shape, dtype=bool)
    if reference.one_sided is not None:
        at_kink, between = _kinks(jac, reference.one_sided, bound)
        kinks = at_kink & between  # any value between the one-sided slopes is a valid subgradient
        disagree = (disagree & ~at_kink) | (at_kink & ~between) | nonfinite
        agree = (agree | kinks) & ~disagree
        outside &= ~at_kink

    # A value computed with cancellation carries rounding noise that AD differentiates along with
    # it: such a mismatch is the formula's conditioning, not a wrong rule, and nothing can settle it.
    # The same for the backend's own computation: its derivative cancels, and a few ulps' nudge of
    # the input moves it by more than the difference (measured only after a disagreement).
    own_reach = _own_noise_reach(run)
    explained = np.zeros(jac.shape, dtype=bool)
    self_explained = explained.copy()
    if disagree.any():  # (most backends agree everywhere: nothing to explain)
        explained = disagree & ~nonfinite & rounding_explains(diff, reference)
        keeps_digits = diff <= OWN_NOISE_MAX_LOSS * np.maximum(np.abs(jac), np.abs(ref))
        self_explained = disagree & ~nonfinite & ~explained & np.isfinite(diff) & (diff <= own_reach) & keeps_digits
        explained |= self_explained
        disagree &= ~explained
    tolerance = reference.atol + reference.tol.rtol * np.abs(jac)
    evidence = np.full(jac.shape, "", dtype=object)
    # Finite differences alone never convict: an entry outside their bar, settled or not, is
    # accused, and a second witness decides it (``second_witness``). Until one has been asked
    # (``reference.witness`` is None: the first comparison of a run) the accusation stands
    # provisionally, and the run asks one (``run._second_look``).
    accused = (disagree & ~nonfinite) | (outside & ~agree & ~disagree & ~explained)
    disagree &= ~accused
    undecided = ~(agree | disagree | accused)  # FD silent: too wide to decide, the value inside its bar
    taylor_estimate = np.full(jac.shape, np.nan)
    walk_sides = None
    overruled = np.zeros(jac.shape, dtype=bool)
    unwitnessed = np.zeros(jac.shape, dtype=bool)
    if (undecided | accused).any() and not impure:
        resolution = reference.atol + reference.tol.fd_rtol * np.abs(jac)
        second = second_witness(jac, reference, tolerance, resolution, undecided | accused, accused)
        taylor_estimate, walk_sides = second.estimate, second.sides
        convicted = accused & second.disagree
        overruled = accused & second.agree & ~second.disagree
        disagree |= convicted
        agree |= overruled
        # Another framework's AD that sides with FD is a witness too (two independent systems
        # against one); jax-fwd and jax-rev, or torch's two modes, share their rules and are not.
        seconded = accused & ~(convicted | overruled) & independent_dissent(run.name, jac, others, reference, bound)
        convicted |= seconded
        disagree |= seconded
        evidence[seconded] = Evidence.OTHER_FRAMEWORK
        unwitnessed = accused & ~(convicted | overruled)
        if reference.witness is None:
            disagree |= unwitnessed
        # Where FD cannot decide, one witness may verify an entry. Convicting it takes the Taylor
        # test and the complex step, or the walk on both sides of the input: the short ladder
        # alone starts where FD's steps do, and is fooled where they are.
        silent = undecided & ~outside
        agree |= silent & second.agree
        lone = silent & second.disagree & ~second.disagree_twice
        disagree |= (silent & second.disagree_twice) | (lone & second.walked)
        unwitnessed |= lone & ~second.walked
        if reference.witness is None:
            disagree |= lone
        decided = (convicted | overruled
                   | (silent & (second.agree | second.disagree_twice | (second.disagree & second.walked))))
        evidence[decided] = second.by[decided]
        undecided = ~(agree | disagree)
    consensus = np.zeros(jac.shape, dtype=bool)
    contested = np.zeros(jac.shape, dtype=bool)
    voters = np.full(jac.shape, "", dtype=object)
    if undecided.any():
        verified, contested, voters = ad_votes(run.name, jac, others, reference)
        # (not where FD accused: agreement among AD backends cannot outvote FD, only a witness can)
        consensus = undecided & verified & ~explained & ~unwitnessed  # they differentiate the same rounding too
        agree |= consensus
        contested &= undecided
        evidence[consensus] = Evidence.AD_CONSENSUS
        undecided = ~(agree | disagree)

    # Errors are measured against the reference where it settled the entry; elsewhere the
    # difference from an unsure FD value means nothing.
    judged = (settled & ~kinks & ~accused) | nonfinite
    ratio = np.where(np.isfinite(diff), diff / np.where(bound > 0, bound, np.finfo(float).tiny), np.inf)
    ratio_judged = np.where(judged | disagree, ratio, -1.0)
    worst = None
    if ratio.size and (judged | disagree).any():
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio_judged)), ratio.shape))
    finite_judged = (judged | disagree) & np.isfinite(diff)  # a disagreement outside a wide bar counts too
    max_abs = float(np.max(diff[finite_judged])) if finite_judged.any() else None
    if nonfinite.any():
        max_abs = float("nan")
    max_rel = float(np.max(ratio[finite_judged])) if finite_judged.any() else None

    listed = _entries(disagree, ratio, jac, reference, ratio)
    unsure = _entries(undecided & usable, np.abs(reference.fd_error), jac, reference, ratio,
                      evidence_for=lambda i, j: inconclusive_evidence(i, j, reference, taylor_estimate, tolerance,
                                                                      others, run.name, contested,
                                                                      explained & ~self_explained,
                                                                      own_reach if self_explained[i, j] else None,
                                                                      accused=unwitnessed, walk_sides=walk_sides))
    n_disagree, n_undecided = int(disagree.sum()), int(undecided.sum())
    n_consensus = int(consensus.sum())
    if n_disagree and not primal and elsewhere:
        return refuse(Status.NOT_APPLICABLE,
                      f"with {run.rebound} the code computes another function: the same value at the input, but "
                      f"not near it ({elsewhere}), so its derivative is that other function's; adcheck rebound the "
                      "code in this worker, and it does not mean the same there")
    if primal or n_disagree:
        status = Status.DISAGREE
        if primal:
            message = primal
        else:
            message = f"{n_disagree} of {disagree.size} entries outside tolerance"
            if nonfinite.any():
                message += f" ({int(nonfinite.sum())} NaN/inf where finite differences are finite)"
    elif impure:
        status = Status.INCONCLUSIVE
        message = "no usable reference: the function's value changes between identical calls"
    elif n_undecided:
        status = Status.INCONCLUSIVE
        why = ("the other AD backends give other values there" if (contested & undecided).any()
               else "no other AD backend could confirm them")
        message = (f"{n_undecided} of {undecided.size} entries could not be verified: finite differences cannot "
                   f"settle them and {why}")
        if (unwitnessed & undecided).any():
            message = (f"{n_undecided} of {undecided.size} entries could not be verified: finite differences "
                       "disagree there, but no second witness (the Taylor test, the complex step) confirms them, "
                       "and finite differences alone convict nothing")
        elif self_explained.any():
            message = (f"{n_undecided} of {undecided.size} entries could not be verified: {run.name}'s own "
                       "derivative carries rounding noise (its computation cancels) as large as the difference")
        elif explained.any():
            message = (f"{n_undecided} of {undecided.size} entries could not be verified: the function's value "
                       "carries rounding noise (a formula that cancels), which AD differentiates along with it")
    elif kinks.any():
        status = Status.KINK
        count = int(kinks.sum())
        message = (f"{count} {'entry' if count == 1 else 'entries'} at a kink, where the value lies between "
                   "the one-sided derivatives (a valid subgradient)")
    else:
        status = Status.AGREE
        message = ""
    if n_consensus and status in (Status.AGREE, Status.KINK, Status.INCONCLUSIVE):
        confirmed_by = {name for entry in voters[consensus].ravel() for name in str(entry).split(", ") if name}
        what = ("the complex step" if confirmed_by == {"complex step"} else
                "agreement with the other AD backends" + (" and the complex step" if "complex step" in confirmed_by
                                                          else ""))
        verified = f"{n_consensus} {'entry' if n_consensus == 1 else 'entries'} verified only by {what}"
        message = f"{message}; {verified}" if message else verified
    if overruled.any() and status != Status.DISAGREE:
        message = f"{message}; {overruled_sentence(overruled, evidence, reference)}" if message else \
            overruled_sentence(overruled, evidence, reference)
    return BackendVerdict(
        name=run.name, status=status, seconds=run.seconds, message=message, location=run.location,
        max_abs_error=max_abs, max_rel_error=max_rel, worst_entry=worst, mismatches=listed,
        n_mismatches=n_disagree, n_inconclusive=n_undecided, inconclusive=unsure, n_consensus=n_consensus,
        n_nonfinite=int(nonfinite.sum()), n_kinks=int(kinks.sum()), mismatch_mask=disagree,
        n_entries=int(jac.size), n_overruled=int(overruled.sum()),
        unwitnessed=unwitnessed if reference.witness is None and unwitnessed.any() else None,
        kinks=tuple((int(i), int(j)) for i, j in zip(*np.nonzero(kinks)))[:MAX_LISTED_MISMATCHES],
        primal_mismatch=primal,
    )


def impure_mask(impure: str, shape) -> np.ndarray:
    return np.full(shape, bool(impure))


def _entries(mask, priority, jac, reference: ResolvedReference, ratio, evidence_for=None) -> tuple[EntryMismatch, ...]:
    """The first few entries of ``mask``, highest ``priority`` first."""
    if not mask.any():
        return ()
    order = np.argsort(-np.where(mask, np.nan_to_num(priority, nan=np.inf, posinf=np.inf), -np.inf), axis=None,
                       kind="stable")
    listed = []
    for flat in order[: min(MAX_LISTED_MISMATCHES, int(mask.sum()))]:
        i, j = (int(k) for k in np.unravel_index(flat, mask.shape))
        diff = abs(float(jac[i, j]) - float(reference.jacobian[i, j]))
        listed.append(EntryMismatch(i, j, float(jac[i, j]), float(reference.jacobian[i, j]),
                                    float(reference.error[i, j]), diff, float(ratio[i, j]),
                                    evidence_for(i, j) if evidence_for else ""))
    return tuple(listed)


def overruled_sentence(overruled, evidence, reference: ResolvedReference) -> str:
    """Where FD disagreed and the second witness sided with the backend: how many, who, and why
    FD's error bar was wrong there."""
    count = int(overruled.sum())
    i, j = (int(k) for k in np.argwhere(overruled)[0])
    witnesses = " and ".join(f"the {e}" for e in sorted({str(e) for e in evidence[overruled]}))
    return (f"finite differences overruled at {count} {'entry' if count == 1 else 'entries'} by {witnesses} "
            f"(fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e} at entry ({i}, {j}): its steps, "
            "on the input's own scale, are long against how fast the function varies there)")


def inconclusive_evidence(i, j, reference: ResolvedReference, taylor_estimate, tolerance, others, name,
                          contested, explained=None, own_reach=None, accused=None, walk_sides=None) -> str:
    """What each method said about entry (i, j), for the report of an inconclusive entry."""
    if own_reach is not None:
        return (f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e}; {name}'s own value moves by up to "
                f"{own_reach[i, j] / OWN_NOISE_FACTOR:.1e} when the input moves by a few ulps (rounding in its "
                "derivative's computation), which covers the difference")
    if explained is not None and explained[i, j]:
        return (f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e}; the value carries rounding noise "
                f"of {reference.noise[i]:.1e} (cancellation), and a difference up to "
                f"{_rounding_reach(reference)[i, j]:.1e} is that noise differentiated")
    parts = [f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e} "
             + ("(disagrees, alone)" if accused is not None and accused[i, j] else "(too wide to decide)")]
    witness_note = reference.witness.complex_step_note if reference.witness is not None else ""
    if np.isfinite(reference.complex_step[i, j]):
        parts.append(f"complex step {reference.complex_step[i, j]:.6g}")
    elif witness_note or reference.complex_step_note:
        parts.append(f"complex step: {witness_note or reference.complex_step_note}")
    ladder = reference.taylor
    if walk_sides is not None and walk_sides[i, j]:
        parts.append(f"Taylor walk down to an ulp: {walk_sides[i, j]}"
                     + (" (one side not smooth: a kink or a one-sided infinite slope)"
                        if "agrees" in walk_sides[i, j] and "no clean" in walk_sides[i, j] else ""))
    elif ladder is not None and j in set(np.asarray(ladder.columns).tolist()):
        value = taylor_estimate[i, j]
        parts.append("Taylor: no clean h or h**2 slope above rounding noise" if not np.isfinite(value)
                     else f"Taylor: error up to {value:.1e} against a tolerance of {tolerance[i, j]:.1e}")
    else:
        parts.append("Taylor: not run")
    if contested[i, j]:
        parts.append("the AD backends differ here")
    elif not any(o != name for o in others):
        parts.append("no other AD backend")
    return "; ".join(parts)


# A value's rounding noise counts as the formula's own when it exceeds this many ulps of the
# value (one operation rounds by half an ulp; a formula that cancels loses digits by the
# thousand). AD then differentiates the rounded terms: for a value g(x) r with r rounded by
# delta, AD's derivative is off by about |g'| delta ~ noise / |x_j| (power laws), times this.
CANCELLATION_ULPS = 64.0
ROUNDING_REACH_FACTOR = 4.0


def _rounding_reach(reference: ResolvedReference) -> np.ndarray:
    """Per entry, how far the value's rounding noise can move an AD derivative (0 where the
    value is not noisy beyond ordinary rounding)."""
    shape = reference.jacobian.shape
    if reference.noise is None or reference.own_scales is None:
        return np.zeros(shape)
    noise = np.asarray(reference.noise, dtype=float).reshape(-1)
    eps = reference.tol.eps
    value = np.abs(np.where(np.isfinite(reference.value), reference.value, 0.0))
    noisy = noise > CANCELLATION_ULPS * eps * value
    scales = np.where(reference.own_scales > 0, reference.own_scales, np.inf)
    return np.where(noisy[:, None], ROUNDING_REACH_FACTOR * noise[:, None] / scales[None, :], 0.0)


# A backend's derivative counts as within its own rounding noise up to this many times the
# largest move seen under ``workers.JITTER_ULPS`` nudges (four samples of a noise's spread),
# as long as it keeps two significant digits: a derivative whose rounding costs it more than
# this share of its size is no answer (jnp.sinc's slope near 0, a third too small), and stays a
# disagreement.
OWN_NOISE_FACTOR = 4.0
OWN_NOISE_MAX_LOSS = 1e-2


def _own_noise_reach(run: BackendRun) -> np.ndarray:
    if run.own_noise is None or run.jacobian is None or run.own_noise.shape != run.jacobian.shape:
        return np.zeros(() if run.jacobian is None else run.jacobian.shape)
    return OWN_NOISE_FACTOR * np.where(np.isfinite(run.own_noise), run.own_noise, 0.0)


def rounding_explains(diff: np.ndarray, reference: ResolvedReference) -> np.ndarray:
    """Entries whose difference the value's own rounding noise, differentiated, explains."""
    return np.isfinite(diff) & (diff <= _rounding_reach(reference))


def _other_function_nearby(run: BackendRun, reference: ResolvedReference) -> str:
    """For rebound code: a sentence when its values near the input differ from plain numpy's
    (numpy's ``eigh`` reads one triangle, ``jax.numpy``'s symmetrises: equal at a symmetric
    input, different a step away), else ""."""
    if not run.rebound or run.nearby is None or reference.nearby is None or run.nearby.shape != reference.nearby.shape:
        return ""
    for values, plain in zip(run.nearby, reference.nearby):
        differs = primal_mismatch(values, plain, reference.tol)
        if differs:
            return differs.replace("function value differs from plain numpy",
                                   f"{NEARBY_WORDS}, the value differs from plain numpy's")
    return ""


NEARBY_WORDS = "a move of 1e-3 of each input away"


def primal_mismatch(value, reference, tol: RowTolerances) -> str:
    """A sentence when a backend's function value differs from plain numpy's, else ""."""
    if value.shape != reference.shape:
        return f"returned {value.size} output values; plain numpy returned {reference.size}"
    finite = np.abs(reference[np.isfinite(reference)])
    atol = tol.atol_scale.ravel() * (float(finite.max()) if finite.size else 0.0)
    bad = ~(np.abs(value - reference) <= atol + tol.rtol.ravel() * np.abs(reference))
    bad &= ~(np.isnan(value) & np.isnan(reference))
    bad &= ~((value == reference) & np.isinf(reference))
    if not bad.any():
        return ""
    k = int(np.argmax(bad))
    return (f"function value differs from plain numpy at output {k}: {value[k]:.6g} vs {reference[k]:.6g} "
            f"({int(bad.sum())} of {bad.size} outputs)")


def _kinks(jac, one_sided: OneSided, bound) -> tuple[np.ndarray, np.ndarray]:
    """Entries where the one-sided derivatives differ, and where the AD value lies between them."""
    at_kink = np.zeros(jac.shape, dtype=bool)
    between = np.zeros(jac.shape, dtype=bool)
    for k, column in enumerate(np.asarray(one_sided.columns)):
        plus, minus = one_sided.plus[:, k], one_sided.minus[:, k]
        slack = bound[:, column] + ERROR_ESTIMATE_FACTOR * (
            np.nan_to_num(one_sided.plus_error[:, k], posinf=0.0) + np.nan_to_num(one_sided.minus_error[:, k], posinf=0.0))
        at_kink[:, column] = np.abs(plus - minus) > slack
        value = jac[:, column]
        between[:, column] = (value >= np.minimum(plus, minus) - slack) & (value <= np.maximum(plus, minus) + slack)
    return at_kink, between


def _consensus(verdicts, reference: ResolvedReference | None, computed, impure: str) -> tuple[tuple[str, ...], str]:
    """Who is the odd one out when backends disagree, in one sentence."""
    by_name = {v.name: v for v in verdicts}
    ad = [r for r in computed if by_name[r.name].status in (Status.AGREE, Status.KINK, Status.DISAGREE,
                                                            Status.INCONCLUSIVE)]
    if impure:
        agreeing = len(ad) >= 2 and reference is not None and _all_agree_with_each_other(ad, reference)
        tail = "; the AD backends agree with each other" if agreeing else ""
        return ("fd",), ("the function's value changes between identical calls (state, randomness or a cache): "
                         f"its derivative is not defined, and no backend can be checked against it{tail}")
    failing = [r.name for r in ad if by_name[r.name].status in FAILING]
    passing = [r.name for r in ad if by_name[r.name].status not in FAILING]
    if not failing:
        return (), ""
    if passing:
        return tuple(failing), disagreement_sentence(failing, passing)
    if len(ad) >= 2 and reference is not None and _all_agree_with_each_other(ad, reference):
        return tuple(failing), ("every AD backend agrees with the others but not with finite differences, and a "
                                "second witness (the Taylor remainder or the complex step) sides with finite "
                                "differences; the function gives the same value on every call: a derivative rule "
                                "these backends share is wrong")
    if len(ad) == 1:
        return tuple(failing), f"{failing[0]}, the only AD backend that ran, disagrees with finite differences"
    return tuple(failing), "the backends disagree with finite differences and with each other"


def _all_agree_with_each_other(runs, reference: ResolvedReference) -> bool:
    first = runs[0].jacobian
    for other in runs[1:]:
        values = other.jacobian
        if values.shape != first.shape:
            return False
        bound = reference.ad_atol + np.maximum(reference.tol.ad_rtol, reference.tol.rtol) * np.abs(first)
        if not np.all(np.abs(values - first) <= bound):
            return False
    return True


# --- second order -------------------------------------------------------------------------------------


def compare_second_order(runs, rtol=None, atol=None, *, eps_rows=None, input_scales=1.0) -> Comparison | None:
    """``--order 2``: each backend's second derivative against FD of its own first derivative,
    then against the other backends' second derivatives."""
    verdicts, computed, resolved_by_name = [], {}, {}
    for run in runs:
        data = run.second_order if run.status == Status.COMPUTED else None
        if data is None:
            continue
        if data.status != Status.COMPUTED:
            verdicts.append(BackendVerdict(run.name, Status(data.status), run.seconds, data.message))
            continue
        computed[run.name] = data
    for name, data in computed.items():
        own = BackendRun("fd", Status.REFERENCE, value=data.value, jacobian=data.fd, error=data.fd_error)
        run = BackendRun(name, Status.COMPUTED, next(r.seconds for r in runs if r.name == name), value=data.value,
                         jacobian=data.jacobian)
        others = {other: d.jacobian for other, d in computed.items()}
        eps = eps_rows if eps_rows is not None and np.size(eps_rows) == data.value.size else None
        resolved = resolve_reference(own, [d.jacobian for d in computed.values()], rtol, atol,
                                     eps if eps is not None else uniform_eps(data.value.size), input_scales)
        verdict = judge(run, resolved, others)
        resolved_by_name[name] = resolved
        if verdict.status == Status.DISAGREE:
            verdict = replace(verdict, message=f"differs from FD of its own first derivative: {verdict.message}")
        verdicts.append(verdict)
    if not verdicts:
        return None
    # Across backends: a second derivative that passes its own check but differs from the
    # others' means the first derivatives differ too (the first-order table says which).
    by_name = {v.name: v for v in verdicts}
    for name, data in computed.items():
        if by_name[name].status != Status.AGREE:
            continue
        agreeing = [o for o, d in computed.items() if o != name and by_name[o].status == Status.AGREE]
        own = resolved_by_name[name]
        differing = [o for o in agreeing if not np.all(
            np.abs(computed[o].jacobian - data.jacobian) <= own.atol + own.tol.rtol * np.abs(computed[o].jacobian))]
        if differing and len(differing) == len(agreeing):
            by_name[name] = replace(by_name[name], status=Status.DISAGREE, message=f"differs from {', '.join(differing)}")
    verdicts = [by_name[v.name] for v in verdicts]
    failing = tuple(v.name for v in verdicts if v.status in FAILING)
    passing = [v.name for v in verdicts if v.status not in FAILING]
    sentence = disagreement_sentence(failing, passing, with_reference=False)
    return Comparison(tuple(verdicts), failing, f"second derivatives: {sentence}" if sentence else "")


def precision_of(reference: BackendRun | None, n_outputs: int, dtype) -> Precision:
    """The reference's measured precision, or the input dtype's when there is none."""
    if reference is not None and reference.reference is not None:
        return reference.reference.precision
    name = np.dtype(dtype).name
    return Precision(name if name in EPS else "float64", uniform_eps(n_outputs, dtype), measured=False)
