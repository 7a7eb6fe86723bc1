"""The Taylor ladders: ``f`` along a ladder of shrinking steps, for the Taylor remainder test of
any Jacobian (``taylor_ladder``: the short one, where FD cannot settle a column) and for the
second witness that walks down to an ulp on both sides of the input, along a basis vector
(``witness_ladders``) or along a direction (``direction_ladders``, fast mode). Numbers only: the
verdicts read them in ``verdict.taylor``.
"""

from __future__ import annotations

import numpy as np

from .finite_differences import Line, evaluate_points, input_scales, step_scales
from .verdict.tolerances import EPS, precision_name


# --- the Taylor ladder -------------------------------------------------------------------------------

# Steps from a quarter of the input's scale down by factors of 4: ten rungs reach 1e-6 of it,
# where the first-order term of a wrong derivative (delta*h) still dominates the rounding
# noise of float64 while the second-order term (h**2) of a right one has fallen by 1e12.
TAYLOR_FIRST = 0.25
TAYLOR_FACTOR = 4.0
TAYLOR_RUNGS = 10
TAYLOR_NOISE_FACTOR = 4.0  # ulps of an output taken as one evaluation's rounding noise


def taylor_ladder(flat_function, x0, value, columns, eps=None, noise=None):
    """``f(x0 + h_k e_j)`` for each column and rung, and each output's rounding noise."""
    scales = step_scales(x0)[columns]
    steps = TAYLOR_FIRST * scales[:, None] / TAYLOR_FACTOR ** np.arange(TAYLOR_RUNGS)[None, :]
    cols = np.repeat(columns, TAYLOR_RUNGS)
    points = (x0[columns][:, None] + steps).ravel()
    values = evaluate_points(flat_function, x0, cols, points, value.size, diagonal=True)
    eps = np.broadcast_to(np.asarray(EPS["float64"] if eps is None else eps, dtype=float), (value.size,))
    floor = TAYLOR_NOISE_FACTOR * eps * np.abs(value)
    noise = floor if noise is None else np.maximum(floor, np.asarray(noise, dtype=float))
    return steps, values.reshape(value.size, columns.size, TAYLOR_RUNGS), noise


# --- the second witness ------------------------------------------------------------------------------

# Where finite differences disagree with an AD backend, they do not convict alone: their steps
# start on the input's own magnitude, and a function that varies on a much shorter length there
# (sin at 4e7, sin(3000 x)) defeats them while their error bar looks narrow. The second witness
# walks the Taylor remainder from the same first step down by factors of 4 to an ulp of the
# input, on both sides: somewhere on that walk the steps become short against the
# function's own variation, and from there a right derivative's remainder falls like h**2 and a
# wrong one's like h, whatever FD said. 26 rungs a side reach 2**-52 of the scale, an ulp of the
# input (cos at 1e12 varies on a length of 1, where an ulp is 1.2e-4): the steps taken are exact
# differences of floats, so even the last rungs measure a true remainder, and those that sink
# under the rounding noise are left out of the decision.
WITNESS_RUNGS = 26
WITNESS_CHECK_STEP = 1e-14  # the complex step's second step, relative: short against any variation FD missed
# The walk's longest step is at most a quarter of max(|x_j|, WITNESS_NATURAL_LENGTH): the
# transcendental functions code is written with (tanh, exp, sin, sinc) vary on a length of order
# one in their argument, so a walk from an input's unit far above that (an input of -3.5 beside
# one of 2.7e6: a unit of 1.9e6) starts with every tanh saturated, where r/h settles on minus the
# saturated part's slope and reads as a wrong derivative. Inputs all far below 1 keep their unit
# (sinc at 1.5e-8 beside inputs of order one still steps from about 0.25).
WITNESS_NATURAL_LENGTH = 1.0


def witness_scales(x0: np.ndarray) -> np.ndarray:
    """Per input, the scale the walk's steps are fractions of: its unit (``input_scales``), capped
    at ``max(|x_j|, WITNESS_NATURAL_LENGTH)``."""
    return np.minimum(input_scales(x0), np.maximum(np.abs(x0), WITNESS_NATURAL_LENGTH))


# The numpy grid of a working precision coarser than float64 (bfloat16 has no numpy dtype: its
# steps stay unrounded).
_GRIDS = {"float32": np.float32, "float16": np.float16}


def _working_grid(eps: float):
    """The dtype whose grid the function's inputs are rounded to, for a working precision of
    ``eps`` (None for float64 or a precision numpy has no dtype for)."""
    name = precision_name(eps)
    return _GRIDS.get(name)


def witness_ladders(flat_function, x0, value, columns, eps=None, noise=None):
    """(plus, minus): ``(steps, values, noise)`` of the Taylor remainder walk on each side of ``x0``.

    ``steps`` are the steps actually taken, ``fl(x_j + h) - x_j`` (exact in floating point), as
    positive lengths; ``values[i, c, k] = f_i(x0 + s steps[c, k] e_j)`` with s = +1 or -1.
    """
    # From the input's unit, not its own magnitude: an input at 1e-8 beside inputs of order one
    # (sinc near 0) moves the value by less than its rounding on steps of its own size. But not
    # from a unit far longer than the function's own variation (``witness_scales``).
    scales = witness_scales(x0)[columns]
    eps = np.broadcast_to(np.asarray(EPS["float64"] if eps is None else eps, dtype=float), (value.size,))
    # A function that computes in float32 cannot see a step below its own ulp: there f(x + h) = f(x)
    # and the remainder is -h J exactly, which would read as a wrong derivative.
    rungs = min(WITNESS_RUNGS, 1 + int(np.floor(np.log(TAYLOR_FIRST / float(np.max(eps))) / np.log(TAYLOR_FACTOR))))
    nominal = TAYLOR_FIRST * scales[:, None] / TAYLOR_FACTOR ** np.arange(rungs)[None, :]
    floor = TAYLOR_NOISE_FACTOR * eps * np.abs(value)
    noise = floor if noise is None else np.maximum(floor, np.asarray(noise, dtype=float))
    grid = _working_grid(float(np.max(eps)))
    sides = []
    for sign in (1.0, -1.0):
        points = x0[columns][:, None] + sign * nominal
        if grid is not None:
            # A function that computes in float32 rounds x + h to float32 on its way in (a float32
            # input, an astype): the step it takes is the rounded one. Recorded unrounded, the
            # step is off by up to half an ulp of x, and r/h by that over h: a noise of 1e-3 at
            # h = 1e-4 near pi, which hid a wrong slope's h regime. Where x is on the float32
            # grid, so is x + h after rounding, and the step recorded is the one taken (exact);
            # where x is not, which of the two the function sees is unknown, and x + h stays.
            on_grid = (x0[columns] == x0[columns].astype(grid))[:, None]
            points = np.where(on_grid, points.astype(grid).astype(np.float64), points)
        taken = np.abs(points - x0[columns][:, None])
        values = evaluate_points(flat_function, x0, np.repeat(columns, rungs), points.ravel(), value.size,
                                 diagonal=True)
        sides.append((taken, values.reshape(value.size, columns.size, rungs), noise))
    return sides[0], sides[1]



def direction_ladders(flat_function, x0, value, directions, eps=None, noise=None):
    """(plus, minus): the walk of ``witness_ladders`` along each unit column of ``directions``
    instead of a basis vector (fast mode's products, whose "columns" are directions).

    Each walk is ``witness_ladders`` on the line ``t -> f(x0 + t s w)`` (``Line``), so it starts
    on the inputs' typical scale ``s`` and ends an ulp of it below: ``(steps, values, noise,
    offsets)``, where ``steps`` are lengths along ``w``, ``values[i, c, k] = f_i(x0 + sign *
    steps[c, k] * w_c)``, and ``offsets[c, k]`` is how far rounding put that point off the
    direction (``model.TaylorLadder.offsets``): a step along a direction is exact in no input.
    """
    sides = ([], [])
    for w in np.asarray(directions, dtype=float).T:
        line = Line(flat_function, x0, w)
        for sign, side, (taken, values, floor) in zip((1.0, -1.0), sides, witness_ladders(
                line, np.zeros(1), value, np.zeros(1, dtype=int), eps, noise)):
            # The point the line evaluated, x0 + t s w in floating point: its move along w is the
            # step, what is left of it the offset (0 along a basis vector: that step is exact).
            moves = [(x0 + sign * t * line.w) - x0 for t in taken[0]]
            steps = np.array([abs(float(d @ w)) for d in moves])
            offsets = np.array([np.linalg.norm(d - sign * h * w) for d, h in zip(moves, steps)])
            # A rung that moves an input by more than TAYLOR_FIRST of its own magnitude says nothing of
            # the derivative there: tanh at 0.5 beside inputs of 1e30 is saturated on every step the
            # walk can take, and its unmoved value would read as a flat function.
            own = np.abs(x0) > 0
            long = (steps[:, None] * np.abs(w[own])[None, :] > TAYLOR_FIRST * np.abs(x0[own])[None, :]).any(axis=1)
            values = np.where(long[None, None, :], np.nan, values)
            side.append((steps[None, :], values, floor, offsets[None, :]))
    return tuple((np.concatenate([t for t, _, _, _ in side]), np.concatenate([v for _, v, _, _ in side], axis=1),
                  side[0][2], np.concatenate([o for _, _, _, o in side])) for side in sides)
