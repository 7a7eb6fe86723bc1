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
    """The Taylor remainder walk of ``g`` along each walked direction, on both sides
    (``ladders.direction_ladders``), as a ``model.Witness`` whose columns are directions."""
    from .ladders import direction_ladders

    plus, minus = direction_ladders(g, x0, value, directions[:, walked], eps, noise)
    return Witness(TaylorLadder(walked, *plus), TaylorLadder(walked, *minus))


# --- the worker's screen ----------------------------------------------------------------------------


def judge_products(products, fd, fd_error, value, eps, scale, screen: float = 1.0):
    """(accused, settled): the products FD settles and finds outside ``screen`` times the
    tolerance (or non-finite where FD is finite), and those FD settles at all; with the parent's
    tolerances (``verdict.products.products_reference``) at the default rtol and atol."""
    from .verdict.products import products_reference
    from .verdict.tolerances import agreement_bound

    reference = products_reference(value, fd, fd_error, eps, None, None, scale)
    bound = agreement_bound(fd, fd_error, reference.tol, reference.atol)
    with np.errstate(invalid="ignore"):
        diff = np.abs(products - fd)
        accused = (reference.settled & ~(diff <= screen * bound)) | (~np.isfinite(products) & np.isfinite(fd))
    return accused, reference.settled


# --- comparison (parent side) ----------------------------------------------------------------------------


def compare_fast_second_order(runs, n_inputs: int, rtol=None, atol=None, *, typical_scale=1.0,
                              row_name=lambda forward, i: str(i)):
    """Each backend's second directional derivatives against FD of its own first derivative,
    judged by the verdict chain with the Taylor walk as second witness
    (``verdict.products.second_order_verdict``); returns (Comparison or None, note).

    ``row_name(forward, i)`` names row i of ``g``: output i (forward, ``J u``) or input i
    (reverse, ``J^T w``)."""
    from .compare import second_order_results
    from .fast import DETECTION_PROBABILITY, detection_threshold
    from .model import Comparison
    from .verdict.messages import disagreement_sentence
    from .verdict.products import second_order_verdict

    verdicts, found = second_order_results(runs)
    bounds = []
    for run, data in found:
        n_outputs = run.value.size if run.value is not None else 1
        verdict, bound = second_order_verdict(run, data, n_inputs, rtol, atol, typical_scale,
                                              first_derivative_words(run.name, n_outputs),
                                              lambda i: row_name(is_forward(run.name), i))
        verdicts.append(verdict)
        bounds.append(bound)
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
