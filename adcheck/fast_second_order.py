"""Fast mode at ``--order 2``: second derivatives along random directions, at any size.

A full Hessian of a function of 5000 inputs is 25 million entries and as many FD columns; a
second directional derivative costs a few dozen evaluations of the first derivative whatever
the size (what ``jax.test_util.check_grads(order=2)`` checks along one random direction).
Each AD backend differentiates its *own* first derivative ``g`` along the shared random unit
directions ``v_k``, in its own mode:

- forward backends (jax-fwd, torch-fwd): ``g(x) = J(x) u`` for a fixed random unit ``u``, and
  its derivative along ``v_k`` forward over forward: ``d(J u)/dx v_k``, one per output;
- reverse backends (jax-rev, torch-rev, autograd): ``g(x) = J(x)^T w`` for a fixed random unit
  cotangent ``w`` (1 for a scalar output: the gradient), and reverse over reverse ``v_k^T
  d(J^T w)/dx``, one per input: the Hessian-vector product of ``w^T f``, which is symmetric.

The worker differences the same ``g`` along each ``v_k`` with error estimates (so a rule whose
values are right but whose own derivative is wrong shows up here and nowhere else), and where
the AD product and FD disagree it walks the Taylor remainder of ``g`` along ``v_k`` on both
sides from the input's scale down to an ulp: the second witness (``compare.walk_decisions``).
A product is convicted only when FD and the walk both find it wrong (README "Verdicts").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .model import SecondOrder, Status, TaylorLadder, Witness

# Four random unit directions: check_grads takes one; four give a single wrong second-derivative
# entry the detection statement of first-order fast mode (``fast.detection_threshold``) at half
# the cost of its eight.
N_DIRECTIONS = 4
VECTOR_SEED = 20240917  # the full-mode --order 2 direction's seed: every worker draws the same vectors

# A direction is walked when one of its products is off by more than this share of the
# tolerance the parent judges with (``judge_products``): the worker screens with the default
# tolerances, the parent may be given others (--rtol), and an accusation the worker did not
# walk stays unproven, never convicted.
WALK_SCREEN = 0.5


@dataclass(frozen=True)
class SecondOrderVectors:
    """The same vectors in every worker and in the parent: they come from the seed and sizes."""

    tangent: np.ndarray  # u (m,): forward backends differentiate J u
    cotangent: np.ndarray  # w (n,): reverse backends differentiate J^T w
    directions: np.ndarray  # (m, N_DIRECTIONS): unit columns, what g is differentiated along


def second_order_vectors(n_inputs: int, n_outputs: int) -> SecondOrderVectors:
    rng = np.random.default_rng(VECTOR_SEED)

    def unit(size, count=None):
        vectors = rng.standard_normal(size if count is None else (size, count))
        return vectors / np.linalg.norm(vectors, axis=0, keepdims=count is not None)

    tangent = unit(n_inputs)
    cotangent = np.ones(1) if n_outputs == 1 else unit(n_outputs)
    return SecondOrderVectors(tangent, cotangent, unit(n_inputs, N_DIRECTIONS))


def is_forward(backend: str) -> bool:
    return backend.endswith("-fwd")


def first_derivative_words(backend: str, n_outputs: int) -> str:
    """What ``g`` is for this backend, in the report's words."""
    if is_forward(backend):
        return "J u" if n_outputs > 1 else "the derivative along u"
    return "J^T w" if n_outputs > 1 else "the gradient"


# --- worker side -------------------------------------------------------------------------------------


def directional_second_order(first_derivative, products: np.ndarray, x0: np.ndarray,
                             directions: np.ndarray, dtype=np.float64) -> SecondOrder:
    """The backend's second directional derivatives next to FD of its own first derivative.

    ``first_derivative``: numpy in, numpy out (the backend's ``g``); ``products``: (p, K), its
    AD derivative along each column of ``directions``. Where FD and AD disagree, the Taylor
    walk of ``g`` along that direction comes with it (``SecondOrder.walk``).
    """
    from . import finite_differences as fdm
    from .verdict.tolerances import uniform_eps

    outside = np.geterr()  # the user's module's numpy error state: their code runs under it, adcheck's not

    def g(x):
        with np.errstate(**outside):
            return np.asarray(first_derivative(x), dtype=np.float64).ravel()

    with fdm.own_error_state():
        value = g(x0)
        eps = uniform_eps(value.size, dtype)
        noise = fdm.value_noise(g, x0, value, eps)
        fd, fd_error = fdm.directional_derivatives(g, x0, value.size, directions, eps, noise)
        products = np.asarray(products, dtype=np.float64).reshape(value.size, directions.shape[1])
        accused, _ = judge_products(products, fd, fd_error, value, eps, fdm.typical_scale(x0), screen=WALK_SCREEN)
        walked = np.flatnonzero(accused.any(axis=0))
        walk = _walk(g, x0, value, directions, walked, eps, noise) if walked.size else None
    return SecondOrder(Status.COMPUTED, value=value, jacobian=products, fd=fd, fd_error=fd_error, walk=walk)


def _walk(g, x0, value, directions, walked, eps, noise) -> Witness:
    """The Taylor remainder walk of ``g`` along each walked direction, on both sides (``model.Witness``).

    Steps from a quarter of the inputs' typical scale down by factors of 4 to an ulp of it, as
    ``finite_differences.witness_ladders`` takes them along a basis vector."""
    from . import finite_differences as fdm

    scale = fdm.typical_scale(x0)
    rungs = min(fdm.WITNESS_RUNGS, 1 + int(np.floor(np.log(fdm.TAYLOR_FIRST / float(np.max(eps)))
                                                       / np.log(fdm.TAYLOR_FACTOR))))
    steps = fdm.TAYLOR_FIRST * scale / fdm.TAYLOR_FACTOR ** np.arange(rungs)
    floor = fdm.TAYLOR_NOISE_FACTOR * eps * np.abs(value)
    noise = np.maximum(floor, np.asarray(noise, dtype=float))
    sides = []
    for sign in (1.0, -1.0):
        values = np.full((value.size, walked.size, rungs), np.nan)
        for c, k in enumerate(walked):
            for r, h in enumerate(steps):
                try:
                    values[:, c, r] = g(x0 + sign * h * directions[:, k])
                except Exception:  # noqa: BLE001 - outside the domain: that rung says nothing
                    continue
        sides.append(TaylorLadder(walked, np.tile(steps, (walked.size, 1)), values, noise))
    return Witness(sides[0], sides[1])


# --- the rule, shared by worker and parent ---------------------------------------------------------


def judge_products(products, fd, fd_error, value, eps, scale, rtol=None, atol=None, screen: float = 1.0):
    """(accused, bound): the products FD settles and finds outside tolerance (or non-finite where
    FD is finite), and the tolerance of each. ``screen`` < 1 accuses more (the worker's screen)."""
    from .verdict.tolerances import (
        RowTolerances,
        absolute_tolerance,
        agreement_bound,
        reference_settles,
        well_estimated,
    )

    tol = RowTolerances(eps, rtol)
    entry_atol = atol if atol is not None else absolute_tolerance(well_estimated(fd, fd_error), value, eps, scale,
                                                                  tol.atol_scale)
    settled = reference_settles(fd, fd_error, tol, entry_atol)
    bound = agreement_bound(fd, fd_error, tol, entry_atol)
    with np.errstate(invalid="ignore"):
        diff = np.abs(products - fd)
        accused = (settled & ~(diff <= screen * bound)) | (~np.isfinite(products) & np.isfinite(fd))
    return accused, bound


# --- comparison (parent side, pure) ---------------------------------------------------------------------


def compare_fast_second_order(runs, n_inputs: int, rtol=None, atol=None, *, typical_scale=1.0,
                              row_name=lambda forward, i: str(i)):
    """Each backend's second directional derivatives against FD of its own first derivative, with
    the Taylor walk as second witness; returns (Comparison or None, note).

    ``row_name(forward, i)`` names row i of ``g``: output i (forward, ``J u``) or input i
    (reverse, ``J^T w``)."""
    from dataclasses import replace

    from .compare import second_order_results
    from .verdict.messages import disagreement_sentence
    from .verdict.taylor import walk_decisions, walk_margin
    from .verdict.tolerances import uniform_eps
    from .fast import DETECTION_PROBABILITY, detection_threshold
    from .model import BackendVerdict, Comparison

    verdicts, found = second_order_results(runs)
    bounds = []
    for run, data in found:
        products, fd, fd_error, value = data.jacobian, data.fd, data.fd_error, data.value
        eps = uniform_eps(value.size)
        accused, bound = judge_products(products, fd, fd_error, value, eps, typical_scale, rtol, atol)
        bounds.append(bound)
        diff = np.abs(products - fd)
        nonfinite = ~np.isfinite(products) & np.isfinite(fd)
        convicted = nonfinite.copy()
        overruled = np.zeros(products.shape, dtype=bool)
        if data.walk is not None and data.walk.plus.columns.size:
            margin = walk_margin(eps)
            sides = [walk_decisions(sign * products, value, ladder, bound, bound, accused, margin, strict=True,
                                    disagree_factor=1.0)
                     for sign, ladder in ((1.0, data.walk.plus), (-1.0, data.walk.minus))]
            convicted |= accused & sides[0][1] & sides[1][1]
            overruled = accused & ~nonfinite & sides[0][0] & sides[1][0]
        unproven = accused & ~convicted & ~overruled
        n_outputs = run.value.size if run.value is not None else 1
        what = first_derivative_words(run.name, n_outputs)
        judged = np.isfinite(diff) & ~unproven
        common = {"max_abs_error": float(diff[judged].max()) if judged.any() else None,
                  "max_rel_error": float((diff / bound)[judged].max()) if judged.any() else None,
                  "n_mismatches": int(convicted.sum()), "n_inconclusive": int(unproven.sum()),
                  "n_nonfinite": int(nonfinite.sum())}
        def worst(mask):
            return _worst(mask, diff / bound, products, fd, fd_error, run.name, what, row_name)

        if convicted.any():
            status = Status.DISAGREE
            message = (f"differs from FD of its own first derivative ({what}): {int(convicted.sum())} of "
                       f"{convicted.size} second directional derivatives outside tolerance, and the Taylor "
                       f"remainder agrees; worst {worst(convicted)}")
        elif unproven.any():
            status = Status.INCONCLUSIVE
            message = (f"{int(unproven.sum())} of {unproven.size} second directional derivatives differ from FD of "
                       f"its own first derivative ({what}) and no second witness confirms it; worst "
                       f"{worst(unproven)}")
        else:
            status = Status.AGREE
            message = ""
            if overruled.any():
                message = (f"finite differences overruled by the Taylor remainder at {int(overruled.sum())} second "
                           "directional derivatives")
        verdicts.append(replace(BackendVerdict(run.name, status, run.seconds, message), **common))
    if not verdicts:
        return None, ""
    failing = tuple(v.name for v in verdicts if v.status == Status.DISAGREE)
    passing = [v.name for v in verdicts if v.status != Status.DISAGREE]
    sentence = disagreement_sentence(failing, passing, with_reference=False)
    comparison = Comparison(tuple(verdicts), failing, f"second derivatives: {sentence}" if sentence else "")
    typical = float(np.median(np.concatenate([b.ravel() for b in bounds]))) if bounds else float("nan")
    note = (f"--order 2 in fast mode: each backend's second derivative along {N_DIRECTIONS} random directions "
            "(forward mode: d(J u)/dx v, forward over forward; reverse mode: the Hessian-vector product of w^T f, "
            "reverse over reverse) against finite differences of its own first derivative")
    if np.isfinite(typical):
        threshold = detection_threshold(typical, n_inputs, N_DIRECTIONS)
        note += (f"; a single wrong second-derivative entry is caught with {DETECTION_PROBABILITY:.0%} probability "
                 f"when it is off by more than {threshold:.2g}")
    return comparison, note


def _worst(mask, ratio, products, fd, fd_error, backend, what, row_name) -> str:
    """The worst flagged product, named: "(J^T w)[x[3]] along random direction 1: jax-rev 2.1, fd 1.7 ± 1e-9"."""
    i, k = np.unravel_index(int(np.argmax(np.where(mask, np.nan_to_num(ratio, nan=np.inf), -1.0))), mask.shape)
    row = row_name(is_forward(backend), int(i))
    return (f"d({what})[{row}] along random direction {int(k)}: {backend} (actual) {products[i, k]:.6g}, "
            f"fd (desired) {fd[i, k]:.6g} ± {fd_error[i, k]:.1e}")
