"""Tolerances: the one table per working precision, and the absolute tolerances built from it.

Pure numpy: the finite-difference numerics below every stage read the epsilon table here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
# Machine epsilon per precision: the one table (bfloat16 keeps 8 bits of significand).
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}
# The smallest normal number per precision (finfo.tiny; bfloat16 has float32's exponent range):
# below it numbers are subnormal, which a framework that flushes to zero reads and writes as 0.
TINY = {"float64": 2.0**-1022, "float32": 2.0**-126, "float16": 2.0**-14, "bfloat16": 2.0**-126}

# k: scipy's estimate is the change between the last two Richardson iterates, which can
# understate the true error of the last one by a small factor; 4 covers that without letting
# a wrong derivative hide in a noisy estimate (a wrong entry is off by O(1), not by 4 err_fd).
ERROR_ESTIMATE_FACTOR = 4.0


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
    """``factor`` times each entry's scale, plus the rounding noise of the output's value.

    An output with no scale at all (its value exactly 0, and every entry of its row 0) takes the
    rounding noise of a value the size of the largest output; where every output is 0, that of a
    value of 1 for inputs whose unit is 1 or more (as an input at zero takes the unit 1,
    ``finite_differences.typical_scale``). Without it the tolerance is exactly 0: a loss whose
    terms all round to exactly 0 (a logistic loss where every prediction has saturated) is
    differentiated to 3e-27 by one framework's rule and to 0 by another's, both right to the
    last digit float64 can hold, and 3e-27 was a failure at err/tol 1e281. Inputs of a smaller
    unit keep a tolerance of 0: there a value of exactly 0 is as likely its own tiny terms
    underflowed (the square of a subnormal), whose slopes are as tiny and must still be judged.
    """
    scales = np.broadcast_to(np.asarray(input_scales, dtype=float), (magnitudes.shape[1],))
    eps = np.asarray(eps_rows, dtype=float).reshape(-1, 1)
    size = np.abs(np.where(np.isfinite(value), value, 0.0)).reshape(-1, 1)
    entries = entry_scale(magnitudes, scales)
    unscaled = (size == 0) & ~(entries > 0).any(axis=1, keepdims=True)
    if unscaled.any():
        largest = float(size.max())
        fallback = np.full(scales.shape, largest) if largest > 0 else np.where(scales >= 1.0, 1.0, 0.0)
        size = np.where(unscaled, fallback[None, :], size)
    noise = VALUE_NOISE_ULPS * eps * size / scales[None, :]
    return factor * entries + noise


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
