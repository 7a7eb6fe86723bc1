"""Compare each backend's Jacobian with the finite-difference reference, entry by entry.

Pure functions over arrays: nothing here prints or exits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .model import FAILING, BackendRun, BackendVerdict, Comparison, EntryMismatch, Status


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol_scale: float  # atol = atol_scale * max|J_fd|: the verdict does not change with units
    atol_floor: float  # an absolute floor for Jacobians that are zero everywhere


# Per-dtype tolerances. An entry agrees when |J_b - J_fd| <= atol + rtol*|J_fd| + k*err_fd.
# - float64 rtol 1e-6: ten times tighter than JAX's check_grads gradient tolerance for float64
#   (1e-5, jax._src.public_test_util.default_gradient_tolerance), because our FD error is not
#   folded into rtol: it is added separately as k*err_fd from scipy's own estimate.
# - float32 rtol 2e-3: JAX's check_grads gradient tolerance for float32.
# - atol_scale: an entry below 1e-9 (float64) or 1e-4 (float32) of the Jacobian's largest entry
#   is at the level of that entry's rounding noise times the condition of a typical stencil.
# - atol_floor: sqrt(tiny)-sized, only matters when the whole Jacobian is (numerically) zero.
TOLERANCES: dict[np.dtype, Tolerance] = {
    np.dtype(np.float64): Tolerance(rtol=1e-6, atol_scale=1e-9, atol_floor=1e-12),
    np.dtype(np.float32): Tolerance(rtol=2e-3, atol_scale=1e-4, atol_floor=1e-6),
}

# k: scipy's estimate is the change between the last two Richardson iterates, which can
# understate the true error of the last one by a small factor; 4 covers that without letting
# a wrong derivative hide in a noisy estimate (a wrong entry is off by O(1), not by 4 err_fd).
ERROR_ESTIMATE_FACTOR = 4.0

MAX_LISTED_MISMATCHES = 10


def _scale(reference: np.ndarray) -> float:
    """The largest finite magnitude in ``reference`` (0 when there is none)."""
    finite = np.abs(reference[np.isfinite(reference)])
    return float(finite.max()) if finite.size else 0.0


def tolerances(reference: np.ndarray, dtype, rtol=None, atol=None) -> tuple[float, float]:
    """(rtol, atol) for comparing against ``reference``: the table's, unless given."""
    base = TOLERANCES.get(np.dtype(dtype), TOLERANCES[np.dtype(np.float64)])
    rtol = base.rtol if rtol is None else rtol
    if atol is None:
        atol = max(base.atol_scale * _scale(reference), base.atol_floor)
    return rtol, atol


def entry_bound(reference: np.ndarray, reference_error: np.ndarray, dtype, rtol=None, atol=None) -> np.ndarray:
    """The largest |J_b - J_fd| that still agrees, per entry."""
    rtol, atol = tolerances(reference, dtype, rtol, atol)
    error = np.where(np.isfinite(reference_error), reference_error, 0.0)
    return atol + rtol * np.abs(reference) + ERROR_ESTIMATE_FACTOR * error


# An FD entry is unusable as a reference when its error estimate exceeds this share of it.
UNRELIABLE_REFERENCE_FRACTION = 0.5


def unreliable_reference(reference, reference_error, dtype, rtol=None, atol=None) -> np.ndarray:
    """Entries whose FD error bar is comparable to the entry itself and not negligible at the
    Jacobian's scale (an exactly-zero entry with a rounding-sized error bar is fine)."""
    rtol, atol = tolerances(reference, dtype, rtol, atol)
    return reference_error > UNRELIABLE_REFERENCE_FRACTION * np.abs(reference) + atol + rtol * _scale(reference)


def outside_tolerance(actual, reference, reference_error, dtype, rtol=None, atol=None):
    """(mask, diff, bound, judged): where ``actual`` disagrees with the FD ``reference``.

    NaN/inf in ``actual`` where the reference is finite is a mismatch. An FD estimate whose
    own error is comparable to it verifies nothing; agreeing with it would be a false pass. The
    step ladder gets smooth, pure functions far below that, so it flags impurity (state,
    randomness) or a discontinuity, and the entry counts as a mismatch too.
    """
    bound = entry_bound(reference, reference_error, dtype, rtol, atol)
    diff = np.abs(actual - reference)
    judged = np.isfinite(reference)
    mask = judged & ~(diff <= bound)
    mask |= judged & unreliable_reference(reference, reference_error, dtype, rtol, atol)
    return mask, diff, bound, judged


def relative_error(diff, reference, dtype, rtol=None, atol=None):
    """Relative to the entry, or to atol for entries that are zero at the Jacobian's scale."""
    return diff / np.maximum(np.abs(reference), tolerances(reference, dtype, rtol, atol)[1])


def disagreement_sentence(failing, passing, with_reference: bool = True) -> str:
    """"X disagrees with finite differences and with Y, Z, which agree" (or "" if not both)."""
    if not failing or not passing:
        return ""
    verb = "disagrees" if len(failing) == 1 else "disagree"
    against = "with finite differences and with" if with_reference else "with"
    return f"{', '.join(failing)} {verb} {against} {', '.join(passing)}, which agree"


@dataclass(frozen=True)
class OneSided:
    """One-sided FD derivatives for some input columns, to tell kinks from wrong derivatives."""

    columns: np.ndarray  # input indices
    plus: np.ndarray  # (n_outputs, len(columns)), steps >= 0
    plus_error: np.ndarray
    minus: np.ndarray  # steps <= 0
    minus_error: np.ndarray


def compare(
    runs: list[BackendRun] | tuple[BackendRun, ...],
    dtype=np.float64,
    rtol: float | None = None,
    atol: float | None = None,
    one_sided: OneSided | None = None,
) -> Comparison:
    reference = next((r for r in runs if r.status == Status.REFERENCE), None)
    verdicts = []
    for run in runs:
        if run.status == Status.COMPUTED:
            verdicts.append(_judge(run, reference, dtype, rtol, atol, one_sided))
        else:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
    odd, consensus = _consensus(runs, verdicts, dtype, rtol, atol)
    return Comparison(tuple(verdicts), odd, consensus)


def _judge(run, reference, dtype, rtol, atol, one_sided) -> BackendVerdict:
    def failed(status, message):
        return BackendVerdict(run.name, status, run.seconds, message, run.location)

    if reference is None:
        return failed(Status.ERROR, "no finite-difference reference to compare with")
    if run.value.shape != reference.value.shape:
        return failed(Status.ERROR, f"returned {run.value.size} output values; plain numpy returned {reference.value.size}")
    primal_mismatch = _primal_mismatch(run.value, reference.value, dtype, rtol)
    mask, diff, bound, judged = outside_tolerance(run.jacobian, reference.jacobian, reference.error, dtype, rtol, atol)
    kinks = np.zeros_like(mask)
    if one_sided is not None:
        at_kink, between = _kinks(run.jacobian, one_sided, bound)
        kinks = at_kink & between  # any value between the one-sided slopes is a valid subgradient
        mask = (mask & ~at_kink) | (at_kink & ~between)
    rel = relative_error(diff, reference.jacobian, dtype, rtol, atol)
    finite = judged & np.isfinite(diff) & ~kinks
    max_abs = float(np.max(diff[finite])) if finite.any() else None
    max_rel = float(np.max(rel[finite])) if finite.any() else None
    ratio = np.where(judged & ~kinks, np.where(np.isfinite(diff), diff / bound, np.inf), -1.0)
    worst = None
    if ratio.size:
        flat = int(np.argmax(ratio))
        worst = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))

    listed = []
    if mask.any():
        order = np.argsort(-np.where(mask, ratio, -np.inf), axis=None, kind="stable")
        for flat in order[: min(MAX_LISTED_MISMATCHES, int(mask.sum()))]:
            i, j = (int(k) for k in np.unravel_index(flat, mask.shape))
            listed.append(EntryMismatch(i, j, float(run.jacobian[i, j]), float(reference.jacobian[i, j]),
                                        float(reference.error[i, j]), float(diff[i, j]), float(rel[i, j])))
    if primal_mismatch or mask.any():
        status = Status.DISAGREE
    elif kinks.any():
        status = Status.KINK
    else:
        status = Status.AGREE
    message = primal_mismatch
    if status == Status.DISAGREE and not message:
        message = f"{int(mask.sum())} of {mask.size} entries outside tolerance"
    elif status == Status.KINK:
        count = int(kinks.sum())
        message = (f"{count} {'entry' if count == 1 else 'entries'} at a kink, where the value lies between "
                   "the one-sided derivatives (a valid subgradient)")
    return BackendVerdict(
        name=run.name, status=status, seconds=run.seconds, message=message, location=run.location,
        max_abs_error=max_abs, max_rel_error=max_rel, worst_entry=worst, mismatches=tuple(listed),
        n_mismatches=int(mask.sum()), n_kinks=int(kinks.sum()), mismatch_mask=mask,
        kinks=tuple((int(i), int(j)) for i, j in zip(*np.nonzero(kinks)))[:MAX_LISTED_MISMATCHES],
        primal_mismatch=primal_mismatch,
    )


def _primal_mismatch(value, reference, dtype, rtol) -> str:
    rtol, atol = tolerances(reference, dtype, rtol)
    bad = ~(np.abs(value - reference) <= atol + rtol * np.abs(reference))
    bad &= ~(np.isnan(value) & np.isnan(reference))
    if not bad.any():
        return ""
    k = int(np.argmax(bad))
    return (f"function value differs from plain numpy at output {k}: {value[k]:.6g} vs {reference[k]:.6g} "
            f"({int(bad.sum())} of {bad.size} outputs)")


def _kinks(jac, one_sided: OneSided, bound) -> tuple[np.ndarray, np.ndarray]:
    """Entries where the one-sided derivatives differ, and where the AD value lies between them."""
    at_kink = np.zeros(jac.shape, dtype=bool)
    between = np.zeros(jac.shape, dtype=bool)
    for k, column in enumerate(one_sided.columns):
        plus, minus = one_sided.plus[:, k], one_sided.minus[:, k]
        slack = bound[:, column] + ERROR_ESTIMATE_FACTOR * (
            np.nan_to_num(one_sided.plus_error[:, k], posinf=0.0) + np.nan_to_num(one_sided.minus_error[:, k], posinf=0.0))
        at_kink[:, column] = np.abs(plus - minus) > slack
        value = jac[:, column]
        between[:, column] = (value >= np.minimum(plus, minus) - slack) & (value <= np.maximum(plus, minus) + slack)
    return at_kink, between


def _consensus(runs, verdicts, dtype, rtol, atol) -> tuple[tuple[str, ...], str]:
    """Who is the odd one out when backends disagree."""
    computed = [r for r in runs if r.status == Status.COMPUTED]
    by_name = {v.name: v for v in verdicts}
    failing = [r.name for r in computed if by_name[r.name].status in FAILING]
    passing = [r.name for r in computed if by_name[r.name].status not in FAILING]
    if not failing:
        return (), ""
    if passing:
        return tuple(failing), disagreement_sentence(failing, passing)
    if len(computed) >= 2 and _all_agree_with_each_other(computed, dtype, rtol, atol):
        return ("fd",), ("every AD backend agrees with the others but not with finite differences: the function's "
                         "value changes between calls (state, randomness or a cache), or FD is unreliable here")
    return tuple(failing), "the backends disagree with finite differences and with each other"


def _all_agree_with_each_other(computed, dtype, rtol, atol) -> bool:
    first = computed[0]
    zero_error = np.zeros_like(first.jacobian)
    for other in computed[1:]:
        if other.jacobian.shape != first.jacobian.shape:
            return False
        bound = entry_bound(first.jacobian, zero_error, dtype, rtol, atol)
        if not np.all(np.abs(other.jacobian - first.jacobian) <= bound):
            return False
    return True


def compare_second_order(runs, dtype=np.float64, rtol=None, atol=None) -> Comparison | None:
    """``--order 2``: each backend's second derivative against FD of its own first derivative,
    then against the other backends' second derivatives."""
    verdicts, computed = [], []
    for run in runs:
        if run.status == Status.COMPUTED and "order2_error" in run.extra:
            verdicts.append(BackendVerdict(run.name, Status.ERROR, run.seconds,
                                           f"second derivative failed: {run.extra['order2_error']}"))
            continue
        if run.status == Status.COMPUTED and "order2_not_applicable" in run.extra:
            verdicts.append(BackendVerdict(run.name, Status.NOT_APPLICABLE, run.seconds,
                                           run.extra["order2_not_applicable"]))
            continue
        data = run.extra.get("order2") if run.status == Status.COMPUTED else None
        if data is None:
            continue
        own_reference = BackendRun("fd", Status.REFERENCE, value=data["value"], jacobian=data["fd"],
                                   error=data["fd_error"])
        second = BackendRun(run.name, Status.COMPUTED, run.seconds, value=data["value"], jacobian=data["jacobian"])
        verdict = _judge(second, own_reference, dtype, rtol, atol, None)
        if verdict.status == Status.DISAGREE:
            verdict = replace(verdict, message=f"differs from FD of its own first derivative: {verdict.message}")
        verdicts.append(verdict)
        computed.append(second)
    if not verdicts:
        return None
    # Across backends: a second derivative that passes its own check but differs from the
    # others' means the first derivatives differ too (the first-order table says which).
    by_name = {v.name: v for v in verdicts}
    for run in computed:
        others = [o for o in computed if o.name != run.name and by_name[o.name].status == Status.AGREE]
        differing = [o.name for o in others
                     if not np.all(np.abs(o.jacobian - run.jacobian) <= entry_bound(o.jacobian, np.zeros_like(o.jacobian), dtype, rtol, atol))]
        if differing and by_name[run.name].status == Status.AGREE and len(differing) == len(others):
            by_name[run.name] = replace(by_name[run.name], status=Status.DISAGREE,
                                        message=f"differs from {', '.join(differing)}")
    verdicts = [by_name[v.name] for v in verdicts]
    failing = tuple(v.name for v in verdicts if v.status in FAILING)
    passing = [v.name for v in verdicts if v.status not in FAILING]
    sentence = disagreement_sentence(failing, passing, with_reference=False)
    return Comparison(tuple(verdicts), failing, f"second derivatives: {sentence}" if sentence else "")
