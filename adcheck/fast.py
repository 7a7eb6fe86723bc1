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

The parent's side, the verdicts on the products, is ``verdict.products``: the same chain of
deciders as full mode's entries, with the Taylor walk along a direction as the second witness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import LocalisedEntry

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
class LocaliseRow:
    """One backend's gradient row ``u^T J`` that failed the dot-product test, for bisection in FD."""

    row_index: int  # which cotangent of the shared probe vectors
    row: np.ndarray  # the backend's u^T J
    cotangent: np.ndarray  # u
    direction: np.ndarray  # a direction along which the dot-product test failed


@dataclass(frozen=True)
class ProbeVectors:
    directions: np.ndarray  # (m, p): columns are unit random directions, then basis vectors
    sampled_columns: np.ndarray  # input indices of the basis vectors in ``directions``
    cotangents: np.ndarray  # (n, q)
    sampled_rows: np.ndarray


def _unit_random(rng, size, count):
    vectors = rng.standard_normal((size, count))
    return vectors / np.linalg.norm(vectors, axis=0, keepdims=True)


def probe_vectors(n_inputs: int, n_outputs: int, seed: int = VECTOR_SEED,
                  complex_columns: tuple[int, ...] = ()) -> ProbeVectors:
    """The same vectors in every worker and in the parent: they come from the seed, the sizes and
    ``complex_columns`` (``inputs.Arguments.complex_columns``: where each complex input entry's
    real part sits, its imaginary part next to it). A sampled column of a complex entry brings
    its partner, so the entry's two real columns are checked whole together and its complex
    derivative can be read (``complex_numbers``)."""
    rng = np.random.default_rng(seed)
    directions = _unit_random(rng, n_inputs, N_RANDOM)
    columns = np.sort(rng.choice(n_inputs, size=min(N_SAMPLED, n_inputs), replace=False))
    if len(complex_columns):
        columns = _with_partners(columns, np.asarray(complex_columns, dtype=int))
    basis = np.zeros((n_inputs, columns.size))
    basis[columns, np.arange(columns.size)] = 1.0
    if n_outputs == 1:
        return ProbeVectors(np.hstack([directions, basis]), columns, np.ones((1, 1)), np.zeros(1, dtype=int))
    cotangents = _unit_random(rng, n_outputs, N_RANDOM)
    rows = np.sort(rng.choice(n_outputs, size=min(N_SAMPLED, n_outputs), replace=False))
    row_basis = np.zeros((n_outputs, rows.size))
    row_basis[rows, np.arange(rows.size)] = 1.0
    return ProbeVectors(np.hstack([directions, basis]), columns, np.hstack([cotangents, row_basis]), rows)


def _with_partners(columns: np.ndarray, real_parts: np.ndarray) -> np.ndarray:
    """``columns`` and, for each one of a complex entry, the entry's other part."""
    real = set(real_parts.tolist())
    partners = [c + 1 for c in columns.tolist() if c in real] + [c - 1 for c in columns.tolist() if c - 1 in real]
    return np.unique(np.concatenate([columns, np.asarray(partners, dtype=int)]))


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


def bisect_row(directional, row: np.ndarray, direction: np.ndarray, bound_for,
               max_found: int = 8) -> tuple[LocalisedEntry, ...]:
    """Input indices where ``row`` (a backend's u^T J) differs from FD.

    ``direction`` is one along which the dot-product test failed; its restriction to the half
    holding a wrong entry b carries the same error ``delta * v_b`` while the other half carries
    none, so each level keeps the detection margin of the first test. ``directional(w) ->
    (value, error)`` is the FD derivative of u^T f along w, ``bound_for(value, error)`` the
    tolerance. Costs two directional derivatives per level: about 2 log2(m) in all.
    """
    found: list[LocalisedEntry] = []
    stack = [np.flatnonzero(direction)]
    while stack and len(found) < max_found:
        indices = stack.pop()
        if indices.size == 1:
            b = int(indices[0])
            w = np.zeros(row.size)
            w[b] = 1.0
            value, error = directional(w)
            if abs(row[b] - value) > bound_for(value, error):
                found.append(LocalisedEntry(b, float(row[b]), float(value), float(error)))
            continue
        for half in np.array_split(indices, 2)[::-1]:
            w = np.zeros(row.size)
            w[half] = direction[half]
            value, error = directional(w)
            if abs(row @ w - value) > bound_for(value, error):
                stack.append(half)
    return tuple(found)
