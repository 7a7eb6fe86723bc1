"""One backend's verdict, entry by entry, from an ordered chain of deciders.

Each decider reads what the ones before it decided (a ``Ledger`` of boolean masks over the
Jacobian's entries) and settles, accuses or explains some more entries:

1. ``finite_differences``: where FD's error bar is narrow enough, inside agrees and outside
   disagrees; outside even a wide bar is a disagreement to be witnessed; a NaN/inf where FD is
   finite disagrees outright;
2. ``kinks``: where the one-sided slopes differ, any value between them is a valid subgradient;
3. ``value_rounding`` and ``own_rounding``: a difference that the value's rounding noise, or the
   backend's own, explains is the formula's conditioning, which nothing can settle;
4. ``accusation``: FD alone never convicts: what it finds wrong is accused;
5. ``second_witness``: the Taylor remainder walked on both sides of the input, and the complex
   step, convict or overrule the accused and decide where FD was silent;
6. ``other_framework``: another framework's AD that sides with FD seconds an accusation;
7. ``ad_consensus``: the other AD backends and the complex step verify what nothing else settled.

An entry no decider settles is inconclusive, never a disagreement. ``messages.verdict_of`` turns
the ledger into the verdict's words.
"""

from __future__ import annotations

import numpy as np

from ..model import BackendRun, BackendVerdict, Evidence, Status
from .ledger import Ledger
from .messages import verdict_of
from .reference import ResolvedReference, impure_mask, other_function_nearby, primal_mismatch
from .tolerances import agreement_bound
from .witnesses import (
    OWN_NOISE_MAX_LOSS,
    ad_votes,
    independent_dissent,
    kink_slopes,
    own_noise_reach,
    rounding_explains,
    second_witness,
)


def finite_differences(ledger: Ledger) -> None:
    """FD's error bar: inside a narrow one agrees, outside any one disagrees (to be witnessed)."""
    reference = ledger.reference
    ledger.nonfinite = ~np.isfinite(ledger.jac) & np.isfinite(reference.fd)
    ledger.settled = reference.settled & ledger.usable
    ledger.outside = ledger.usable & np.isfinite(reference.jacobian) & ~(ledger.diff <= ledger.bound)
    ledger.disagree = (ledger.settled & ledger.outside) | ledger.nonfinite
    ledger.agree = ledger.settled & ~ledger.disagree


def kinks(ledger: Ledger) -> None:
    """At a kink (one-sided slopes that differ), a value between the slopes is a subgradient."""
    one_sided = ledger.reference.one_sided
    if one_sided is None:
        return
    at_kink, between = kink_slopes(ledger.jac, one_sided, ledger.bound)
    ledger.kinks = at_kink & between
    ledger.disagree = (ledger.disagree & ~at_kink) | (at_kink & ~between) | ledger.nonfinite
    ledger.agree = (ledger.agree | ledger.kinks) & ~ledger.disagree
    ledger.outside &= ~at_kink


def value_rounding(ledger: Ledger) -> None:
    """A value computed with cancellation carries rounding noise that AD differentiates along
    with it: such a mismatch is the formula's conditioning, not a wrong rule. Where FD disagrees,
    settled or not: an unsettled bar is often that same noise, and the second witness, walking the
    same rounded values, would read it as a remainder."""
    against = (ledger.disagree | (ledger.outside & ~ledger.agree)) & ~ledger.nonfinite
    if not against.any():  # (most backends agree everywhere: nothing to explain)
        return
    ledger.explained = against & rounding_explains(ledger.diff, ledger.reference)
    ledger.disagree &= ~ledger.explained


def own_rounding(ledger: Ledger) -> None:
    """The backend's own derivative cancels, and a few ulps' nudge of the input moves it by more
    than the difference (measured only after a disagreement) — as long as it keeps its digits."""
    ledger.own_reach = own_noise_reach(ledger.run.second_look.own_noise, ledger.jac.shape)
    if not ledger.disagree.any():
        return
    ref = ledger.reference.jacobian
    keeps_digits = ledger.diff <= OWN_NOISE_MAX_LOSS * np.maximum(np.abs(ledger.jac), np.abs(ref))
    ledger.self_explained = (ledger.disagree & ~ledger.nonfinite & np.isfinite(ledger.diff)
                             & (ledger.diff <= ledger.own_reach) & keeps_digits)
    ledger.explained |= ledger.self_explained
    ledger.disagree &= ~ledger.self_explained


def accusation(ledger: Ledger) -> None:
    """Finite differences alone never convict: an entry outside their bar, settled or not, is
    accused, and a second witness decides it. Until one has been asked (``reference.witness`` is
    None: the first comparison of a run) the accusation stands provisionally, and the run asks
    one (``run._second_look``). A reference that is itself a derivative (``reference.exact``) is
    no estimate to be witnessed: what differs from it disagrees."""
    if ledger.reference.exact:
        return
    ledger.accused = ((ledger.disagree & ~ledger.nonfinite)
                      | (ledger.outside & ~ledger.agree & ~ledger.disagree & ~ledger.explained))
    ledger.disagree &= ~ledger.accused


def second_witness_decides(ledger: Ledger) -> None:
    """The Taylor remainder and the complex step on the accused entries and where FD is silent."""
    silent = ledger.undecided & ~ledger.accused  # FD too wide to decide, the value inside its bar
    if not (silent | ledger.accused).any() or ledger.impure:
        return
    reference, jac = ledger.reference, ledger.jac
    resolution = reference.atol + reference.tol.fd_rtol * np.abs(jac)
    second = second_witness(jac, reference, ledger.tolerance, resolution, silent | ledger.accused, ledger.accused)
    ledger.taylor_estimate, ledger.walk_sides = second.estimate, second.sides
    convicted = ledger.accused & second.disagree
    ledger.overruled = ledger.accused & second.agree & ~second.disagree
    ledger.disagree |= convicted
    ledger.agree |= ledger.overruled
    # Where FD cannot decide, one witness may verify an entry. Convicting it takes the Taylor
    # test and the complex step, or the walk on both sides of the input: the short ladder alone
    # starts where FD's steps do, and is fooled where they are.
    silent &= ~ledger.outside
    ledger.agree |= silent & second.agree
    lone = silent & second.disagree & ~second.disagree_twice
    ledger.disagree |= (silent & second.disagree_twice) | (lone & second.walked)
    ledger.unwitnessed |= lone & ~second.walked
    decided = (convicted | ledger.overruled
               | (silent & (second.agree | second.disagree_twice | (second.disagree & second.walked))))
    ledger.evidence[decided] = second.by[decided]


def other_framework(ledger: Ledger) -> None:
    """Another framework's AD that sides with FD is a witness too (two independent systems
    against one); jax-fwd and jax-rev, or torch's two modes, share their rules and are not."""
    if ledger.impure:
        return
    open_ = ledger.accused & ~(ledger.disagree | ledger.agree)
    if not open_.any():
        return
    seconded = open_ & independent_dissent(ledger.run.name, ledger.jac, ledger.others, ledger.reference,
                                           ledger.bound)
    ledger.disagree |= seconded
    ledger.evidence[seconded] = Evidence.OTHER_FRAMEWORK


def provisional(ledger: Ledger) -> None:
    """What a second witness has not yet been asked about stands, for now, as FD said: the run's
    second look asks one (``unwitnessed``); once asked and silent, it is inconclusive."""
    if ledger.impure:
        return
    ledger.unwitnessed |= ledger.accused & ~(ledger.disagree | ledger.agree)
    if ledger.reference.witness is None:
        ledger.disagree |= ledger.unwitnessed


def ad_consensus(ledger: Ledger) -> None:
    """Where nothing else settled an entry, the other AD backends and the complex step verify it
    at a tight tolerance (not where FD accused: agreement among AD backends cannot outvote FD,
    only a witness can; nor where rounding explains a difference: they differentiate the same
    rounding too)."""
    undecided = ledger.undecided
    if not undecided.any():
        return
    verified, contested, ledger.voters = ad_votes(ledger.run.name, ledger.jac, ledger.others, ledger.reference)
    ledger.consensus = undecided & verified & ~ledger.explained & ~ledger.unwitnessed
    ledger.agree |= ledger.consensus
    ledger.contested = contested & undecided
    ledger.evidence[ledger.consensus] = Evidence.AD_CONSENSUS


DECIDERS = (finite_differences, kinks, value_rounding, own_rounding, accusation, second_witness_decides,
            other_framework, provisional, ad_consensus)


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
    return verdict_of(decide(run, run.jacobian, reference, others, impure), primal,
                      other_function_nearby(run, reference))


def decide(run: BackendRun, jac: np.ndarray, reference: ResolvedReference, others: dict[str, np.ndarray],
           impure: str = "") -> Ledger:
    """The deciders' ledger for ``jac`` (a Jacobian, or fast mode's products, whose "columns" are
    probe directions) against ``reference``; ``run`` names the backend and carries its own noise."""
    ref = reference.jacobian
    ledger = Ledger(run=run, reference=reference, others=others, impure=impure, jac=jac, diff=np.abs(jac - ref),
                    bound=agreement_bound(ref, reference.error, reference.tol, reference.atol),
                    tolerance=reference.atol + reference.tol.rtol * np.abs(jac),
                    usable=~impure_mask(impure, jac.shape))
    for decider in DECIDERS:
        decider(ledger)
    return ledger
