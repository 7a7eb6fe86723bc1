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
    # The standard library's normal quantile (Wichura's AS241, to about 1e-16), not scipy.special's
    # ndtri: importing scipy.special took 1.5 s of a loaded machine's time, in the parent, after
    # every worker had finished (a 2762-input MLP's auto-mode run spent a tenth of its time there).
    from statistics import NormalDist

    per_direction = 1.0 - (1.0 - probability) ** (1.0 / n_directions)
    t = NormalDist().inv_cdf(1.0 - per_direction / 2.0)  # |z| > t with the per-direction probability
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
    """Judge each backend's products against FD's; returns (Comparison, rows to localise, note).

    Forward mode compares ``J V`` entry by entry, reverse mode the dot products ``(U^T J) V``
    with ``U^T (J V)``. A product FD cannot settle is verified by the other backends when
    every one of them gives the same ``U^T J V`` for its direction, else it is inconclusive.
    ``typical_scale`` is the inputs' typical magnitude: a step along a unit direction of that
    length is what the absolute tolerances are measured against.
    """
    from .model import BackendVerdict, Comparison, Status
    from .verdict.messages import disagreement_sentence

    products = _Products(runs, n_inputs, rtol, atol, eps_rows, typical_scale)
    verdicts, to_localise = [], {}
    for run in runs:
        if run.status == Status.REFERENCE or run not in products.computed:
            verdicts.append(BackendVerdict(run.name, run.status, run.seconds, run.message, run.location))
            continue
        verdict, localise = products.judge(run)
        verdicts.append(verdict)
        if localise is not None:
            to_localise[run.name] = localise
    failing = tuple(v.name for v in verdicts if v.status == Status.DISAGREE)
    passing = [v.name for v in verdicts if v.status == Status.AGREE]
    return (Comparison(tuple(verdicts), failing, disagreement_sentence(failing, passing)), to_localise,
            products.note())


class _Products:
    """The reference's products, the probe vectors and the tolerances, shared by every backend's
    verdict in fast mode."""

    def __init__(self, runs, n_inputs: int, rtol, atol, eps_rows, typical_scale):
        from .model import Status
        from .verdict.tolerances import RowTolerances, uniform_eps

        self.reference = next(r for r in runs if r.status == Status.REFERENCE)
        self.n_inputs, self.atol, self.typical_scale = n_inputs, atol, typical_scale
        self.jv_fd, self.jv_err = self.reference.products.jv, self.reference.products.jv_error
        n_outputs = self.reference.value.size
        self.vectors = probe_vectors(n_inputs, n_outputs)
        self.eps = eps_rows if eps_rows is not None else uniform_eps(n_outputs)
        self.tol = RowTolerances(self.eps, rtol)
        cotangents_t = self.vectors.cotangents.T
        self.projected_fd = cotangents_t @ self.jv_fd
        self.projected_err = np.abs(cotangents_t) @ self.jv_err
        # Each cotangent row mixes outputs: its tolerances are the coarsest of them.
        self.tol_projected = RowTolerances(np.full(self.projected_fd.shape[0], float(np.max(self.eps))), rtol)
        self.computed = [r for r in runs if r.status == Status.COMPUTED and r.products is not None]
        self.projections = {}
        for run in self.computed:
            if run.products.jv is not None:
                self.projections[run.name] = cotangents_t @ run.products.jv
            elif run.products.ujt is not None:
                self.projections[run.name] = run.products.ujt @ self.vectors.directions

    def judge(self, run):
        """(the backend's verdict, the row to localise by bisection or None)."""
        from .model import BackendVerdict, Status
        from .verdict.reference import primal_mismatch
        from .verdict.tolerances import absolute_tolerance, agreement_bound, reference_settles, well_estimated

        reference, vectors = self.reference, self.vectors
        primal = primal_mismatch(run.value, reference.value, self.tol)
        if primal and run.rebound:
            return BackendVerdict(run.name, Status.NOT_APPLICABLE, run.seconds,
                                  f"with {run.rebound} the function computes other values ({primal})"), None
        forward = run.products.jv is not None
        if forward:
            actual, desired, desired_err, rows, values = run.products.jv, self.jv_fd, self.jv_err, self.tol, reference.value
            row_eps = self.eps
        else:
            actual, desired, desired_err = self.projections[run.name], self.projected_fd, self.projected_err
            rows = self.tol_projected
            values = np.abs(vectors.cotangents.T) @ np.abs(reference.value)
            row_eps = np.full(values.size, float(np.max(self.eps)))
        entry_atol = self.atol if self.atol is not None else absolute_tolerance(
            well_estimated(desired, desired_err), values, row_eps, self.typical_scale, rows.atol_scale)
        settled = reference_settles(desired, desired_err, rows, entry_atol)
        bound = agreement_bound(desired, desired_err, rows, entry_atol)
        diff = np.abs(actual - desired)
        nonfinite = ~np.isfinite(actual) & np.isfinite(desired)
        mask = (settled & ~(diff <= bound)) | nonfinite
        undecided = ~settled & ~mask
        if undecided.any():
            undecided &= ~_projections_agree(run.name, self.projections, rows)[None, :]
        mismatches, message, localise = [], "", None
        if mask.any():
            ratio = np.where(mask, np.where(np.isfinite(diff), diff / bound, np.inf), -1)
            i, k = (int(t) for t in np.unravel_index(int(np.argmax(ratio)), mask.shape))
            kind = "J v" if forward else "u^T J v"
            message = (f"{int(mask.sum())} of {mask.size} products {kind} outside tolerance; worst along "
                       f"{_vector_name(vectors, k, 'direction')}")
            if forward:
                mismatches = _sampled_entries(vectors, mask, actual, desired, desired_err, diff, bound)
            else:
                localise = {"row_index": i, "row": run.products.ujt[i], "cotangent": vectors.cotangents[:, i],
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
        return BackendVerdict(
            run.name, status, run.seconds, primal or message, run.location,
            max_abs_error=float("nan") if nonfinite.any() else (float(diff[judged].max()) if judged.any() else None),
            max_rel_error=float((diff / bound)[judged].max()) if judged.any() else None,
            mismatches=tuple(mismatches[:10]), n_mismatches=int(mask.sum()), n_inconclusive=int(undecided.sum()),
            n_nonfinite=int(nonfinite.sum()), primal_mismatch=primal), localise

    def note(self) -> str:
        """What fast mode checked, and the smallest wrong entry it catches with DETECTION_PROBABILITY."""
        from .verdict.tolerances import absolute_tolerance, agreement_bound, well_estimated

        typical_atol = self.atol if self.atol is not None else absolute_tolerance(
            well_estimated(self.jv_fd, self.jv_err), self.reference.value, self.eps, self.typical_scale,
            self.tol.atol_scale)
        typical = float(np.median(agreement_bound(self.jv_fd, self.jv_err, self.tol, typical_atol)))
        threshold = detection_threshold(typical, self.n_inputs)
        return (f"fast mode: {N_RANDOM} random directions and {self.vectors.sampled_columns.size} sampled columns; a "
                f"single wrong Jacobian entry is caught with {DETECTION_PROBABILITY:.0%} probability when it is off "
                f"by more than {threshold:.2g}")


def _sampled_entries(vectors, mask, actual, desired, desired_err, diff, bound) -> list:
    """Forward mode's wrong products along a sampled basis column: these are Jacobian entries."""
    from .model import EntryMismatch

    found = []
    for i, k in zip(*np.nonzero(mask)):
        if k >= N_RANDOM:
            col = int(vectors.sampled_columns[k - N_RANDOM])
            found.append(EntryMismatch(int(i), col, float(actual[i, k]), float(desired[i, k]),
                                       float(desired_err[i, k]), float(diff[i, k]), float(diff[i, k] / bound[i, k])))
    return found


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
