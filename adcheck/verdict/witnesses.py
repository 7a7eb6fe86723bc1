"""The witnesses other than finite differences, per entry: the Taylor test and the complex step,
another framework's AD, the AD consensus, the reach of rounding noise, and the one-sided slopes
at a kink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Evidence, OneSided, rules_of
from .reference import ResolvedReference
from .taylor import TAYLOR_DISAGREE_FACTOR, taylor_decisions, walk_decisions, walk_margin
from .tolerances import ERROR_ESTIMATE_FACTOR, TINY, precision_name


@dataclass(frozen=True)
class SecondWitness:
    """What the witnesses other than FD say, per entry."""

    agree: np.ndarray  # the Taylor test, or where it is silent the complex step, confirms the value
    disagree: np.ndarray  # ... finds it wrong
    disagree_twice: np.ndarray  # the Taylor test and the complex step both find it wrong
    estimate: np.ndarray  # the Taylor test's estimate of |J - J_true| (NaN where it has none)
    walked: np.ndarray  # the Taylor test read the walk on both sides of the input (``model.Witness``)
    sides: np.ndarray  # object: what the walk said on each side, for the report ("" where it did not walk)
    by: np.ndarray  # object: which of them spoke ("" where neither)
    contradicted: np.ndarray  # the Taylor test finds it wrong and the complex step right: neither stands
    complex_step: np.ndarray  # the complex-step derivative where one was taken (NaN elsewhere)


def second_witness(jac, reference: ResolvedReference, tolerance, resolution, wanted, accused) -> SecondWitness:
    """The Taylor test and the complex step on ``jac``'s ``wanted`` entries.

    The Taylor test reads the walk on both sides of the input (``model.Witness``) for the columns
    it covers: it agrees or disagrees only when both sides do (on a one-sided infinite slope, x
    log x at 0, one side's remainder is not a Taylor remainder at all). Elsewhere it reads the
    short one-sided ladder taken for the columns FD could not settle, but never on an entry FD
    accused: that ladder starts on the same scale as FD's steps and is fooled the same way (cos
    at 1e12: every step spans thousands of periods, and r/h tends to -J there, a remainder that
    looks exactly like a wrong derivative's). The Taylor test runs the
    function as written, on real inputs; the complex step runs it on complex ones, where an
    ``abs`` or a comparison can quietly mean something else: it speaks only where the Taylor test
    is silent.
    """
    value = reference.value
    agree, disagree, estimate = taylor_decisions(jac, value, reference.taylor, tolerance, resolution,
                                                 wanted=wanted & ~accused)
    witness = reference.witness
    complex_step = reference.complex_step
    walked = np.zeros(jac.shape, dtype=bool)
    sides = np.full(jac.shape, "", dtype=object)
    if witness is not None and np.size(witness.plus.columns):
        covered = np.zeros(jac.shape[1], dtype=bool)
        covered[np.asarray(witness.plus.columns)] = True
        deep = wanted & covered[None, :]
        walked = deep
        margin = walk_margin(reference.tol.eps)
        # Seconding FD's accusation, the walk must resolve the tolerance itself to overrule it,
        # and convicts an error one tolerance wide; deciding alone, it asks for ten.
        # FD's measured error, where its own bar settles the entry: the walk may confirm it.
        measured = np.where(reference.settled, np.abs(jac - reference.jacobian), np.nan)
        plus, minus = (tuple(np.where(accused, seconding, alone) for seconding, alone in zip(
            walk_decisions(sign * jac, value, ladder, tolerance, tolerance, deep & accused, margin,
                           strict=True, disagree_factor=1.0, measured=measured),
            walk_decisions(sign * jac, value, ladder, tolerance, resolution, deep & ~accused, margin,
                           strict=False, disagree_factor=TAYLOR_DISAGREE_FACTOR)))
            for sign, ladder in ((1.0, witness.plus), (-1.0, witness.minus)))
        def said(side):
            return np.where(side[0], "agrees", np.where(side[1], "disagrees", "no clean h or h**2 regime"))

        sides = np.where(deep, "x + h: " + said(plus).astype(object) + ", x - h: " + said(minus).astype(object), "")
        unmoved = deep & _unmoved(witness, value, jac.shape)
        sides = np.where(unmoved, "the value is the same on every step (its changes stay below its resolution)",
                         sides)
        agree = np.where(covered[None, :], plus[0] & minus[0], agree)
        disagree = np.where(covered[None, :], plus[1] & minus[1] & ~unmoved, disagree)
        estimate = np.where(covered[None, :], np.fmax(plus[2], minus[2]), estimate)
        if witness.complex_step is not None:
            complex_step = complex_step.copy()
            complex_step[:, np.asarray(witness.complex_step.columns)] = witness.complex_step.jacobian
    taylor_spoke = agree | disagree
    cs_diff = np.abs(complex_step - jac)
    # Where FD is only unsure, the complex step's agreement is a vote among the AD backends'
    # (``ad_votes``), and the report counts the entries it alone verified.
    cs_close = accused & np.isfinite(cs_diff) & (cs_diff <= tolerance)
    cs_far = wanted & np.isfinite(cs_diff) & (cs_diff > TAYLOR_DISAGREE_FACTOR * tolerance)
    by = np.where(taylor_spoke, str(Evidence.TAYLOR), np.where(cs_close | cs_far, str(Evidence.COMPLEX_STEP), ""))
    # The complex step acquits but never convicts on its own word: a formula that cancels rounds
    # its imaginary part as forward-mode AD rounds a quotient (``complex_step_jacobian``). Where
    # it acquits an entry the Taylor test convicts, the two witnesses contradict each other and
    # neither stands: Rastrigin at 2.7e6 (x**2 - 10 cos(2 pi x)) has its remainders above the
    # value's rounding (1e13 * eps) only on steps longer than cos's period, where they fall like
    # h with the cosine's slope as the "error", while the complex step is exact there.
    return SecondWitness(agree=agree | (~taylor_spoke & cs_close), disagree=disagree & ~cs_close,
                         disagree_twice=disagree & cs_far, estimate=estimate, walked=walked, sides=sides,
                         by=by.astype(object), contradicted=disagree & cs_close, complex_step=complex_step)


def _unmoved(witness, value, shape) -> np.ndarray:
    """Per entry: its output's value is exactly the value at the input on every step of both
    sides of every column walked, so its remainders are ``-J h`` whatever ``J`` is right: a
    float32 softmax (value 0.2) walked on steps of its inputs' scale, 1.5e-8, changes by less
    than its ulp, and a plateau gives the same. Such a walk cannot tell a wrong slope from a
    slope below the value's resolution, and convicts nothing. An output that moves along some
    walked column is resolved: where it stays put along another, it does not depend on that
    input, and a non-zero derivative there is wrong (a rule that leaks into an entry a sparse
    Jacobian has as exactly 0)."""
    unmoved = np.zeros(shape, dtype=bool)
    columns = np.asarray(witness.plus.columns)
    values = witness.plus.values
    if columns.size == 0 or values.size == 0 or witness.minus.values.shape != values.shape:
        return unmoved
    at_input = np.asarray(value, dtype=float).reshape(-1, 1, 1)
    still = np.all(values == at_input, axis=(1, 2)) & np.all(witness.minus.values == at_input, axis=(1, 2))
    unmoved[:, columns] = still[:, None]
    return unmoved


# The frameworks whose kernels flush subnormal numbers to zero. XLA runs JAX's CPU and GPU code
# with flush-to-zero and denormals-are-zero: a subnormal operand is read as 0 and a subnormal
# result written as 0 (jnp.asarray(1e-300) * 1e-10 is 0 where numpy gives 1e-310). numpy, and so
# autograd, keep subnormals, and so does torch on the CPU (torch.set_flush_denormal is off by
# default).
FLUSHES_SUBNORMALS = frozenset({"jax"})


def flushed_entries(backend: str, jac, reference: ResolvedReference) -> np.ndarray:
    """Per entry: where ``backend`` flushes subnormals and the entry touches one, so that its
    derivative there is the flush's and witnesses nothing: the entry as ``jac`` (the backend
    judged) or FD has it is subnormal, or its output's value is, or its input is. ``jac``'s
    derivative of x*x at x = 1e-310 is 2e-310; JAX's is 0 because 2e-310 is subnormal."""
    if (rules_of(backend) or backend) not in FLUSHES_SUBNORMALS:
        return np.zeros(jac.shape, dtype=bool)
    tiny = np.array([TINY[precision_name(e)] for e in reference.tol.eps]).reshape(-1, 1)

    def subnormal(values):
        magnitude = np.abs(np.where(np.isfinite(values), values, 0.0))
        return (magnitude > 0) & (magnitude < tiny)

    flushed = subnormal(jac) | subnormal(reference.jacobian) | subnormal(np.reshape(reference.value, (-1, 1)))
    if reference.own_scales is not None:
        flushed = flushed | (np.asarray(reference.own_scales)[None, :] < tiny)
    return np.broadcast_to(flushed, jac.shape)


def independent_dissent(name: str, jac, others: dict[str, np.ndarray], reference: ResolvedReference,
                        bound) -> np.ndarray:
    """Per entry: an AD backend of another framework agrees with FD there and not with ``jac``
    (and does not flush the entry's subnormals: ``flushed_entries``)."""
    dissent = np.zeros(jac.shape, dtype=bool)
    for other, values in others.items():
        if (rules_of(other) or other) == (rules_of(name) or name) or values is None or values.shape != jac.shape:
            continue
        values = np.where(flushed_entries(other, jac, reference), np.nan, values)
        apart = reference.ad_atol + reference.tol.ad_rtol * np.maximum(np.abs(jac), np.abs(values))
        dissent |= (np.isfinite(values) & (np.abs(values - reference.jacobian) <= bound)
                    & (np.abs(values - jac) > apart))
    return dissent


def ad_votes(name: str, jacobian, others: dict[str, np.ndarray], reference: ResolvedReference):
    """(verified, contested, voters) per entry: what the other AD backends and the complex step
    say about ``jacobian`` where nothing else settled it.

    verified: every voter with a finite value agrees at the tight AD tolerance; contested: some
    voter differs. A contested entry is not a disagreement: an ill-conditioned formula rounds
    differently in each implementation, and one framework's rule can be as wrong as another's.
    """
    shape = jacobian.shape
    voters = {o: j for o, j in others.items() if o != name and j is not None and j.shape == shape}
    if np.isfinite(reference.complex_step).any():
        voters["complex step"] = reference.complex_step
    agree_count = np.zeros(shape, dtype=int)
    disagree_count = np.zeros(shape, dtype=int)
    who = np.full(shape, "", dtype=object)
    for other, values in voters.items():
        both = np.isfinite(jacobian) & np.isfinite(values) & ~flushed_entries(other, jacobian, reference)
        bound = reference.ad_atol + reference.tol.ad_rtol * np.maximum(np.abs(jacobian), np.abs(values))
        close = both & (np.abs(jacobian - values) <= bound)
        agree_count += close
        disagree_count += both & ~close
        who = np.where(close, np.where(who == "", other, who + ", " + other), who)
    verified = (agree_count > 0) & (disagree_count == 0)
    contested = disagree_count > 0
    return verified, contested, who


# --- judging one backend ------------------------------------------------------------------------------




# A value's rounding noise counts as the formula's own when it exceeds this many ulps of the
# value (one operation rounds by half an ulp; a formula that cancels loses digits by the
# thousand). AD then differentiates the rounded terms: for a value g(x) r with r rounded by
# delta, AD's derivative is off by about |g'| delta ~ noise / |x_j| (power laws), times this.
CANCELLATION_ULPS = 64.0
ROUNDING_REACH_FACTOR = 4.0


def rounding_reach(reference: ResolvedReference) -> np.ndarray:
    """Per entry, how far the value's rounding noise can move an AD derivative (0 where the
    value is not noisy beyond ordinary rounding)."""
    shape = reference.jacobian.shape
    if reference.noise is None or reference.own_scales is None:
        return np.zeros(shape)
    noise = np.asarray(reference.noise, dtype=float).reshape(-1)
    eps = reference.tol.eps
    value = np.abs(np.where(np.isfinite(reference.value), reference.value, 0.0))
    noisy = noise > CANCELLATION_ULPS * eps * value
    scales = np.where(reference.own_scales > 0, reference.own_scales, np.inf)
    return np.where(noisy[:, None], ROUNDING_REACH_FACTOR * noise[:, None] / scales[None, :], 0.0)


# A backend's derivative counts as within its own rounding noise up to this many times the
# largest move seen under ``jobs.JITTER_ULPS`` nudges (four samples of a noise's spread),
# as long as it keeps two significant digits: a derivative whose rounding costs it more than
# this share of its size is no answer (jnp.sinc's slope near 0, a third too small), and stays a
# disagreement.
OWN_NOISE_FACTOR = 4.0
OWN_NOISE_MAX_LOSS = 1e-2


def own_noise_reach(own_noise: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Per entry of an answer of ``shape``, how far the backend's own rounding noise reaches."""
    if own_noise is None or own_noise.shape != shape:
        return np.zeros(shape)
    return OWN_NOISE_FACTOR * np.where(np.isfinite(own_noise), own_noise, 0.0)


def rounding_explains(diff: np.ndarray, reference: ResolvedReference) -> np.ndarray:
    """Entries whose difference the value's own rounding noise, differentiated, explains."""
    return np.isfinite(diff) & (diff <= rounding_reach(reference))



def kink_slopes(jac, one_sided: OneSided, bound) -> tuple[np.ndarray, np.ndarray]:
    """Entries where the one-sided derivatives differ, and where the AD value lies between them."""
    at_kink = np.zeros(jac.shape, dtype=bool)
    between = np.zeros(jac.shape, dtype=bool)
    for k, column in enumerate(np.asarray(one_sided.columns)):
        plus, minus = one_sided.plus[:, k], one_sided.minus[:, k]
        slack = bound[:, column] + ERROR_ESTIMATE_FACTOR * (
            np.nan_to_num(one_sided.plus_error[:, k], posinf=0.0) + np.nan_to_num(one_sided.minus_error[:, k], posinf=0.0))
        at_kink[:, column] = np.abs(plus - minus) > slack
        value = jac[:, column]
        between[:, column] = (value >= np.minimum(plus, minus) - slack) & (value <= np.maximum(plus, minus) + slack)
    return at_kink, between
