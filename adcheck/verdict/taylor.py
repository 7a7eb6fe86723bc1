"""The Taylor remainder test: the short ladder FD's unsettled columns get, and the walk down to
an ulp on both sides of the input that a second witness reads.
"""

from __future__ import annotations

import numpy as np


TAYLOR_NOISE_MARGIN = 10.0  # a remainder counts when it is this many times one evaluation's noise
# The noise of a value is at least the spacing of floats at zero: a remainder below one subnormal
# step is no remainder. (Not finfo.tiny: numpy keeps subnormal values with their bits, and x**2
# at 1e-155 is 1e-310 to 45 bits; a floor at tiny would call every remainder of it noise.)
NOISE_FLOOR = float(np.finfo(np.float64).smallest_subnormal)
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
# Seconding finite differences whose own error bar settles the entry, the walk's estimate may be
# this uncertain, as long as its interval holds FD's measured error and lies wholly outside the
# tolerance: two witnesses then measure the same error. (A float32 value near pi carries noise
# that keeps the walk's uncertainty at a fifth of a 1e-3 error, twice the tolerance: alone the
# walk decides nothing there, beside FD's ±4e-6 it confirms.)
TAYLOR_SECONDING_CONVERGED = 0.5
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
    noise = TAYLOR_NOISE_MARGIN * np.asarray(ladder.noise, dtype=float) + NOISE_FLOOR
    for c, j in enumerate(np.asarray(ladder.columns)):
        pick = np.arange(shape[0]) if wanted is None else np.flatnonzero(wanted[:, j])
        if pick.size == 0:
            continue
        h = ladder.steps[c]
        with np.errstate(all="ignore"):  # a rung past overflow: its remainder is not finite, and silent
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
            local = np.flatnonzero(candidates & (last == end) & (size == points))
            _read_tail(np.arange(end - points + 1, end + 1), local, pick, j, remainders, above, h, noise,
                       tolerance, resolution, (agree, disagree, estimate))
    return agree, disagree, estimate


def _read_tail(tail, local, pick, j, remainders, above, h, noise, tolerance, resolution, out) -> None:
    """``taylor_decisions`` for the rows ``local`` (of ``pick``) whose last rungs above the noise
    are ``tail``: their extrapolated error, its uncertainty and slope, into ``out`` (agree,
    disagree, estimate) at column ``j``."""
    agree, disagree, estimate = out
    local = local[np.all(above[np.ix_(local, tail)], axis=1)]
    if local.size == 0:
        return
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
                         & (tail[-1] == h.size - 1)
                         & (TAYLOR_FIRST_ORDER[0] <= slope) & (slope <= TAYLOR_FIRST_ORDER[1]))


# --- the second witness ------------------------------------------------------------------------------



WALK_WINDOW = 4  # consecutive rungs an estimate is read from
# Below a window that reads an error, a rung contradicts it where h |error| is this many
# thresholds wide and the remainder less than its share 1/WALK_CONTRADICTION of h |error|.
WALK_CONTRADICTION = 2.0


def walk_decisions(jacobian, value, ladder, tolerance, resolution, wanted, margin, strict: bool,
                   disagree_factor: float, measured=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    ``measured``: per entry, the error |J - FD| where FD's own error bar settles it (NaN
    elsewhere); where the walk's interval holds it, an uncertainty up to
    ``TAYLOR_SECONDING_CONVERGED`` of the error is enough to disagree.
    """
    shape = jacobian.shape
    agree = np.zeros(shape, dtype=bool)
    disagree = np.zeros(shape, dtype=bool)
    estimate = np.full(shape, np.nan)
    noise = TAYLOR_NOISE_MARGIN * np.asarray(ladder.noise, dtype=float) + NOISE_FLOOR
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
            unmoved = ladder.values[rows, c, :] == value[rows, None]
            picked, k, error, uncertainty = _best_window(r, above, h, noise[rows], jacobian[rows, j], unmoved)
            contradicted = _contradicted(r[picked], h, k, error, finite[picked] & ~unmoved[picked],
                                         threshold[rows[picked]])
        at = rows[picked]
        allowed = tolerance[at, j]
        delta = np.abs(error)
        estimate[at, j] = delta + uncertainty
        close = (delta + uncertainty <= allowed) if strict else (delta <= allowed + uncertainty)
        agree[at, j] = close & (uncertainty <= resolution[at, j])
        converged = TAYLOR_CONVERGED
        if measured is not None:
            consistent = np.abs(delta - measured[at, j]) <= uncertainty  # (False where NaN)
            converged = np.where(consistent, TAYLOR_SECONDING_CONVERGED, TAYLOR_CONVERGED)
        disagree[at, j] = ((delta - uncertainty > disagree_factor * allowed) & (uncertainty <= converged * delta)
                           & ~contradicted)
    return agree, disagree, estimate


def _best_window(r, above, h, noise, jacobian_column, unmoved):
    """(rows read, the last rung of each one's window, the error estimate, its uncertainty) from
    the walk's remainders ``r`` (rows x rungs): of the windows of ``WALK_WINDOW`` rungs above the
    noise whose r/h changes shrink, in the last unbroken run of them, the one whose estimate is
    least uncertain. ``unmoved``: the rungs where f(x + h) == f(x) exactly."""
    ratio = np.where(above, r / h[None, :], np.nan)
    step = h[:-1] / h[1:]
    extrapolated = (step * ratio[:, 1:] - ratio[:, :-1]) / (step - 1)
    changes = np.abs(np.diff(ratio, axis=1))
    # Each window's estimate (its last extrapolation) and uncertainty; the window that knows the
    # error best is read.
    last = np.arange(WALK_WINDOW - 2, h.size - 1)  # the last extrapolation of each window
    spread = (np.abs(extrapolated[:, last] - extrapolated[:, last - 1])
              + (step[last] / (step[last] - 1))[None, :] * noise[:, None] / h[None, last + 1])
    valid = np.zeros(spread.shape, dtype=bool)
    # r/h may stand still (a linear function) only where the secant slope it comes from does:
    # among steps far longer than the function's variation, the secant (f(x+h) - f(x))/h is a
    # vanishing O(1/h) and r/h sits at -J, which is no measurement at all.
    secant = np.abs(ratio + jacobian_column[:, None])
    for w in range(last.size):
        still = TAYLOR_STILL * secant[:, w + WALK_WINDOW - 1]
        valid[:, w] = (above[:, w:w + WALK_WINDOW].all(axis=1)
                       & (changes[:, w + 1] <= TAYLOR_SHRINK * changes[:, w] + still)
                       & (changes[:, w + 2] <= TAYLOR_SHRINK * changes[:, w + 1] + still))
    valid &= np.isfinite(spread)
    # A window whose steps left the value exactly as it was (f(x + h) == f(x): r/h = -J to the
    # last bit, "still") measures a flat function only if the value stays put on every shorter
    # step too. Steps that alias a periodic function land on the same value (sinc at an integer
    # near 7.5e11, stepped by integers, inside a sum of order one) while shorter ones move it
    # again: such a window measures nothing.
    flat_from = np.flip(np.cumprod(np.flip(unmoved, axis=1), axis=1), axis=1).astype(bool)
    for w in range(last.size):
        valid[:, w] &= ~unmoved[:, w:w + WALK_WINDOW].all(axis=1) | flat_from[:, w]
    # Only the last run of consecutive valid windows: the Taylor regime is one stretch of steps
    # that reaches down to the noise, and a window that happens to look valid among the long
    # steps (an oscillation's remainders can shrink by chance) lies before a gap.
    after = np.cumsum(~valid[:, ::-1], axis=1)[:, ::-1]  # invalid windows at or after each
    valid &= after == np.min(np.where(valid, after, after.shape[1] + 1), axis=1, keepdims=True)
    spread = np.where(valid, spread, np.inf)
    best = np.argmin(spread, axis=1)
    picked = np.flatnonzero(np.isfinite(spread[np.arange(r.shape[0]), best]))
    k = last[best[picked]]
    return picked, k, extrapolated[picked, k], spread[picked, best[picked]]


def _contradicted(r, h, k, error, moved, threshold) -> np.ndarray:
    """Per row: a rung shorter than its window's says the window read no error.

    A wrong derivative's remainder goes on falling like h |error| below its window, down to the
    noise. A shorter rung where h |error| stands well above the noise but the remainder is far
    smaller says otherwise: an oscillation's long steps whose r/h (about -J) happened to change
    less and less (sinc at 1.5e10). A rung whose value did not move at all (``moved`` false) is
    rounding (a formula that cancels to an exact 0 on the shortest steps), not a smaller
    remainder. The window's own trend, r/h = error + c h, is carried down: a curvature term that
    still shows at the window's last rung shrinks the remainder as expected."""
    last_ratio = r[np.arange(r.shape[0]), k + 1] / h[k + 1]
    slope = (last_ratio - error) / h[k + 1]
    predicted = h[None, :] * (error[:, None] + slope[:, None] * h[None, :])
    beyond = np.arange(h.size)[None, :] > (k + 1)[:, None]
    return (beyond & moved
            & (np.abs(predicted) > WALK_CONTRADICTION * threshold[:, None])
            & (r * np.sign(predicted) < np.abs(predicted) / WALK_CONTRADICTION)).any(axis=1)
