"""The words of a verdict: the sentences of the report, the listed entries, and the evidence of
an entry nothing could settle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import FAILING, BackendVerdict, EntryMismatch, Status
from .ledger import Ledger
from .reference import ResolvedReference
from .witnesses import OWN_NOISE_FACTOR, flushed_entries, rounding_reach

MAX_LISTED_MISMATCHES = 10  # entries a verdict lists (the rest are counted)


def disagreement_sentence(failing, passing, with_reference: bool = True) -> str:
    """"X disagrees with finite differences and with Y, Z, which agree" (or "" if not both)."""
    if not failing or not passing:
        return ""
    verb = "disagrees" if len(failing) == 1 else "disagree"
    against = "with finite differences and with" if with_reference else "with"
    return f"{', '.join(failing)} {verb} {against} {', '.join(passing)}, which agree"


# --- the reference, resolved ----------------------------------------------------------------------



def listed_entries(mask, priority, jac, reference: ResolvedReference, ratio, evidence_for=None) -> tuple[EntryMismatch, ...]:
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
                          contested, explained=None, own_reach=None, accused=None, walk_sides=None,
                          flushers=None, complex_step=None) -> str:
    """What each method said about entry (i, j), for the report of an inconclusive entry.
    ``flushers``: per entry, the other backends whose value there is a subnormal flushed to zero;
    ``complex_step``: the one the second witness took, where the reference has none of its own."""
    if own_reach is not None:
        return (f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e}; {name}'s own value moves by up to "
                f"{own_reach[i, j] / OWN_NOISE_FACTOR:.1e} when the input moves by a few ulps (rounding in its "
                "derivative's computation), which covers the difference")
    if explained is not None and explained[i, j]:
        return (f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e}; the value carries rounding noise "
                f"of {reference.noise[i]:.1e} (cancellation), and a difference up to "
                f"{rounding_reach(reference)[i, j]:.1e} is that noise differentiated")
    parts = [f"fd {reference.fd[i, j]:.6g} ± {reference.fd_error[i, j]:.1e} "
             + ("(disagrees, alone)" if accused is not None and accused[i, j] else "(too wide to decide)")]
    witness_note = reference.witness.complex_step_note if reference.witness is not None else ""
    taken = reference.complex_step[i, j]
    if not np.isfinite(taken) and complex_step is not None:
        taken = complex_step[i, j]
    if np.isfinite(taken):
        parts.append(f"complex step {taken:.6g}")
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
    if flushers is not None and flushers[i, j]:
        parts.append(f"{flushers[i, j]} flush subnormal numbers to zero, so their value here witnesses nothing")
    if contested[i, j]:
        parts.append("the AD backends differ here")
    elif not any(o != name for o in others):
        parts.append("no other AD backend")
    return "; ".join(parts)


def flushing_backends(ledger: Ledger) -> np.ndarray:
    """Per entry: the other AD backends (comma-separated) whose value there is a subnormal
    flushed to zero (``witnesses.flushed_entries``); "" where none."""
    names = np.full(ledger.jac.shape, "", dtype=object)
    for other, values in ledger.others.items():
        if other == ledger.run.name or values is None or values.shape != ledger.jac.shape:
            continue
        flushed = flushed_entries(other, ledger.jac, ledger.reference)
        names = np.where(flushed, np.where(names == "", other, names + ", " + other), names)
    return names


def consensus_sentence(verdicts, reference: ResolvedReference | None, computed, impure: str) -> tuple[tuple[str, ...], str]:
    """Who is the odd one out when backends disagree, in one sentence."""
    by_name = {v.name: v for v in verdicts}
    ad = [r for r in computed if by_name[r.name].status in (Status.AGREE, Status.KINK, Status.DISAGREE,
                                                            Status.INCONCLUSIVE)]
    if impure:
        return ("fd",), impure_sentence(len(ad) >= 2 and reference is not None
                                        and all_agree_with_each_other([r.jacobian for r in ad], reference))
    failing = [r.name for r in ad if by_name[r.name].status in FAILING]
    passing = [r.name for r in ad if by_name[r.name].status not in FAILING]
    if not failing:
        return (), ""
    if passing:
        return tuple(failing), disagreement_sentence(failing, passing)
    if len(ad) >= 2 and reference is not None and all_agree_with_each_other([r.jacobian for r in ad], reference):
        return tuple(failing), ("every AD backend agrees with the others but not with finite differences, and a "
                                "second witness (the Taylor remainder or the complex step) sides with finite "
                                "differences; the function gives the same value on every call: a derivative rule "
                                "these backends share is wrong")
    if len(ad) == 1:
        return tuple(failing), f"{failing[0]}, the only AD backend that ran, disagrees with finite differences"
    return tuple(failing), "the backends disagree with finite differences and with each other"


def impure_sentence(ad_agree: bool) -> str:
    """Why a function whose value changes between calls has no derivative to check."""
    tail = "; the AD backends agree with each other" if ad_agree else ""
    return ("the function's value changes between identical calls (state, randomness or a cache): "
            f"its derivative is not defined, and no backend can be checked against it{tail}")


def all_agree_with_each_other(values_of: list[np.ndarray], reference: ResolvedReference) -> bool:
    """Every AD backend's values (Jacobians, or fast mode's products) equal the first's at the AD
    tolerance of ``reference``."""
    first = values_of[0]
    for values in values_of[1:]:
        if values.shape != first.shape:
            return False
        bound = reference.ad_atol + np.maximum(reference.tol.ad_rtol, reference.tol.rtol) * np.abs(first)
        if not np.all(np.abs(values - first) <= bound):
            return False
    return True


def verdict_of(ledger: Ledger, primal: str, elsewhere: str) -> BackendVerdict:
    """The verdict's status, numbers, listed entries and message, from the deciders' ledger.

    ``primal``: how the backend's value differs from plain numpy's (or ""); ``elsewhere``: for
    rebound code, how its values near the input differ (``reference.other_function_nearby``)."""
    run, reference, jac = ledger.run, ledger.reference, ledger.jac
    disagree, undecided = ledger.disagree, ledger.undecided
    errors = _errors(ledger)
    # Sorting keeps ``errors.ratio`` (a NaN entry is among the worst); a NaN entry's shown ratio is NaN.
    listed = listed_entries(disagree, errors.ratio, jac, reference, np.where(np.isnan(jac), np.nan, errors.ratio))
    flushers = flushing_backends(ledger) if undecided.any() else None
    unsure = listed_entries(
        undecided & ledger.usable, np.abs(reference.fd_error), jac, reference, errors.ratio,
        evidence_for=lambda i, j: inconclusive_evidence(
            i, j, reference, ledger.taylor_estimate, ledger.tolerance, ledger.others, run.name, ledger.contested,
            ledger.explained & ~ledger.self_explained, ledger.own_reach if ledger.self_explained[i, j] else None,
            accused=ledger.unwitnessed, walk_sides=ledger.walk_sides, flushers=flushers,
            complex_step=ledger.complex_step))
    n_disagree = int(disagree.sum())
    if n_disagree and not primal and elsewhere:
        return BackendVerdict(
            run.name, Status.NOT_APPLICABLE, run.seconds,
            f"with {run.rebound} the code computes another function: the same value at the input, but not near it "
            f"({elsewhere}), so its derivative is that other function's; adcheck rebound the code in this worker, "
            "and it does not mean the same there", run.location)
    status, message = _status_and_message(ledger, primal)
    return BackendVerdict(
        name=run.name, status=status, seconds=run.seconds, message=message, location=run.location,
        max_abs_error=errors.max_abs, max_rel_error=errors.max_rel, worst_entry=errors.worst, mismatches=listed,
        n_mismatches=n_disagree, n_inconclusive=int(undecided.sum()), inconclusive=unsure,
        n_consensus=int(ledger.consensus.sum()), n_nonfinite=int(ledger.nonfinite.sum()),
        n_kinks=int(ledger.kinks.sum()), mismatch_mask=disagree, n_entries=int(jac.size),
        n_overruled=int(ledger.overruled.sum()),
        unwitnessed=ledger.unwitnessed if reference.witness is None and ledger.unwitnessed.any() else None,
        kinks=tuple((int(i), int(j)) for i, j in zip(*np.nonzero(ledger.kinks)))[:MAX_LISTED_MISMATCHES],
        primal_mismatch=primal,
    )


@dataclass(frozen=True)
class _Errors:
    ratio: np.ndarray  # |J - J_fd| over the agreement bound, per entry
    max_abs: float | None
    max_rel: float | None
    worst: tuple[int, int] | None


def _errors(ledger: Ledger) -> _Errors:
    """Errors are measured against the reference where it settled the entry (and where an entry
    disagrees); elsewhere the difference from an unsure FD value means nothing."""
    diff, bound, disagree = ledger.diff, ledger.bound, ledger.disagree
    judged = (ledger.settled & ~ledger.kinks & ~ledger.accused) | ledger.nonfinite
    ratio = np.where(np.isfinite(diff), diff / np.where(bound > 0, bound, np.finfo(float).tiny), np.inf)
    # An entry the Taylor test convicted inside FD's wide bar is over the tolerance that witness
    # applied, not over FD's bar: its ratio is the witness's, so a disagree row does not read below 1.
    witnessed = disagree & ~ledger.nonfinite & (ratio <= 1) & np.isfinite(ledger.taylor_estimate)
    if witnessed.any():
        resolvable = np.where(ledger.tolerance > 0, ledger.tolerance, np.finfo(float).tiny)
        ratio = np.where(witnessed, np.maximum(ratio, ledger.taylor_estimate / resolvable), ratio)
    ratio_judged = np.where(judged | disagree, ratio, -1.0)
    worst = None
    if ratio.size and (judged | disagree).any():
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio_judged)), ratio.shape))
    finite_judged = (judged | disagree) & np.isfinite(diff)  # a disagreement outside a wide bar counts too
    max_abs = float(np.max(diff[finite_judged])) if finite_judged.any() else None
    if ledger.nonfinite.any():
        max_abs = float("nan")
    max_rel = float(np.max(ratio[finite_judged])) if finite_judged.any() else None
    if ledger.nonfinite.any():  # a NaN or inf entry has no error ratio: the row says so, as its entries do
        max_rel = float("nan") if np.isnan(ledger.jac[ledger.nonfinite]).any() else float("inf")
    return _Errors(ratio, max_abs, max_rel, worst)


def _status_and_message(ledger: Ledger, primal: str) -> tuple[Status, str]:
    n_disagree, undecided = int(ledger.disagree.sum()), ledger.undecided
    n_undecided, size = int(undecided.sum()), undecided.size
    if primal or n_disagree:
        status = Status.DISAGREE
        if primal:
            message = primal
        else:
            message = f"{n_disagree} of {size} entries outside tolerance"
            if ledger.nonfinite.any():
                message += f" ({int(ledger.nonfinite.sum())} NaN/inf where finite differences are finite)"
    elif ledger.impure:
        status = Status.INCONCLUSIVE
        message = "no usable reference: the function's value changes between identical calls"
    elif n_undecided:
        status = Status.INCONCLUSIVE
        message = f"{n_undecided} of {size} entries could not be verified: " + why_unverified(ledger)
    elif ledger.kinks.any():
        status = Status.KINK
        count = int(ledger.kinks.sum())
        message = (f"{count} {'entry' if count == 1 else 'entries'} at a kink, where the value lies between "
                   "the one-sided derivatives (a valid subgradient)")
    else:
        status, message = Status.AGREE, ""
    notes = []
    n_consensus = int(ledger.consensus.sum())
    if n_consensus and status in (Status.AGREE, Status.KINK, Status.INCONCLUSIVE):
        confirmed_by = {name for entry in ledger.voters[ledger.consensus].ravel()
                        for name in str(entry).split(", ") if name}
        what = ("the complex step" if confirmed_by == {"complex step"} else
                "agreement with the other AD backends" + (" and the complex step" if "complex step" in confirmed_by
                                                          else ""))
        notes.append(f"{n_consensus} {'entry' if n_consensus == 1 else 'entries'} verified only by {what}")
    if ledger.overruled.any() and status != Status.DISAGREE:
        notes.append(overruled_sentence(ledger.overruled, ledger.evidence, ledger.reference))
    return status, "; ".join([message] + notes if message else notes)


def why_unverified(ledger: Ledger) -> str:
    undecided = ledger.undecided
    if (ledger.unwitnessed & ledger.contradicted & undecided).any():
        return ("finite differences and the Taylor walk find them wrong, but the complex step, which does not "
                "cancel, sides with the backend: witnesses that contradict each other convict nothing")
    if (ledger.unwitnessed & undecided).any():
        flushers = sorted({name for entry in flushing_backends(ledger)[ledger.unwitnessed & undecided].ravel()
                           for name in str(entry).split(", ") if name})
        flush = (f" ({', '.join(flushers)} flush subnormal numbers to zero: where an entry, its value or its input "
                 "is subnormal, their derivative is the flush's and seconds nothing)" if flushers else "")
        return ("finite differences disagree there, but no second witness (the Taylor test, the complex step) "
                f"confirms them, and finite differences alone convict nothing{flush}")
    if ledger.self_explained.any():
        return (f"{ledger.run.name}'s own derivative carries rounding noise (its computation cancels) as large as "
                "the difference")
    if ledger.explained.any():
        return "the function's value carries rounding noise (a formula that cancels), which AD differentiates along with it"
    why = ("the other AD backends give other values there" if (ledger.contested & undecided).any()
           else "no other AD backend could confirm them")
    return f"finite differences cannot settle them and {why}"
