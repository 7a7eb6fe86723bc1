"""Finite-difference numerics: the reference Jacobian and everything that backs it up.

numpy and scipy only: the fd backend, second order and fast mode all use these, and none of
them is imported from here. Every function works on a *flat function* ``f(x) -> y`` (1-d float64
in and out), optionally with a ``batch`` attribute that evaluates ``(n_inputs, P) -> (n_outputs,
P)`` in one call.

Scale: nothing here assumes that inputs or outputs are of order one. Steps are multiples of
each input's scale (its magnitude, or the inputs' typical magnitude where it is zero), and every
absolute threshold is a multiple of the function's own values. Multiplying the inputs or the
outputs by 10**k changes no decision.

Precision: the rounding floor under an error estimate uses the precision the function computes
in, measured (``working_precision``), not the dtype of its inputs: float64 inputs that pass
through float32 inside the function round like float32.

Error state: adcheck's own arithmetic runs under ``own_error_state``, the user's function under
the state its module leaves (``in_users_error_state``), so a module's ``np.seterr(all="raise")``
makes the function raise as it would for its user and never adcheck's differences.
"""

from __future__ import annotations

import types
import warnings

import numpy as np

from .verdict.tolerances import EPS

# --- numpy's error state -----------------------------------------------------------------------------

# adcheck's own arithmetic, whatever ``np.seterr`` the user's module called: an overflow or a NaN
# in a difference or an error estimate is a number the reference reports (an entry it cannot
# settle), never an exception, and never a warning on the user's terminal.
OWN_ERROR_STATE = {"all": "ignore"}


def own_error_state():
    """A context in which adcheck's own numerics run (``OWN_ERROR_STATE``)."""
    return np.errstate(**OWN_ERROR_STATE)


def in_users_error_state(load, outside: dict):
    """The function ``load()`` imports, always called under the error state its module's import
    leaves: a module-level ``np.seterr(all="raise")`` makes its calls raise as they would for
    its user, while adcheck's code around them keeps its own state.

    ``outside``: the error state in force before any of adcheck's own (``np.geterr()`` at the
    start of the task's work); the import runs under it, and what it changes stays inside.
    """
    with np.errstate(**outside):
        func = load()
        state = np.geterr()

    def in_users_state(*args, **kwargs):
        with np.errstate(**state):
            return func(*args, **kwargs)

    in_users_state.__wrapped__ = func
    return in_users_state

# --- scales ----------------------------------------------------------------------------------------


def typical_scale(x0: np.ndarray) -> float:
    """The inputs' typical magnitude (root mean square of the non-zero ones; 1 when all are zero)."""
    magnitudes = np.abs(x0[np.isfinite(x0) & (x0 != 0)])
    if magnitudes.size == 0:
        return 1.0
    return float(np.sqrt(np.mean(np.square(magnitudes / magnitudes.max()))) * magnitudes.max())


def input_scales(x0: np.ndarray) -> np.ndarray:
    """Per input: its unit, ``max(|x_j|, typical)``: what tolerances are measured in, and the
    steps tried once steps on the input's own scale (``step_scales``) settle nothing."""
    return np.maximum(np.abs(x0), typical_scale(x0))


def step_scales(x0: np.ndarray) -> np.ndarray:
    """Per input: the scale its first steps are multiples of: ``|x_j|``, or the typical magnitude
    for an input at zero. An input of 0.5 next to one of 1e8 is perturbed on its own scale: a
    step of the other's size would see ``tanh`` saturate, not its slope at 0.5."""
    magnitude = np.abs(x0)
    return np.where(np.isfinite(magnitude) & (magnitude > 0), magnitude, typical_scale(x0))


def value_scale(value: np.ndarray) -> float:
    """The outputs' largest finite magnitude (0 when there is none)."""
    finite = np.abs(value[np.isfinite(value)])
    return float(finite.max()) if finite.size else 0.0


# --- the precision the function computes in ---------------------------------------------------------


# Relative perturbations of every input at once, smallest first, and the precision whose
# resolution each one first exceeds. A function that computes in float64 changes its outputs
# at 1e-11; one that rounds its inputs to float32 cannot see a change below its ulp (6e-8
# relative) and does at 3e-6; half precision only at 3e-3 (float16) or 3e-2 (bfloat16).
PRECISION_LADDER = (("float64", 1e-11), ("float32", 3e-6), ("float16", 3e-3), ("bfloat16", 3e-2))


def working_precision(flat_function, x0: np.ndarray, value: np.ndarray, input_dtype=np.float64,
                      output_dtypes: tuple[str, ...] = ()):
    """(name, eps per output, measured): the precision each output is computed in.

    An output that does not change under the smallest perturbation but does under a larger one
    is computed in a precision whose resolution lies between them, provided the change it shows
    is at least half that precision's ulp of the output (a float64 function whose output barely
    depends on its inputs changes by less, and stays float64). An output that never changes (a
    constant, a plateau) tells nothing: it gets the input dtype's eps. An output returned in a
    narrower dtype than the inputs is at least that coarse.
    """
    base = EPS.get(np.dtype(input_dtype).name, EPS["float64"])
    for name in output_dtypes:
        base = max(base, EPS.get(name, base))
    eps = np.full(value.size, base)
    known = np.zeros(value.size, dtype=bool)
    signs = np.where(np.random.default_rng(12345).random(x0.size) < 0.5, -1.0, 1.0)
    scale = step_scales(x0)
    magnitude = np.abs(value)
    candidates: list[str] = []  # the precisions this rung's resolution lies above
    for name, relative in PRECISION_LADDER:
        candidates.append(name)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                moved = np.asarray(flat_function(x0 + relative * scale * signs), dtype=np.float64)
        except Exception:  # noqa: BLE001 - outside the domain: this rung tells nothing
            continue
        if moved.shape != value.shape:
            break
        change = np.abs(moved - value)
        first = np.isfinite(change) & (change > 0) & ~known
        for k in np.flatnonzero(first):
            # The coarsest candidate whose half-ulp the change reaches.
            found = next((n for n in reversed(candidates) if change[k] >= 0.5 * EPS[n] * magnitude[k]),
                         "float64")
            eps[k] = max(base, EPS[found])
        known |= first
        if known.all():
            break
    coarsest = min(EPS, key=lambda n: abs(np.log(EPS[n]) - np.log(eps.max())))
    return coarsest, eps, bool(known.any())


# Relative moves of every input at once for measuring how noisy the function's value is. The
# second difference f(x+d) + f(x-d) - 2 f(x) of a smooth function falls exactly like d**2 from
# one move to the next, and at a kink (|x| at 0) exactly like d; rounding noise does neither (a
# formula with cancellation rounds differently at each move). What departs from both laws is
# the noise an evaluation carries. Rounding that follows the value in steps (``1 - cos x`` near
# 0, where ``cos x`` moves by a few ulps: the error is a sawtooth, linear between its jumps) is
# symmetric about x and cancels in the second difference; the central difference
# (f(x+d) - f(x-d)) / 2 of a smooth function follows a d + b d**3 exactly, so its departure at the
# smallest move from that law fitted through the two larger ones is noise too, up to a share of
# the value (beyond it the moves are too long for the law: ``sin`` at 0 beside an input of 1e8
# is moved by whole periods, and its own variation is no rounding).
NOISE_MOVES = (1e-6, 1e-5, 1e-4)
CENTRAL_NOISE_MAX_SHARE = 1e-3
NOISE_FLOOR_ULPS = 4.0  # an evaluation carries at least this many ulps of its value


def value_noise(flat_function, x0: np.ndarray, value: np.ndarray, eps) -> np.ndarray:
    """Per output, the rounding noise one evaluation of the function carries (absolute)."""
    eps = np.broadcast_to(np.asarray(eps, dtype=float), value.shape)
    floor = NOISE_FLOOR_ULPS * eps * np.abs(np.where(np.isfinite(value), value, 0.0))
    signs = np.where(np.random.default_rng(54321).random(x0.size) < 0.5, -1.0, 1.0)
    scale = step_scales(x0)
    seconds, centrals = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for relative in NOISE_MOVES:
            move = relative * scale * signs
            try:
                plus = np.asarray(flat_function(x0 + move), dtype=np.float64)
                minus = np.asarray(flat_function(x0 - move), dtype=np.float64)
            except Exception:  # noqa: BLE001 - outside the domain: measure with what there is
                return floor
            if plus.shape != value.shape or minus.shape != value.shape:
                return floor
            seconds.append(plus + minus - 2 * value)
            centrals.append((plus - minus) / 2)
    noise = floor.copy()
    for (small_move, small), (big_move, big) in zip(zip(NOISE_MOVES, seconds), zip(NOISE_MOVES[1:], seconds[1:])):
        ratio = small_move / big_move
        departure = np.minimum(np.abs(small - big * ratio**2), np.abs(small - big * ratio)) / 2
        noise = np.maximum(noise, np.where(np.isfinite(departure), departure, 0.0))
    departure = _central_departure(NOISE_MOVES, centrals)
    rounding = np.isfinite(departure) & (departure <= CENTRAL_NOISE_MAX_SHARE * np.abs(value))
    return np.maximum(noise, np.where(rounding, departure, 0.0))


def _central_departure(moves, centrals) -> np.ndarray:
    """How far the central difference at the smallest move departs from ``a d + b d**3`` fitted
    through the two larger ones (exactly 0 for a polynomial of degree 4, O(d**5) for a smooth
    function)."""
    (d1, c1), (d2, c2), (d3, c3) = zip(moves, centrals)
    with np.errstate(all="ignore"):  # (a value that overflowed at a move: NaN, and not counted)
        # a d + b d^3 through (d2, c2) and (d3, c3):
        b = (c3 / d3 - c2 / d2) / (d3**2 - d2**2)
        a = c2 / d2 - b * d2**2
        return np.abs(c1 - (a * d1 + b * d1**3))


# --- evaluating many points ----------------------------------------------------------------------

# Points per batched call: the batch of inputs holds at most this many floats (64 MB).
BATCH_FLOATS = 1 << 23


def evaluate_points(flat_function, x0, cols, points, n_outputs, diagonal=False):
    """f at x0 with inputs ``cols`` replaced by each column of ``points`` (k, P) -> (n_outputs, P).

    With ``diagonal``, ``points`` is (P,) and point p changes input ``cols[p]`` only. Many
    points per call when the function takes a batch axis, else one call per point; a point
    where the function raises (outside its domain) is NaN, which scipy treats as non-finite.
    """
    count = points.shape[-1]
    out = np.full((n_outputs, count), np.nan)
    batch = getattr(flat_function, "batch", None)
    chunk = max(1, BATCH_FLOATS // max(1, x0.size))
    for start in range(0, count, chunk):
        stop = min(count, start + chunk)
        block = np.repeat(x0[:, None], stop - start, axis=1)
        if diagonal:
            block[cols[start:stop], np.arange(stop - start)] = points[start:stop]
        else:
            block[cols, :] = points[:, start:stop]
        if batch is not None:
            try:
                out[:, start:stop] = batch(block)
                continue
            except Exception:  # noqa: BLE001 - some point is outside the domain: find it point by point
                pass
        for p in range(stop - start):
            try:
                out[:, start + p] = flat_function(block[:, p])
            except Exception:  # noqa: BLE001 - outside the domain
                pass
    return out


# --- the Jacobian ----------------------------------------------------------------------------------

# Initial steps as multiples of each input's own scale, largest first. 0.5 is scipy's default
# (Richardson from there reaches 0.5/2**9); the lower rungs continue where that one stops, down
# to about 1e-9 of the scale, for kinks and domain edges close to the point. Then the same rungs
# on the input's unit (the inputs' typical magnitude, for an input much smaller than the others)
# and on that unit capped at half the input's distance to zero, for sqrt/log at such an input;
# a later pass is tried only for the columns the earlier ones did not settle.
RUNGS = (0.5, 2.0**-10, 2.0**-20)
STEP_FACTOR = 2.0
MAX_ITERATIONS = 10
ORDER = 8  # scipy's default: an 8th-order stencil, error O(h**8) for smooth functions

# Stop refining an entry once its error is below RTOL*|J| + ATOL_PER_VALUE*|f|/scale: two
# orders of magnitude inside the comparison's float64 rtol (1e-6), and, for the absolute part,
# just above the rounding noise eps*|f|/h of a difference at h ~ 1e-3 of the scale. Both scale
# with the precision the function computes in.
RTOL = 1e-8
ATOL_PER_VALUE = 1e-12
# The rounding floor put under scipy's error estimate: when a step is so small that every
# stencil value rounds to the same number, scipy reports derivative 0 with error 0.
ROUNDING_FLOOR_FACTOR = 8.0
# Inputs this much smaller than their unit are also differenced on the unit's scale, and the
# two estimates must agree within this many times their error bars.
CROSS_CHECK_RATIO = 1e-2
ERROR_ESTIMATE_AGREEMENT = 4.0


def finite_difference_jacobian(flat_function, x0, n_outputs, columns=None, step_direction=0, eps=None,
                               value=None, noise=None, coloured=True, with_convergence=False):
    """Jacobian and error estimate of ``flat_function`` at ``x0`` for ``columns`` (default all).

    ``eps`` is the machine epsilon each output is computed in (scalar or per output; default
    float64's); ``noise`` the measured noise of each output's value (``value_noise``). The
    larger of the two sets the rounding floor under scipy's error estimate: a difference of
    noisy values is noisy, however well two Richardson iterates happen to agree.

    ``coloured``: for every column of a function of many inputs, look for structure first
    (``_coloured_jacobian``). ``with_convergence``: also return, per entry, whether scipy's
    iteration converged.
    """
    eps = np.broadcast_to(np.asarray(EPS["float64"] if eps is None else eps, dtype=float),
                          (n_outputs,)).reshape(n_outputs, 1)
    columns = np.arange(x0.size) if columns is None else np.asarray(columns)
    jac = np.full((n_outputs, columns.size), np.nan)
    err = np.full((n_outputs, columns.size), np.inf)
    if columns.size == 0:
        return (jac, err, np.ones(jac.shape, dtype=bool)) if with_convergence else (jac, err)
    if value is None:
        value = np.asarray(flat_function(x0), dtype=np.float64)
    magnitude = np.abs(value).reshape(n_outputs, 1)
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    if noise is not None:  # the floor is eps * magnitude: a measured noise above that raises it
        magnitude = np.maximum(magnitude, np.asarray(noise, dtype=float).reshape(n_outputs, 1) / eps)
    scales = input_scales(x0)
    units, tolerances = _output_units(magnitude[:, 0], eps, x0)
    own = step_scales(x0)
    if coloured and not with_convergence and columns.size == x0.size >= COLOURING_MIN_INPUTS:
        found = _coloured_jacobian(flat_function, x0, n_outputs, value, own, scales, eps, noise, magnitude[:, 0])
        if found is not None:
            return found
    ladders = _Ladders(flat_function, x0, n_outputs, step_direction, tolerances, units, eps, magnitude)
    jac, err, converged = ladders.climb(columns, _step_ladder(x0[columns], own[columns], scales[columns]))
    # An input much smaller than the others is differenced on both its own scale and theirs: a
    # formula that cancels ((1 - cos x)/x**2 at 1e-5) is a staircase on the small scale, whose
    # smooth treads converge confidently to a slope that is not the function's. Where the two
    # disagree, the error bar covers both, and the entry is not settled by FD alone.
    small = np.flatnonzero(own[columns] < CROSS_CHECK_RATIO * scales[columns])
    if small.size:
        cols = columns[small]
        other, other_err, _ = ladders.climb(cols, _step_ladder(x0[cols], scales[cols], scales[cols]))
        apart = np.abs(jac[:, small] - other)
        split = np.isfinite(apart) & (apart > ERROR_ESTIMATE_AGREEMENT * (err[:, small] + other_err))
        # Where they agree, the narrower bar stands (an output the small input barely moves has a
        # rounding floor eps*|f|/h that only the larger step keeps small).
        narrower = np.isfinite(apart) & ~split & (other_err < err[:, small])
        jac[:, small] = np.where(narrower, other, jac[:, small])
        err[:, small] = np.where(split, np.maximum(err[:, small], apart), np.where(narrower, other_err, err[:, small]))
    return (jac, err, converged) if with_convergence else (jac, err)


def _output_units(magnitude: np.ndarray, eps: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, dict]:
    """(each output's unit, scipy's tolerances). scipy is given each output in a unit of its own,
    a power of two (exact) near the larger of its magnitude and the outputs' median: the absolute
    tolerance is then per output, as the rounding it stands above is. With one tolerance from the
    median, an entry that is exactly zero in a row of values far above the median never converged
    (its stencil's rounding, eps*|f_i|/h, stayed above the tolerance) and took all ten iterations
    on every rung."""
    finite_values = magnitude[magnitude > 0]
    precision = float(eps.max()) / EPS["float64"]
    if finite_values.size:
        units = _power_of_two(np.maximum(magnitude, np.median(finite_values)))
        atol = ATOL_PER_VALUE * precision / typical_scale(x0)
    else:  # every output is zero: no scale of their own to measure an absolute tolerance in
        units, atol = np.ones(magnitude.size), 0.0
    return units, {"rtol": max(RTOL, 100 * float(eps.max())), "atol": atol}


class _Ladders:
    """One function's columns differenced down ladders of steps, the best rung per entry kept."""

    def __init__(self, flat_function, x0, n_outputs, step_direction, tolerances, units, eps, magnitude):
        self.flat_function, self.x0, self.n_outputs = flat_function, x0, n_outputs
        self.step_direction, self.tolerances, self.units = step_direction, tolerances, units
        self.eps, self.magnitude = eps, magnitude  # (n_outputs, 1) each: the rounding floor's terms

    def climb(self, cols, ladder):
        """The best estimate per entry of ``cols`` over the ladder's rungs, stopping per column
        once every entry of it has converged."""
        n_outputs, x0 = self.n_outputs, self.x0
        jac = np.full((n_outputs, cols.size), np.nan)
        err = np.full((n_outputs, cols.size), np.inf)
        converged = np.zeros((n_outputs, cols.size), dtype=bool)
        todo = np.arange(cols.size)
        for steps in ladder:
            fresh = np.isfinite(steps[todo]) & (steps[todo] > 0)
            work = todo[fresh]
            if work.size:
                result = _richardson_in_chunks(self.flat_function, x0, n_outputs, cols[work], steps[work],
                                               self.step_direction, self.tolerances, self.units)
                last_step = steps[work] / STEP_FACTOR ** np.maximum(result.nit - 1, 0)
                floor = (ROUNDING_FLOOR_FACTOR * self.eps * (self.magnitude + np.abs(x0[cols[work]]) * np.abs(result.df))
                         / last_step)
                error = np.maximum(result.error, floor)
                better = np.isfinite(result.df) & (error < err[:, work])
                jac[:, work] = np.where(better, result.df, jac[:, work])
                err[:, work] = np.where(better, error, err[:, work])
                converged[:, work] = np.where(better, result.status == 0, converged[:, work])
            todo = todo[~np.all(converged[:, todo], axis=0)]
            if todo.size == 0:
                break
        return jac, err, converged


# --- structure: columns that share no output, differenced together --------------------------------

# Structure is looked for from this many inputs on; it pays when it groups the columns at least
# this many to one. A column's outputs are those that change when the input alone moves by each
# of STRUCTURE_STEPS (relative to its own scale, the first as large as FD's first step; two sizes
# and signs, so a change that happens to vanish at one step shows at the other); after STRUCTURE_SAMPLE columns in random order, a
# Jacobian this dense is left to the column-by-column path.
COLOURING_MIN_INPUTS = 64
COLOURING_MIN_GAIN = 4
STRUCTURE_STEPS = (0.5, -(2.0**-5))
STRUCTURE_SAMPLE = 16


def _coloured_jacobian(flat_function, x0, n_outputs, value, own, scales, eps, noise, magnitude):
    """The Jacobian from coloured groups of columns, when the function's structure allows
    (a diagonal or banded Jacobian, block-sparse ones), else None.

    Columns whose outputs are disjoint are moved together, each by its own step: the change of
    output i along the group is the change along the one column of the group that reaches i.
    A 1000x1000 diagonal costs the evaluations of one column instead of a thousand. Every output
    a column does not reach (it did not move by more than its rounding, at either of two steps)
    gets 0, within what a change hidden under that rounding at the larger step would be. Nothing is assumed from any AD backend: the structure is the function's own.
    A group that does not converge on its inputs' own scales, and every input much smaller than
    the others (which the column path also differences on the others' scale), goes column by
    column as before.
    """
    rounding = ROUNDING_FLOOR_FACTOR * eps[:, 0] * magnitude  # a change this small is no dependence: see below
    reached = _reached_outputs(flat_function, x0, value, own, rounding)
    groups = None if reached is None else _colour(reached, limit=x0.size // COLOURING_MIN_GAIN)
    if groups is None:
        return None
    member = own >= CROSS_CHECK_RATIO * scales
    colours = np.unique(groups[member])
    index = np.searchsorted(colours, groups)  # a member's group, numbered among the groups used
    jac = np.full((n_outputs, x0.size), np.nan)
    err = np.full((n_outputs, x0.size), np.inf)
    settled = np.zeros(x0.size, dtype=bool)
    if colours.size:
        cols = np.flatnonzero(member)
        directions = np.zeros((x0.size, colours.size))
        directions[cols, index[cols]] = own[cols]
        group_jac, group_err, converged = finite_difference_jacobian(
            Grouped(flat_function, x0, directions), np.ones(colours.size), n_outputs, eps=eps[:, 0], value=value,
            noise=noise, coloured=False, with_convergence=True)
        g = index[cols]
        hidden = ROUNDING_FLOOR_FACTOR * eps * magnitude[:, None] / (max(map(abs, STRUCTURE_STEPS)) * own[cols])
        jac[:, cols] = np.where(reached[:, cols], group_jac[:, g] / own[cols], 0.0)
        err[:, cols] = np.where(reached[:, cols], group_err[:, g] / own[cols], hidden)
        settled[cols] = np.all(converged, axis=0)[g]
    unsettled = np.flatnonzero(~settled)
    if unsettled.size:
        jac[:, unsettled], err[:, unsettled] = finite_difference_jacobian(
            flat_function, x0, n_outputs, columns=unsettled, eps=eps[:, 0], value=value, noise=noise, coloured=False)
    return jac, err


def _reached_outputs(flat_function, x0, value, own, rounding):
    """(n_outputs, n_inputs) bool: the outputs each input moves by more than ``rounding``, at either
    step; a non-finite value counts as moved. None when the Jacobian looks dense from a sample of
    columns. The unmoved point is evaluated along with the moved ones, in the same call: numpy can
    round a strided copy, or a batch, differently from a single contiguous point."""
    order = np.random.default_rng(2718).permutation(x0.size)
    reached = np.zeros((value.size, x0.size), dtype=bool)
    for i, part in enumerate((order[:STRUCTURE_SAMPLE], order[STRUCTURE_SAMPLE:])):
        for step in STRUCTURE_STEPS:
            cols = np.append(part, part[0])
            points = np.append(x0[part] + step * own[part], x0[part[0]])  # the last point: x0 itself
            moved = evaluate_points(flat_function, x0, cols, points, value.size, diagonal=True)
            reached[:, part] |= ~(np.abs(moved[:, :-1] - moved[:, -1:]) <= rounding[:, None])
        if i == 0 and reached[:, part].sum() > part.size * value.size / COLOURING_MIN_GAIN:
            return None
    return reached


def _colour(reached: np.ndarray, limit: int) -> np.ndarray | None:
    """A group per column such that no two columns of a group reach the same output (greedy, the
    columns in order: a banded Jacobian gets about its bandwidth in groups); None beyond
    ``limit`` groups."""
    from scipy import sparse

    columns = sparse.csc_matrix(reached, dtype=np.float32)
    conflicts = (columns.T @ columns).tocsr()  # nonzero where two columns reach a common output
    groups = np.full(reached.shape[1], -1)
    for j in range(reached.shape[1]):
        neighbours = conflicts.indices[conflicts.indptr[j]:conflicts.indptr[j + 1]]
        taken = set(groups[neighbours[neighbours < j]].tolist())
        groups[j] = next(g for g in range(len(taken) + 1) if g not in taken)
        if groups[j] >= limit:
            return None
    return groups


class Grouped:
    """``u -> f(x0 + D (u - 1))``: input g of this function moves every input of group g by its
    own step scale (column g of ``D``), so its own scale, 1, stands for theirs. Batched when f is."""

    def __init__(self, flat_function, x0, directions):
        self.f, self.x0, self.directions = flat_function, x0, directions
        self.batch = self._batch if getattr(flat_function, "batch", None) else None

    def __call__(self, u):
        return self.f(self.x0 + self.directions @ (u - 1.0))

    def _batch(self, u):
        return self.f.batch(self.x0[:, None] + self.directions @ (u - 1.0))


def _step_ladder(x, own_scales, scales):
    """Per rung, the initial step of each column (NaN: nothing new on this rung for that column):
    first on each input's own scale, then on its unit (the typical magnitude, for an input much
    smaller than the others whose own steps drown in rounding), then on that unit capped at
    half the input's distance to zero."""
    tried: list[np.ndarray] = []
    capped_at = np.where(x != 0, 0.5 * np.abs(x), np.inf)
    for base, cap in ((own_scales, np.inf), (scales, np.inf), (scales, capped_at)):
        for rung in RUNGS:
            steps = np.minimum(rung * base, cap)
            new = np.ones(steps.size, dtype=bool)
            for earlier in tried:
                new &= ~np.isclose(steps, earlier, rtol=1e-12, atol=0)
            tried.append(steps)
            if new.any():
                yield np.where(new, steps, np.nan)


def directional_derivatives(flat_function, x0, n_outputs, directions, eps=None, noise=None):
    """FD of ``t -> f(x0 + t w)`` at 0 for each column ``w`` of ``directions``, with errors.

    Each is a one-input Jacobian, so the step ladder and error estimate are the same as for a
    full Jacobian; the cost is independent of the number of inputs.
    """
    values = np.empty((n_outputs, directions.shape[1]))
    errors = np.empty_like(values)
    for k in range(directions.shape[1]):
        line = Line(flat_function, x0, directions[:, k])
        jac, err = finite_difference_jacobian(line, np.zeros(1), n_outputs, eps=eps, noise=noise)
        values[:, k], errors[:, k] = jac[:, 0] / line.scale, err[:, 0] / line.scale
    return values, errors


class Line:
    """``t -> f(x0 + t s w)``, or ``u^T f(...)``: a function of one input, batched when f is.

    ``s`` is the inputs' typical scale, so the line's parameter is of order one whatever the units.
    """

    def __init__(self, flat_function, x0, w, u=None):
        self.f, self.x0, self.u = flat_function, x0, u
        self.scale = typical_scale(x0)
        self.w = w * self.scale
        self.batch = self._batch if getattr(flat_function, "batch", None) else None

    def _project(self, y):
        return y if self.u is None else np.atleast_1d(self.u @ y)

    def __call__(self, t):
        return self._project(self.f(self.x0 + t[0] * self.w))

    def _batch(self, t):
        return self._project(self.f.batch(self.x0[:, None] + self.w[:, None] * t[0][None, :]))


def line_derivative(flat_function, x0, w, u=None, eps=None):
    """(value, error) of the derivative of ``u^T f`` (or of f's only output) along ``w``."""
    line = Line(flat_function, x0, w, u)
    jac, err = finite_difference_jacobian(line, np.zeros(1), 1, eps=eps)
    return float(jac[0, 0]) / line.scale, float(err[0, 0]) / line.scale


# --- kinks -------------------------------------------------------------------------------------------

# The kink screen: a forward and a backward first-order difference with this step relative to
# the input's scale. For a smooth function they differ by about h*|f''|; across a kink by the
# jump in slope, O(1).
KINK_SCREEN_STEP = 1e-6
KINK_SCREEN_RTOL = 1e-3


def one_sided_at_kinks(flat_function, x0, value, eps=None, noise=None):
    """One-sided derivatives (Richardson, both directions) for the columns where a cheap screen
    sees the slope jump; ``None`` when no column does.

    Central differences at a kink converge confidently to the average of the two slopes, so
    the central estimate alone cannot tell a kink (any value between the slopes is a valid
    subgradient) from a smooth point. The screen costs two evaluations per input.
    """
    eps_value = EPS["float64"] if eps is None else float(np.max(eps))
    h = max(KINK_SCREEN_STEP, 10 * np.sqrt(eps_value)) * step_scales(x0)
    columns = np.arange(x0.size)
    ahead = evaluate_points(flat_function, x0, columns, x0 + h, value.size, diagonal=True)
    behind = evaluate_points(flat_function, x0, columns, x0 - h, value.size, diagonal=True)
    forward = (ahead - value[:, None]) / h
    backward = (value[:, None] - behind) / h
    finite = np.isfinite(forward) & np.isfinite(backward)  # NaN outside the domain: an edge, not a kink
    measured = np.zeros(value.size) if noise is None else np.asarray(noise, dtype=float)
    rounding = (100 * eps_value * np.abs(value) + 10 * measured)[:, None] / h  # in a first-order difference
    jump = np.abs(forward - backward) > KINK_SCREEN_RTOL * (np.abs(forward) + np.abs(backward)) + rounding
    flagged = np.flatnonzero(np.any(finite & jump, axis=0))
    if flagged.size == 0:
        return None
    plus, plus_error = finite_difference_jacobian(flat_function, x0, value.size, flagged, 1, eps, value, noise)
    minus, minus_error = finite_difference_jacobian(flat_function, x0, value.size, flagged, -1, eps, value, noise)
    return types.SimpleNamespace(columns=flagged, plus=plus, plus_error=plus_error, minus=minus,
                                 minus_error=minus_error)


# --- complex step ------------------------------------------------------------------------------------

# h = 1e-20 of the input's scale: far below any rounding of the real part, and with no
# subtraction the derivative Im f(x + ih)/h is exact to rounding for a real-analytic f.
COMPLEX_STEP = 1e-20
# A second, larger step: Im f/h agrees with the first to O(h**2) when f is analytic.
COMPLEX_CHECK_STEP = 1e-8
COMPLEX_ERROR_FACTOR = 64.0  # the error bar: this many ulps of the entries' scale
COMPLEX_REAL_PART_RTOL = 1e-6


class NotAnalytic(Exception):
    """The function cannot be evaluated on complex inputs, or is not real-analytic there."""


def complex_step_jacobian(complex_function, x0, value, columns, eps_scale=None, check_step=None):
    """(jacobian, error) of the columns by complex step; raises ``NotAnalytic`` when it does not apply.

    ``complex_function`` takes and returns complex 1-d arrays. Signs that the function is not
    real-analytic (an ``abs``, a comparison, a conjugate, a cast to real): it raises, warns that
    it discards the imaginary part, returns a real array, changes its real part, or gives
    derivatives that depend on the step.

    The step has no cancellation of its own, but the function's formula may: (1 - cos z)/z**2
    near 0 rounds its numerator, and the complex division turns that rounding into a wrong
    imaginary part, much as forward-mode AD's quotient rule does. So the complex step is an
    independent derivative that can confirm the AD backends, never a reference that alone
    condemns one (``compare`` treats it as a vote).

    ``check_step``: the second step, relative to each input's scale (default
    ``COMPLEX_CHECK_STEP``); the second witness takes a far shorter one, since it is asked exactly
    where the function may vary on a length much shorter than the input.
    """
    scales = step_scales(x0)
    reference_scale = max(value_scale(value), np.finfo(float).tiny)

    def derivatives(relative):
        h = relative * scales[columns]
        y = _complex_values(complex_function, x0, columns, h, value.size)
        if not np.all(np.isfinite(y)):
            raise NotAnalytic("the function's complex values are not finite")
        # Loose on purpose: a formula with cancellation rounds its real part differently in
        # complex arithmetic; what this catches is a real part that the step changed.
        if not np.allclose(y.real, value[:, None], rtol=COMPLEX_REAL_PART_RTOL,
                           atol=COMPLEX_REAL_PART_RTOL * reference_scale):
            raise NotAnalytic("the real part of f(x + ih) differs from f(x)")
        return y.imag / h

    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        jac, check = derivatives(COMPLEX_STEP), derivatives(COMPLEX_CHECK_STEP if check_step is None else check_step)
    row_scale = np.maximum(np.abs(jac), np.abs(check)).max(axis=1, keepdims=True)
    if not np.allclose(jac, check, rtol=1e-6, atol=1e-9 * float(row_scale.max(initial=0.0))):
        raise NotAnalytic("the complex-step derivative depends on the step")
    eps = EPS["float64"] if eps_scale is None else eps_scale
    error = COMPLEX_ERROR_FACTOR * eps * np.maximum(np.abs(jac), 1e-3 * row_scale)
    return jac, error


def _complex_values(complex_function, x0, columns, steps, n_outputs) -> np.ndarray:
    """``f(x0 + i h_j e_j)`` for each column j: (n_outputs, columns.size), complex.

    Many points per call when ``complex_function`` has a ``batch`` (``(n_inputs, P)`` complex ->
    ``(n_outputs, P)``); a batch that fails or comes back real is evaluated point by point,
    which is where a refusal of complex input is named.
    """
    batch = getattr(complex_function, "batch", None)
    if batch is not None:
        chunk = max(1, BATCH_FLOATS // (2 * max(1, x0.size)))
        try:
            parts = []
            for start in range(0, columns.size, chunk):
                cols = columns[start : start + chunk]
                block = np.repeat(x0[:, None].astype(np.complex128), cols.size, axis=1)
                block[cols, np.arange(cols.size)] += 1j * steps[start : start + chunk]
                part = np.asarray(batch(block))
                if part.dtype.kind != "c" or part.shape != (n_outputs, cols.size):
                    raise NotAnalytic("a batch of complex points came back real or misshapen")
                parts.append(part)
            return np.concatenate(parts, axis=1)
        except Exception:  # noqa: BLE001 - one point at a time below says what is wrong
            pass
    values = np.empty((n_outputs, columns.size), dtype=np.complex128)
    for k, (j, h) in enumerate(zip(columns, steps)):
        values[:, k] = _complex_value(complex_function, x0, j, h, n_outputs)
    return values


def _complex_value(complex_function, x0, j, h, n_outputs) -> np.ndarray:
    z = x0.astype(np.complex128)
    z[j] += 1j * h
    try:
        y = np.asarray(complex_function(z))
    except Exception as exc:  # noqa: BLE001 - any refusal of complex input
        raise NotAnalytic(f"the function does not run on complex inputs ({type(exc).__name__})") from None
    if y.dtype.kind != "c":
        raise NotAnalytic("the function returns real values for complex inputs")
    if y.size != n_outputs:
        raise NotAnalytic("the function gives another number of outputs for complex inputs")
    return y.ravel()


# --- scipy, in chunks -------------------------------------------------------------------------------

# Columns per call of scipy's jacobian: scipy iterates a call until its last entry converges,
# re-evaluating every column of it, so one slow entry in a 2000x2000 Jacobian kept all four
# million busy for ten iterations. Calls of at most 2**18 entries keep the laggards together
# with few others.
CHUNK_ENTRIES = 1 << 18


def _power_of_two(magnitudes: np.ndarray) -> np.ndarray:
    """The power of two at or below each positive magnitude: dividing by it rounds nothing."""
    return np.ldexp(1.0, np.frexp(magnitudes)[1] - 1)


def _richardson_in_chunks(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances, units):
    size = max(1, CHUNK_ENTRIES // max(1, n_outputs))
    if cols.size <= size:
        return _richardson(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances, units)
    parts = [_richardson(flat_function, x0, n_outputs, cols[i : i + size], steps[i : i + size], step_direction,
                         tolerances, units) for i in range(0, cols.size, size)]
    return types.SimpleNamespace(**{key: np.concatenate([getattr(p, key) for p in parts], axis=1)
                                    for key in ("df", "error", "status", "nit")})


def _richardson(flat_function, x0, n_outputs, cols, steps, step_direction, tolerances, units):
    """One call of scipy's jacobian over the inputs ``cols``, the others held at ``x0``; scipy sees
    output i divided by ``units[i]`` (powers of two), and the result is in the outputs' own units."""
    from scipy.differentiate import jacobian as scipy_jacobian  # here: adcheck's parent never needs scipy

    k = cols.size

    def batch_function(z):
        # scipy passes (k, ...) and expects (n_outputs, ...).
        batch_shape = z.shape[1:]
        out = evaluate_points(flat_function, x0, cols, z.reshape(k, -1), n_outputs) / units[:, None]
        return out.reshape((n_outputs, *batch_shape))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN outside the domain is an answer, not news
        result = scipy_jacobian(
            batch_function,
            x0[cols],
            initial_step=steps,
            step_factor=STEP_FACTOR,
            maxiter=MAX_ITERATIONS,
            order=ORDER,
            step_direction=step_direction,
            tolerances=tolerances,
        )
    return types.SimpleNamespace(df=result.df * units[:, None], error=result.error * units[:, None],
                                 status=result.status, nit=result.nit)
