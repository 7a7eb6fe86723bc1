"""Fast mode's verdicts: products along the probe directions, judged by the same chain as full
mode's Jacobian entries (``chain.decide``), so FD alone convicts nothing here either.

A product is an "entry" whose column is a probe direction:

- forward mode: ``(J V)[i, k]`` against FD's ``J V``, entry by entry;
- reverse mode: the dot-product test ``(U^T J V)[i, k]`` against ``U^T (J V)_fd``.

Each kind has its own ``ResolvedReference``; its second witness is the Taylor remainder walked
along the accused directions on both sides of the input (``backends.fd.witness_along``), in the
outputs' space for forward products and projected on the cotangents for reverse ones. The
other AD backends vote where their products mean the same (every backend's ``U^T J V``; ``J V``
of forward backends, and of reverse ones along their sampled basis rows), and the reverse
backends' dot-product test confirms a forward backend's ``J V`` along a direction where they
agree on every cotangent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..fast import DETECTION_PROBABILITY, N_RANDOM, LocaliseRow, ProbeVectors, detection_threshold, probe_vectors
from ..model import BackendRun, BackendVerdict, Comparison, EntryMismatch, Status, TaylorLadder, Witness
from .chain import decide
from .messages import all_agree_with_each_other, disagreement_sentence, impure_sentence, why_unverified
from .reference import ResolvedReference, impurity, primal_mismatch, reference_verdict
from .tolerances import (
    RowTolerances,
    absolute_tolerance,
    agreement_bound,
    reference_settles,
    uniform_eps,
    well_estimated,
)


@dataclass(frozen=True)
class FastComparison:
    """Fast mode's comparison, and what the run does next with it."""

    comparison: Comparison
    localise: dict[str, LocaliseRow]  # reverse-mode rows found wrong: bisection in FD finds the entries
    localise_atol: float | None  # the tolerance bisection judges with (the tightest of the rows')
    note: str  # what fast mode checked, and the smallest wrong entry it catches
    to_walk: tuple[int, ...]  # directions where FD alone accused a product: the second look walks them


def products_reference(value, fd, fd_error, eps, rtol, atol, scale, magnitudes=None,
                       witness: Witness | None = None, noise=None, own_scales=None) -> ResolvedReference:
    """The reference for one kind of product: FD's products and what settles them.

    ``value``: the function's value in the products' space (the outputs, or ``U^T f``);
    ``magnitudes``: the values the absolute tolerance scales with (default ``|value|``);
    ``noise``: the rounding noise of ``value``, and ``own_scales`` each direction's
    (``direction_scales``): how far that noise, differentiated, moves a product
    (``witnesses.rounding_reach``)."""
    tol = RowTolerances(eps, rtol)
    scaled = np.abs(value) if magnitudes is None else magnitudes

    def tolerance(factor):
        return np.broadcast_to(absolute_tolerance(well_estimated(fd, fd_error), scaled, eps, scale, factor), fd.shape)

    entry_atol = np.broadcast_to(atol, fd.shape) if atol is not None else tolerance(tol.atol_scale)
    return ResolvedReference(
        value=value, jacobian=fd, error=fd_error, fd=fd, fd_error=fd_error,
        settled=reference_settles(fd, fd_error, tol, entry_atol), complex_step=np.full(fd.shape, np.nan), tol=tol,
        atol=entry_atol, ad_atol=tolerance(tol.ad_atol_scale), user_atol=atol is not None, witness=witness,
        noise=noise, own_scales=own_scales)


def direction_scales(directions: np.ndarray, own_scales: np.ndarray) -> np.ndarray:
    """Per direction ``v``, the scale whose reciprocal bounds how fast a value's rounding noise,
    differentiated along ``v``, grows: ``1 / sum_j |v_j| / s_j`` (``s_j``: input j's own scale,
    ``finite_differences.step_scales``). Along a basis vector ``e_j`` it is ``s_j``, as full mode's
    column j; along a random direction the smallest inputs dominate."""
    with np.errstate(divide="ignore"):
        return 1.0 / (np.abs(directions).T @ (1.0 / np.asarray(own_scales, dtype=float)))


def projected_witness(witness: Witness | None, cotangents: np.ndarray) -> Witness | None:
    """The walk of ``f`` seen through the cotangents: ``U^T f`` along the same directions."""
    if witness is None:
        return None

    def project(ladder: TaylorLadder) -> TaylorLadder:
        return replace(ladder, values=np.einsum("iq,ick->qck", cotangents, ladder.values),
                       noise=np.abs(cotangents).T @ np.asarray(ladder.noise, dtype=float))

    return Witness(project(witness.plus), project(witness.minus), None, witness.complex_step_note)


# A walk along a direction reads r/h within |J delta| / h of the truth, delta being each step's
# rounding off the direction (``model.TaylorLadder.offsets``: at an input of 1e8, an ulp is 1.5e-8
# in every coordinate); a rung where that can exceed this share of the tolerance says nothing.
OFFSET_SHARE = 0.1


def trusted_walk(witness: Witness | None, reach: np.ndarray, tolerance: np.ndarray) -> Witness | None:
    """The walk without the rungs its rounding off the direction can mislead (their values NaN,
    which the walk reads as silent). ``reach[i]`` bounds |J_i| (row i's gradient norm), so
    ``reach[i] * offset / h`` bounds the error the offset puts into r/h; ``tolerance``: per product."""
    if witness is None:
        return None

    def trusted(ladder: TaylorLadder) -> TaylorLadder:
        if ladder.offsets is None or not np.size(ladder.columns):
            return ladder
        columns = np.asarray(ladder.columns)
        with np.errstate(divide="ignore", invalid="ignore"):
            drift = reach[:, None, None] * (ladder.offsets / ladder.steps)[None, :, :]
        keep = drift <= OFFSET_SHARE * tolerance[:, columns][:, :, None]
        return replace(ladder, values=np.where(keep, ladder.values, np.nan))

    return replace(witness, plus=trusted(witness.plus), minus=trusted(witness.minus))


def _reach_and_tolerance(reference: ResolvedReference, products: list[np.ndarray], n_inputs: int):
    """(per row, a bound on the gradient norm; per product, the tightest tolerance an AD value gets):
    what ``trusted_walk`` needs. The bound is over FD and every backend's products, so no one
    source makes the walk trust itself more: |J_i v| for a unit v is about |J_i| / sqrt(m) for a
    random v."""
    def magnitudes(sources):
        return np.stack([np.where(np.isfinite(p), np.abs(p), np.nan) for p in sources])

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN row: no source is finite there
        largest = np.nan_to_num(np.nanmax(magnitudes([reference.fd, *products]), axis=(0, 2)), nan=np.inf)
        # The AD values' scale, not FD's: where the walk is needed FD's value may be noise near 0.
        smallest = np.nan_to_num(np.nanmin(magnitudes(products or [reference.fd]), axis=0), nan=0.0)
    return np.sqrt(n_inputs) * largest, reference.atol + reference.tol.rtol * smallest


def with_trusted_walk(reference: ResolvedReference, witness: Witness | None, products: list[np.ndarray],
                      n_inputs: int) -> ResolvedReference:
    """``reference`` with the walk along its directions as second witness, less the rungs its
    rounding off the direction can mislead (``trusted_walk``)."""
    if witness is None:
        return reference
    reach, tolerance = _reach_and_tolerance(reference, products, n_inputs)
    return replace(reference, witness=trusted_walk(witness, reach, tolerance))


def compare_fast(runs: list[BackendRun], n_inputs: int, rtol=None, atol=None, *, eps_rows=None,
                 typical_scale=1.0, own_scales=None, complex_columns: tuple[int, ...] = ()) -> FastComparison:
    """Judge each backend's products against FD's (``FastComparison``). ``typical_scale`` is the
    inputs' typical magnitude: a step along a unit direction of that length is what the absolute
    tolerances are measured against; ``own_scales`` each input's own
    (``finite_differences.step_scales``), which the value's rounding noise is differentiated on;
    ``complex_columns`` where the complex inputs' real parts sit (``fast.probe_vectors``)."""
    products = _Products(runs, n_inputs, rtol, atol, eps_rows, typical_scale, own_scales, complex_columns)
    verdicts, localise, to_walk = [], {}, set()
    for run in runs:
        if run.status == Status.REFERENCE:
            verdicts.append(reference_verdict(run, products.impure))
            continue
        if run not in products.computed:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
            continue
        judged = products.judge(run)
        verdicts.append(judged.verdict)
        to_walk.update(judged.to_walk)
        if judged.localise is not None:
            localise[run.name] = judged.localise
    failing = tuple(v.name for v in verdicts if v.status == Status.DISAGREE)
    passing = [v.name for v in verdicts if v.status == Status.AGREE]
    comparison = Comparison(tuple(verdicts), failing, disagreement_sentence(failing, passing))
    if products.impure:
        projected = list(products.projections.values())
        ad_agree = len(projected) >= 2 and all_agree_with_each_other(projected, products.projected)
        comparison = Comparison(tuple(verdicts), ("fd",), impure_sentence(ad_agree))
    atol_of = list(products.localise_atol.values())
    return FastComparison(comparison, localise, atol if atol is not None else (min(atol_of) if atol_of else None),
                          products.note(), tuple(sorted(to_walk)))


@dataclass(frozen=True)
class _Judged:
    verdict: BackendVerdict
    localise: LocaliseRow | None
    to_walk: tuple[int, ...]


class _Products:
    """The reference's products, the probe vectors and the two references (forward products and
    projected ones), shared by every backend's verdict in fast mode."""

    def __init__(self, runs, n_inputs: int, rtol, atol, eps_rows, typical_scale, own_scales=None,
                 complex_columns=()):
        self.reference = next(r for r in runs if r.status == Status.REFERENCE)
        reference = self.reference
        self.n_inputs, self.rtol, self.atol, self.typical_scale = n_inputs, rtol, atol, typical_scale
        jv_fd, jv_err = reference.products.jv, reference.products.jv_error
        value = reference.value
        self.vectors = probe_vectors(n_inputs, value.size, complex_columns=complex_columns)
        self.eps = eps_rows if eps_rows is not None else uniform_eps(value.size)
        self.impure = impurity(reference)
        u = self.vectors.cotangents
        self.computed = [r for r in runs if r.status == Status.COMPUTED and r.products is not None]
        self._by_name = {r.name: r for r in self.computed}
        self.projections, self.forward_products = {}, {}
        for run in self.computed:
            if run.products.jv is not None:
                self.projections[run.name] = u.T @ run.products.jv
                self.forward_products[run.name] = run.products.jv
            elif run.products.ujt is not None:
                self.projections[run.name] = run.products.ujt @ self.vectors.directions
                self.forward_products[run.name] = self._rows_of_jv(self.projections[run.name])
        noise = reference.reference.precision.noise if reference.reference is not None else None
        scales = None if own_scales is None or noise is None else direction_scales(self.vectors.directions, own_scales)
        self.forward = with_trusted_walk(
            products_reference(value, jv_fd, jv_err, self.eps, rtol, atol, typical_scale, noise=noise,
                               own_scales=scales),
            reference.second_look.witness, list(self.forward_products.values()), n_inputs)
        # Each cotangent mixes outputs: its tolerances are the coarsest of theirs, its scale |U|^T |f|.
        self.projected = with_trusted_walk(products_reference(
            u.T @ value, u.T @ jv_fd, np.abs(u.T) @ jv_err, np.full(u.shape[1], float(np.max(self.eps))), rtol, atol,
            typical_scale, magnitudes=np.abs(u.T) @ np.abs(value),
            noise=None if noise is None else np.abs(u.T) @ np.asarray(noise, dtype=float), own_scales=scales),
            projected_witness(reference.second_look.witness, u),
            list(self.projections.values()), n_inputs)
        self.localise_atol: dict[str, float] = {}

    def _dot_product_vote(self, run: BackendRun) -> np.ndarray | None:
        """A forward backend's own ``J V`` along the directions where its dot-product test agrees
        with every reverse backend's (``u^T (J v)`` against ``(u^T J) v`` for every cotangent, at
        the tight AD tolerance), NaN elsewhere: a vote on its forward products. A wrong entry
        ``(J v)[i, k]`` moves ``u^T (J v)`` along every random cotangent, so the reverse backends'
        independent computation confirms the column as a whole (with fast mode's detection
        probability, as every product check here). None without a reverse backend to ask."""
        reverse = [name for name, r in self._by_name.items() if r.products.jv is None and name != run.name]
        if not reverse:
            return None
        mine, tol = self.projections[run.name], self.projected.tol
        agreed = np.ones(mine.shape[1], dtype=bool)
        for name in reverse:
            theirs = self.projections[name]
            bound = self.projected.ad_atol + tol.ad_rtol * np.maximum(np.abs(mine), np.abs(theirs))
            with np.errstate(invalid="ignore"):
                agreed &= np.all(np.isfinite(mine) & np.isfinite(theirs) & (np.abs(mine - theirs) <= bound), axis=0)
        return np.where(agreed[None, :], run.products.jv, np.nan)

    def _rows_of_jv(self, projected: np.ndarray) -> np.ndarray:
        """A reverse backend's ``U^T J V`` as rows of ``J V`` where its cotangent is a basis vector (a
        scalar's u = 1, or a sampled output row), NaN elsewhere: a vote on forward products."""
        n_outputs = self.reference.value.size
        if n_outputs == 1:
            return projected
        rows = np.full((n_outputs, projected.shape[1]), np.nan)
        rows[self.vectors.sampled_rows] = projected[N_RANDOM:]
        return rows

    def judge(self, run: BackendRun) -> _Judged:
        primal = primal_mismatch(run.value, self.reference.value, self.forward.tol)
        if primal and run.rebound:
            return _Judged(BackendVerdict(run.name, Status.NOT_APPLICABLE, run.seconds,
                                          f"with {run.rebound} the function computes other values ({primal})"),
                           None, ())
        forward = run.products.jv is not None
        reference, others = ((self.forward, self.forward_products) if forward else (self.projected, self.projections))
        actual = run.products.jv if forward else self.projections[run.name]
        own_noise = run.second_look.own_noise
        if not forward and own_noise is not None and own_noise.shape == run.products.ujt.shape:
            run = replace(run, second_look=replace(run.second_look, own_noise=_projected_own_noise(own_noise,
                                                                                                  self.vectors)))
        vote = self._dot_product_vote(run) if forward else None
        if vote is not None:
            others = {**others, "the reverse backends' dot-product test": vote}
        ledger = decide(run, actual, reference, others, self.impure)
        disagree, undecided = ledger.disagree, ledger.undecided
        kind = "J v" if forward else "u^T J v"
        size = disagree.size
        localise, mismatches = None, ()
        if primal:
            message = primal
        elif disagree.any():
            ratio = np.where(disagree, np.where(np.isfinite(ledger.diff), ledger.diff / ledger.bound, np.inf), -1)
            i, k = (int(t) for t in np.unravel_index(int(np.argmax(ratio)), disagree.shape))
            message = (f"{int(disagree.sum())} of {size} products {kind} outside tolerance; worst along "
                       f"{_vector_name(self.vectors, k, 'direction')}{_witnessed(ledger, disagree)}")
            if forward:
                mismatches = _sampled_entries(self.vectors, disagree, actual, reference, ledger.diff, ledger.bound)
            else:
                localise = LocaliseRow(i, run.products.ujt[i], self.vectors.cotangents[:, i],
                                       self.vectors.directions[:, k])
                self.localise_atol[run.name] = float(reference.atol[i, k])
        elif ledger.impure:
            message = "no usable reference: the function's value changes between identical calls"
        elif undecided.any():
            message = f"{int(undecided.sum())} of {size} products could not be verified: " + why_unverified(ledger)
        else:
            message = ""
        if not disagree.any() and ledger.overruled.any():
            message = "; ".join(filter(None, [message, (
                f"finite differences overruled at {int(ledger.overruled.sum())} of {size} products {kind} by the "
                "Taylor remainder walked along the direction (FD's steps are long against how fast the function "
                "varies there)")]))
        status = (Status.DISAGREE if primal or disagree.any() else
                  Status.INCONCLUSIVE if undecided.any() or ledger.impure else Status.AGREE)
        judged = ((ledger.settled & ~ledger.accused) | disagree) & np.isfinite(ledger.diff)
        nonfinite = ledger.nonfinite.any()
        verdict = BackendVerdict(
            run.name, status, run.seconds, message, run.location,
            max_abs_error=float("nan") if nonfinite else (float(ledger.diff[judged].max()) if judged.any() else None),
            max_rel_error=float((ledger.diff / ledger.bound)[judged].max()) if judged.any() else None,
            mismatches=tuple(mismatches[:10]), n_mismatches=int(disagree.sum()), n_inconclusive=int(undecided.sum()),
            n_consensus=int(ledger.consensus.sum()), n_nonfinite=int(ledger.nonfinite.sum()),
            n_overruled=int(ledger.overruled.sum()), primal_mismatch=primal)
        to_walk = ()
        if reference.witness is None:
            # Accused products only, as full mode walks accused columns only: the walk deciding alone
            # where FD was merely unsure reads a value rounded to float32 inside the function (an
            # RMSNorm's upcast, along some inputs only) as a remainder.
            to_walk = tuple(int(k) for k in np.flatnonzero(ledger.unwitnessed.any(axis=0)))
        return _Judged(verdict, localise, to_walk)

    def note(self) -> str:
        """What fast mode checked, and the smallest wrong entry it catches with DETECTION_PROBABILITY."""
        forward = self.forward
        typical = float(np.median(agreement_bound(forward.jacobian, forward.error, forward.tol, forward.atol)))
        threshold = detection_threshold(typical, self.n_inputs)
        return (f"fast mode: {N_RANDOM} random directions and {self.vectors.sampled_columns.size} sampled columns; a "
                f"single wrong Jacobian entry is caught with {DETECTION_PROBABILITY:.0%} probability when it is off "
                f"by more than {threshold:.2g}")


def _projected_own_noise(own_noise: np.ndarray, vectors: ProbeVectors) -> np.ndarray:
    """A reverse backend's own noise on ``U^T J`` carried to ``U^T J V`` (a bound: the
    directions' entries add up in size). The random cotangents all mix the same outputs, so each
    gets the largest noise any of them showed per input: a few ulps' nudges may happen to leave
    one projection unmoved where the derivative under it is noisy."""
    pooled = own_noise.copy()
    if own_noise.shape[0] > 1:  # (a scalar output has one cotangent, 1)
        pooled[:N_RANDOM] = np.max(own_noise[:N_RANDOM], axis=0)
    return pooled @ np.abs(vectors.directions)


def _witnessed(ledger, disagree) -> str:
    """How the disagreement was found: by FD and the walk, or FD provisionally (before the walk)."""
    convicted = disagree & ~ledger.nonfinite
    if not convicted.any():
        return ""
    if ledger.reference.witness is None:
        return " (finite differences alone, before the second witness)"
    return ", and the Taylor remainder walked along the direction agrees"


def _sampled_entries(vectors: ProbeVectors, mask, actual, reference: ResolvedReference, diff, bound) -> list:
    """Forward mode's wrong products along a sampled basis column: these are Jacobian entries."""
    found = []
    for i, k in zip(*np.nonzero(mask)):
        if k >= N_RANDOM:
            col = int(vectors.sampled_columns[k - N_RANDOM])
            found.append(EntryMismatch(int(i), col, float(actual[i, k]), float(reference.fd[i, k]),
                                       float(reference.fd_error[i, k]), float(diff[i, k]),
                                       float(diff[i, k] / bound[i, k])))
    return found


def _vector_name(vectors: ProbeVectors, k: int, kind: str) -> str:
    if k < N_RANDOM:
        return f"random {kind} {k}"
    return f"input basis vector e_{int(vectors.sampled_columns[k - N_RANDOM])}"


def with_localised(comparison: Comparison, localised: dict, localise: dict[str, LocaliseRow],
                   n_outputs: int) -> Comparison:
    """The comparison with each bisected backend's wrong gradient entries listed."""
    verdicts = []
    for verdict in comparison.verdicts:
        entries = localised.get(verdict.name)
        if entries:
            row = localise[verdict.name].row_index
            output = output_of_cotangent(row, n_outputs)
            mismatches = tuple(
                EntryMismatch(output if output is not None else row, e.index, e.value, e.reference,
                              e.reference_error, abs(e.value - e.reference),
                              abs(e.value - e.reference) / max(abs(e.reference), np.finfo(float).tiny))
                for e in entries)
            plural = "y" if len(mismatches) == 1 else "ies"
            where = f"gradient entr{plural}" if output is not None else f"entr{plural} of u^T J (random cotangent {row})"
            verdict = replace(verdict, mismatches=mismatches, worst_entry=(mismatches[0].row, mismatches[0].col),
                              n_mismatches=len(mismatches),
                              message=f"{verdict.message}; localised by bisection to {len(mismatches)} {where}")
        verdicts.append(verdict)
    return replace(comparison, verdicts=tuple(verdicts))


def output_of_cotangent(index: int, n_outputs: int) -> int | None:
    """The output row a cotangent picks out, when it is a basis vector (always for scalars)."""
    if n_outputs == 1:
        return 0
    if index < N_RANDOM:
        return None
    return int(probe_vectors(1, n_outputs).sampled_rows[index - N_RANDOM])


# --- second order in fast mode ---------------------------------------------------------------------


def second_order_verdict(run: BackendRun, data, n_inputs: int, rtol, atol, typical_scale, what: str,
                         row_name) -> tuple[BackendVerdict, np.ndarray]:
    """(verdict, tolerances) of one backend's second directional derivatives (``model.SecondOrder``:
    its products, FD of its own first derivative ``g`` along the same directions, and the walk of
    ``g`` the worker took where FD accused products), judged by the chain. ``what``
    names ``g`` ("the gradient", "J u"); ``row_name(i)`` its row i."""
    products, value = data.jacobian, data.value
    reference = products_reference(value, data.fd, data.fd_error, uniform_eps(value.size), rtol, atol, typical_scale)
    # No walk: the worker saw nothing to walk at its tolerances; what the parent's accuse stays unproven.
    walk = data.walk if data.walk is not None else Witness.absent("not walked: the worker's screen accused nothing")
    reference = with_trusted_walk(reference, walk, [products], n_inputs)
    ledger = decide(run, products, reference, {})
    convicted, unproven = ledger.disagree, ledger.undecided
    size = convicted.size

    def worst(mask):
        ratio = np.where(mask, np.nan_to_num(ledger.diff / ledger.bound, nan=np.inf), -1.0)
        i, k = (int(t) for t in np.unravel_index(int(np.argmax(ratio)), mask.shape))
        return (f"d({what})[{row_name(i)}] along random direction {k}: {run.name} (actual) {products[i, k]:.6g}, "
                f"fd (desired) {data.fd[i, k]:.6g} ± {data.fd_error[i, k]:.1e}")

    if convicted.any():
        status = Status.DISAGREE
        message = (f"differs from FD of its own first derivative ({what}): {int(convicted.sum())} of {size} second "
                   f"directional derivatives outside tolerance, and the Taylor remainder agrees; worst "
                   f"{worst(convicted)}")
    elif unproven.any():
        status = Status.INCONCLUSIVE
        message = (f"{int(unproven.sum())} of {size} second directional derivatives could not be verified against FD "
                   f"of its own first derivative ({what}): {why_unverified(ledger)}; worst {worst(unproven)}")
    else:
        status, message = Status.AGREE, ""
        if ledger.overruled.any():
            message = (f"finite differences overruled by the Taylor remainder at {int(ledger.overruled.sum())} second "
                       "directional derivatives")
    judged = np.isfinite(ledger.diff) & ~unproven
    verdict = BackendVerdict(
        run.name, status, run.seconds, message,
        max_abs_error=float(ledger.diff[judged].max()) if judged.any() else None,
        max_rel_error=float((ledger.diff / ledger.bound)[judged].max()) if judged.any() else None,
        n_mismatches=int(convicted.sum()), n_inconclusive=int(unproven.sum()), n_nonfinite=int(ledger.nonfinite.sum()))
    return verdict, ledger.bound
