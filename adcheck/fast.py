"""Fast mode: check Jacobian-vector products instead of whole Jacobians.

A full FD Jacobian of a function of 10**6 inputs is out of reach, but a directional derivative
costs a few dozen evaluations whatever the dimension. So each AD backend computes products
along directions shared by every worker — forward-mode backends ``J V``, reverse-mode ones
``U^T J`` — and FD computes ``J V`` with error estimates:

- forward: ``(J V)_b`` against ``(J V)_fd`` entry by entry;
- reverse: the dot-product test ``(U^T J)_b V`` against ``U^T (J V)_fd``.

``V`` holds random unit directions plus a few sampled input basis vectors (so those columns
are checked whole), ``U`` random unit cotangents plus sampled output basis vectors. A
reverse-mode failure is localised by bisection: FD along directions supported on one half of
the inputs at a time finds the wrong entries of the backend's gradient row in about
``2 log2(m)`` directional derivatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Eight random directions: a single wrong entry is then caught with 99% probability once it is
# a few times the tolerance over |v_b| ~ 1/sqrt(m) (see detection_threshold).
N_RANDOM = 8
N_SAMPLED = 4  # basis vectors: these columns (and rows) are checked whole
VECTOR_SEED = 7
DETECTION_PROBABILITY = 0.99

# Auto mode takes the fast path above this many inputs: a full FD Jacobian costs about 30
# evaluations per input, and the Jacobian itself n*m memory.
AUTO_FAST_INPUTS = 4000


@dataclass(frozen=True)
class ProbeVectors:
    directions: np.ndarray  # (m, p): columns are unit random directions, then basis vectors
    sampled_columns: np.ndarray  # input indices of the basis vectors in ``directions``
    cotangents: np.ndarray  # (n, q)
    sampled_rows: np.ndarray


def _unit_random(rng, size, count):
    vectors = rng.standard_normal((size, count))
    return vectors / np.linalg.norm(vectors, axis=0, keepdims=True)


def probe_vectors(n_inputs: int, n_outputs: int, seed: int = VECTOR_SEED) -> ProbeVectors:
    """The same vectors in every worker and in the parent: they come from the seed and sizes."""
    rng = np.random.default_rng(seed)
    directions = _unit_random(rng, n_inputs, N_RANDOM)
    columns = np.sort(rng.choice(n_inputs, size=min(N_SAMPLED, n_inputs), replace=False))
    basis = np.zeros((n_inputs, columns.size))
    basis[columns, np.arange(columns.size)] = 1.0
    if n_outputs == 1:
        return ProbeVectors(np.hstack([directions, basis]), columns, np.ones((1, 1)), np.zeros(1, dtype=int))
    cotangents = _unit_random(rng, n_outputs, N_RANDOM)
    rows = np.sort(rng.choice(n_outputs, size=min(N_SAMPLED, n_outputs), replace=False))
    row_basis = np.zeros((n_outputs, rows.size))
    row_basis[rows, np.arange(rows.size)] = 1.0
    return ProbeVectors(np.hstack([directions, basis]), columns, np.hstack([cotangents, row_basis]), rows)


def detection_threshold(bound: float, n_inputs: int, n_directions: int = N_RANDOM,
                        probability: float = DETECTION_PROBABILITY) -> float:
    """The size of a single wrong entry caught with ``probability`` by ``n_directions`` random
    unit directions, when each product is compared within ``bound``.

    The error a wrong entry ``delta`` at input b puts into ``J v`` is ``delta * v_b`` with
    ``v_b ~ N(0, 1/m)``; one direction catches it when ``|v_b| > bound/delta``.
    """
    from scipy.special import ndtri  # here: importing scipy costs a run that never asks

    per_direction = 1.0 - (1.0 - probability) ** (1.0 / n_directions)
    t = ndtri(1.0 - per_direction / 2.0)  # |z| > t with the per-direction probability
    return float(bound * np.sqrt(n_inputs) / t)


def bisect_row(directional, row: np.ndarray, direction: np.ndarray, bound_for, max_found: int = 8) -> list[dict]:
    """Input indices where ``row`` (a backend's u^T J) differs from FD.

    ``direction`` is one along which the dot-product test failed; its restriction to the half
    holding a wrong entry b carries the same error ``delta * v_b`` while the other half carries
    none, so each level keeps the detection margin of the first test. ``directional(w) ->
    (value, error)`` is the FD derivative of u^T f along w, ``bound_for(value, error)`` the
    tolerance. Costs two directional derivatives per level: about 2 log2(m) in all.
    """
    found: list[dict] = []
    stack = [np.flatnonzero(direction)]
    while stack and len(found) < max_found:
        indices = stack.pop()
        if indices.size == 1:
            b = int(indices[0])
            w = np.zeros(row.size)
            w[b] = 1.0
            value, error = directional(w)
            if abs(row[b] - value) > bound_for(value, error):
                found.append({"index": b, "value": float(row[b]), "reference": float(value),
                              "reference_error": float(error)})
            continue
        for half in np.array_split(indices, 2)[::-1]:
            w = np.zeros(row.size)
            w[half] = direction[half]
            value, error = directional(w)
            if abs(row @ w - value) > bound_for(value, error):
                stack.append(half)
    return found


# --- comparison (parent side, pure) ---------------------------------------------------------


def compare_fast(runs, n_inputs: int, rtol=None, atol=None, *, eps_rows=None, typical_scale=1.0):
    """Judge each backend's products against FD's; returns (Comparison, rows to localise, atol, note).

    Forward mode compares ``J V`` entry by entry, reverse mode the dot products ``(U^T J) V``
    with ``U^T (J V)``. A product FD cannot settle is verified by the other backends when
    every one of them gives the same ``U^T J V`` for its direction, else it is inconclusive.
    ``typical_scale`` is the inputs' typical magnitude: a step along a unit direction of that
    length is what the absolute tolerances are measured against.
    """
    from .verdict.messages import disagreement_sentence
    from .verdict.reference import primal_mismatch
    from .verdict.tolerances import (
        RowTolerances,
        absolute_tolerance,
        agreement_bound,
        reference_settles,
        uniform_eps,
        well_estimated,
    )
    from .model import BackendVerdict, Comparison, EntryMismatch, Status

    reference = next(r for r in runs if r.status == Status.REFERENCE)
    jv_fd, jv_err = reference.products.jv, reference.products.jv_error
    n_outputs = reference.value.size
    vectors = probe_vectors(n_inputs, n_outputs)
    eps = eps_rows if eps_rows is not None else uniform_eps(n_outputs)
    tol = RowTolerances(eps, rtol)
    projected_fd = vectors.cotangents.T @ jv_fd
    projected_err = np.abs(vectors.cotangents.T) @ jv_err
    # Each cotangent row mixes outputs: its tolerances are the coarsest of them.
    tol_projected = RowTolerances(np.full(projected_fd.shape[0], float(np.max(eps))), rtol)

    computed = [r for r in runs if r.status == Status.COMPUTED and r.products is not None]
    projections = {}
    for run in computed:
        if run.products.jv is not None:
            projections[run.name] = vectors.cotangents.T @ run.products.jv
        elif run.products.ujt is not None:
            projections[run.name] = run.products.ujt @ vectors.directions
    verdicts, to_localise = [], {}
    for run in runs:
        if run.status == Status.REFERENCE:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
            continue
        if run not in computed:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
            continue
        primal = primal_mismatch(run.value, reference.value, tol)
        if primal and run.rebound:
            verdicts.append(BackendVerdict(run.name, Status.NOT_APPLICABLE, run.seconds,
                                           f"with {run.rebound} the function computes other values ({primal})"))
            continue
        forward = run.products.jv is not None
        if forward:
            actual, desired, desired_err, rows, values = run.products.jv, jv_fd, jv_err, tol, reference.value
            row_eps = eps
        else:
            actual, desired, desired_err, rows = projections[run.name], projected_fd, projected_err, tol_projected
            values = np.abs(vectors.cotangents.T) @ np.abs(reference.value)
            row_eps = np.full(values.size, float(np.max(eps)))
        entry_atol = atol if atol is not None else absolute_tolerance(
            well_estimated(desired, desired_err), values, row_eps, typical_scale, rows.atol_scale)
        settled = reference_settles(desired, desired_err, rows, entry_atol)
        bound = agreement_bound(desired, desired_err, rows, entry_atol)
        diff = np.abs(actual - desired)
        nonfinite = ~np.isfinite(actual) & np.isfinite(desired)
        mask = (settled & ~(diff <= bound)) | nonfinite
        undecided = ~settled & ~mask
        if undecided.any():
            verified = _projections_agree(run.name, projections, rows)
            undecided &= ~verified[None, :]
        mismatches, message = [], ""
        if mask.any():
            ratio = np.where(mask, np.where(np.isfinite(diff), diff / bound, np.inf), -1)
            i, k = (int(t) for t in np.unravel_index(int(np.argmax(ratio)), mask.shape))
            kind = "J v" if forward else "u^T J v"
            message = (f"{int(mask.sum())} of {mask.size} products {kind} outside tolerance; worst along "
                       f"{_vector_name(vectors, k, 'direction')}")
            if forward:
                for i2, k2 in zip(*np.nonzero(mask)):
                    if k2 >= N_RANDOM:  # a sampled basis column: this is a Jacobian entry
                        col = int(vectors.sampled_columns[k2 - N_RANDOM])
                        mismatches.append(EntryMismatch(int(i2), col, float(actual[i2, k2]), float(desired[i2, k2]),
                                                        float(desired_err[i2, k2]), float(diff[i2, k2]),
                                                        float(diff[i2, k2] / bound[i2, k2])))
            else:
                to_localise[run.name] = {"row_index": i, "row": run.products.ujt[i],
                                         "cotangent": vectors.cotangents[:, i],
                                         "direction": vectors.directions[:, k],
                                         "atol": float(entry_atol[i, k] if np.ndim(entry_atol) else entry_atol)}
        if primal or mask.any():
            status = Status.DISAGREE
        elif undecided.any():
            status = Status.INCONCLUSIVE
            message = (f"{int(undecided.sum())} of {undecided.size} products could not be verified: finite "
                       "differences cannot settle them and the other AD backends do not all agree")
        else:
            status = Status.AGREE
        judged = (settled | mask) & np.isfinite(diff)
        verdicts.append(BackendVerdict(
            run.name, status, run.seconds, primal or message, run.location,
            max_abs_error=float("nan") if nonfinite.any() else (float(diff[judged].max()) if judged.any() else None),
            max_rel_error=float((diff / bound)[judged].max()) if judged.any() else None,
            mismatches=tuple(mismatches[:10]), n_mismatches=int(mask.sum()), n_inconclusive=int(undecided.sum()),
            n_nonfinite=int(nonfinite.sum()), primal_mismatch=primal))
    typical_atol = atol if atol is not None else absolute_tolerance(
        well_estimated(jv_fd, jv_err), reference.value, eps, typical_scale, tol.atol_scale)
    typical = float(np.median(agreement_bound(jv_fd, jv_err, tol, typical_atol)))
    threshold = detection_threshold(typical, n_inputs)
    note = (f"fast mode: {N_RANDOM} random directions and {vectors.sampled_columns.size} sampled columns; a single "
            f"wrong Jacobian entry is caught with {DETECTION_PROBABILITY:.0%} probability when it is off by more "
            f"than {threshold:.2g}")
    failing = tuple(v.name for v in verdicts if v.status == Status.DISAGREE)
    passing = [v.name for v in verdicts if v.status == Status.AGREE]
    return Comparison(tuple(verdicts), failing, disagreement_sentence(failing, passing)), to_localise, note


def _projections_agree(name, projections, rows) -> np.ndarray:
    """Per direction: does every other backend give this backend's ``U^T J v``?"""
    own = projections[name]
    others = [p for other, p in projections.items() if other != name and p.shape == own.shape]
    if not others:
        return np.zeros(own.shape[1] if own.ndim == 2 else 0, dtype=bool)
    scale = np.max(np.abs(own), axis=0, keepdims=True)
    agree = np.ones(own.shape, dtype=bool)
    for values in others:
        bound = rows.ad_atol_scale.max() * scale + rows.ad_rtol.max() * np.maximum(np.abs(own), np.abs(values))
        agree &= np.abs(own - values) <= bound
    return agree.all(axis=0)


def _vector_name(vectors: ProbeVectors, k: int, kind: str) -> str:
    if k < N_RANDOM:
        return f"random {kind} {k}"
    return f"input basis vector e_{int(vectors.sampled_columns[k - N_RANDOM])}"
