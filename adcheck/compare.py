"""Judge a whole run: every computed backend against the resolved reference and each other.

Pure functions over arrays: nothing here prints or exits. One backend's entries are judged by the
chain of deciders in ``adcheck.verdict.chain`` (finite differences, kinks, rounding, the second
witness, another framework, the AD consensus); this module resolves the reference once, runs the
chain for each backend, and says who is the odd one out. ``--order 2`` judges each backend's
second derivative with the same chain.

Every absolute threshold is a multiple of the function's own scale
(``verdict.tolerances.entry_scale``): the verdict does not change when the outputs or the
inputs are measured in other units.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .model import FAILING, BackendRun, BackendVerdict, Comparison, Status
from .verdict.chain import judge
from .verdict.messages import consensus_sentence, disagreement_sentence
from .verdict.reference import ResolvedReference, impurity, reference_verdict, resolve_reference
from .verdict.tolerances import absolute_tolerance, reference_settles, uniform_eps


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
    impure = impurity(reference_run)
    others = {r.name: r.jacobian for r in computed}
    verdicts = []
    for run in runs:
        if run.status == Status.REFERENCE:
            verdicts.append(reference_verdict(run, impure))
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
    odd, consensus = consensus_sentence(verdicts, resolved, computed, impure)
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



# --- second order -------------------------------------------------------------------------------------


def second_order_results(runs) -> tuple[list[BackendVerdict], list]:
    """(a row for each backend whose second order was asked and not computed, the (run, data) of
    each whose second order was computed): what full and fast second order both judge."""
    verdicts, computed = [], []
    for run in runs:
        data = run.second_order if run.status == Status.COMPUTED else None
        if data is None:
            continue
        if data.status != Status.COMPUTED:
            verdicts.append(BackendVerdict(run.name, Status(data.status), run.seconds, data.message))
            continue
        computed.append((run, data))
    return verdicts, computed


def compare_second_order(runs, rtol=None, atol=None, *, eps_rows=None, input_scales=1.0) -> Comparison | None:
    """``--order 2``: each backend's second derivative against FD of its own first derivative,
    then against the other backends' second derivatives."""
    verdicts, found = second_order_results(runs)
    computed, resolved_by_name = {run.name: data for run, data in found}, {}
    for name, data in computed.items():
        own = BackendRun("fd", Status.REFERENCE, value=data.value, jacobian=data.fd, error=data.fd_error)
        run = BackendRun(name, Status.COMPUTED, next(r.seconds for r in runs if r.name == name), value=data.value,
                         jacobian=data.jacobian)
        others = {other: d.jacobian for other, d in computed.items()}
        eps = eps_rows if eps_rows is not None and np.size(eps_rows) == data.value.size else None
        eps = eps if eps is not None else uniform_eps(data.value.size)
        resolved = _mirrored(resolve_reference(own, [d.jacobian for d in computed.values()], rtol, atol, eps,
                                               input_scales), eps, input_scales)
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


def _mirrored(resolved: ResolvedReference, eps_rows, input_scales) -> ResolvedReference:
    """The scale of a second derivative's entries, which its own row does not give.

    Second derivatives are symmetric: d2 f / dx_i dx_j and d2 f / dx_j dx_i are one number, so an
    entry's absolute tolerance is the larger of its own and its mirror's in each output's n x n
    block. And a first derivative computed as 0 (|exp(z)|^2 along Im z) is a cancellation whose
    rounding is at the scale of the whole gradient, so the value noise of every row is that of
    the block's largest first derivative. Without these a backend's 1e-16 on an entry whose true
    value is 0 failed (err/tol 1.7) or stayed unverified beside backends that gave 0.
    """
    rows, n = resolved.jacobian.shape
    if n == 0 or rows % n:
        return resolved
    value = np.abs(np.where(np.isfinite(resolved.value), resolved.value, 0.0)).reshape(rows // n, n)
    largest = np.broadcast_to(value.max(axis=1, keepdims=True), value.shape).reshape(rows)

    def scaled(atol, factor):
        blocks = np.asarray(atol, dtype=float).reshape(rows // n, n, n)
        mirrored = np.maximum(blocks, blocks.transpose(0, 2, 1)).reshape(rows, n)
        noise = absolute_tolerance(np.zeros((rows, n)), largest, eps_rows, input_scales, factor)
        return np.maximum(mirrored, noise)

    atol = resolved.atol if resolved.user_atol else scaled(resolved.atol, resolved.tol.atol_scale)
    settled = reference_settles(resolved.jacobian, resolved.error, resolved.tol, atol)
    return replace(resolved, atol=atol, ad_atol=scaled(resolved.ad_atol, resolved.tol.ad_atol_scale), settled=settled)
