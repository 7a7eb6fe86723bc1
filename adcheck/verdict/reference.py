"""The finite-difference reference, resolved once per run: its entries' tolerances, which entries
it settles, and what else the reference worker measured (one-sided slopes, the Taylor ladder, the
complex step, the second witness). Also the checks of a backend's value against plain numpy's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import BackendRun, BackendVerdict, OneSided, Precision, Status
from .tolerances import (
    EPS,
    RowTolerances,
    absolute_tolerance,
    reference_settles,
    uniform_eps,
    well_estimated,
)


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
    # The reference is a derivative itself, not an estimate (``--contexts``: the backend's own eager
    # one): a difference from it needs no second witness.
    exact: bool = False


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
        nearby=reference.second_look.nearby,
        noise=extra.precision.noise if extra is not None else None,
        own_scales=None if own_scales is None else np.broadcast_to(np.asarray(own_scales, dtype=float),
                                                                   (jac.shape[1],)),
        witness=reference.second_look.witness)


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




def impurity(reference: BackendRun | None) -> str:
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


def reference_verdict(run: BackendRun, impure: str) -> BackendVerdict:
    """The reference's own row: unusable when the function's value changes between calls."""
    if impure:
        return BackendVerdict(run.name, Status.UNUSABLE, run.seconds,
                              f"the function's value changes between identical calls ({impure}): finite differences "
                              "of it verify nothing", run.location)
    return BackendVerdict(run.name, Status.REFERENCE, run.seconds, run.message, run.location)


def impure_mask(impure: str, shape) -> np.ndarray:
    return np.full(shape, bool(impure))



def other_function_nearby(run: BackendRun, reference: ResolvedReference) -> str:
    """For rebound code: a sentence when its values near the input differ from plain numpy's
    (numpy's ``eigh`` reads one triangle, ``jax.numpy``'s symmetrises: equal at a symmetric
    input, different a step away), else ""."""
    nearby = run.second_look.nearby
    if not run.rebound or nearby is None or reference.nearby is None or nearby.shape != reference.nearby.shape:
        return ""
    for values, plain in zip(nearby, reference.nearby):
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


def precision_of(reference: BackendRun | None, n_outputs: int, dtype) -> Precision:
    """The reference's measured precision, or the input dtype's when there is none."""
    if reference is not None and reference.reference is not None:
        return reference.reference.precision
    name = np.dtype(dtype).name
    return Precision(name if name in EPS else "float64", uniform_eps(n_outputs, dtype), measured=False)
