"""What ``--search`` tries: hypothesis strategies for the differentiated inputs, by kind.

Each searched input is drawn under one kind, and each differentiated leaf (array) of the
arguments is drawn with ``hypothesis.extra.numpy.arrays`` in its own shape and dtype, or kept at
its given value (a pytree argument is searched leaf by leaf). The kinds, simplest first, because
hypothesis shrinks a failure towards the first branch of a ``one_of`` and towards small draws:

- ``special``: exact 0, plus and minus "tiny" (the square root of the machine epsilon, 1.5e-8 in
  float64: where a formula that subtracts nearly equal terms of size 1/x, a removable
  singularity's, has lost half its digits), small integers and half-integers, and the given
  entries, mixed entry by entry; arrays repeat values (ties) often. (The smallest normal number,
  2.2e-308, would mostly find overflow in 1/x**2 instead, a different failure than the one near 0.)
- ``near``: the given input moved by a relative 1e-8 to 1e-1 per entry.
- ``magnitudes``: ``s * m * 10**e`` with ``e`` uniform over -12..12 and ``m`` in [1, 10), both
  signs: every decade equally likely. Hypothesis's own ``floats()`` puts 73% of its draws at or
  above 1e12 and under 1% in [1e-3, 1e3) (ANCHORS, section 1), so the decades are drawn here.
- ``ties``: the given input or a draw of the magnitudes, with two or more entries set equal.

The magnitudes' bounds come from the issue's range (1e-12..1e12) and the ``near`` moves from
JAX's ``rand_small`` (1e-3 relative) widened both ways; NaN and infinity are never drawn as
inputs: a function's value there says nothing about its derivative.
"""

from __future__ import annotations

import numpy as np

KINDS = ("special", "near", "magnitudes", "ties")
KIND_WORDS = {"special": "special values", "near": "near the given input", "magnitudes": "magnitudes 1e-12..1e12",
              "ties": "ties between entries"}

# The decades searched: 10**MIN_EXPONENT .. 10**(MAX_EXPONENT + 1), both signs.
MIN_EXPONENT, MAX_EXPONENT = -12, 11
# How far the ``near`` kind moves each entry, relative: 10**-8 .. 10**-1.
NEAR_EXPONENTS = (-8, -1)
# Small integers and half-integers of the ``special`` kind: -SPECIAL_RANGE .. SPECIAL_RANGE.
SPECIAL_RANGE = 5


def input_strategy(leaves):
    """A strategy of ``(kind, [array per leaf])`` for the differentiated ``leaves`` (``inputs.Leaf``)."""
    from hypothesis import strategies as st

    return st.sampled_from(KINDS).flatmap(lambda kind: _leaves_of(kind, leaves).map(lambda arrays: (kind, arrays)))


def _leaves_of(kind: str, leaves):
    from hypothesis import strategies as st

    if len(leaves) == 1:
        return st.tuples(_leaf(kind, leaves[0].value))
    # Leaf by leaf: each leaf is varied or kept as given (kept shrinks first: the simpler input).
    return st.tuples(*(st.booleans().flatmap(lambda vary, v=leaf.value: _leaf(kind, v) if vary else st.just(v))
                       for leaf in leaves))


def _leaf(kind: str, given: np.ndarray):
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    dtype = given.dtype
    shape = given.shape
    if kind == "special":
        return arrays(dtype, shape, elements=_special(dtype, given))
    if kind == "near":
        moves = arrays(np.float64, shape, elements=_relative_move())
        return moves.map(lambda m: (given * (1.0 + m)).astype(dtype))
    if kind == "magnitudes":
        return arrays(dtype, shape, elements=_magnitude(dtype))
    if given.size < 2:  # a single entry has nothing to tie with
        return arrays(dtype, shape, elements=_magnitude(dtype))
    base = st.one_of(st.just(given), arrays(dtype, shape, elements=_magnitude(dtype)))
    return st.tuples(base, st.permutations(range(given.size)), st.integers(2, given.size)).map(
        lambda drawn: _tied(*drawn))


def _tied(base: np.ndarray, order, count: int) -> np.ndarray:
    """``base`` with the entries ``order[:count]`` all set to the first of them."""
    tied = np.array(base, copy=True).reshape(-1)
    chosen = list(order[:count])
    tied[chosen] = tied[chosen[0]]
    return tied.reshape(base.shape)


def _magnitude(dtype):
    from hypothesis import strategies as st

    return st.builds(lambda sign, mantissa, exponent: _cast(sign * mantissa * 10.0 ** exponent, dtype),
                     st.sampled_from((1.0, -1.0)), st.floats(1.0, 10.0, exclude_max=True),
                     st.integers(MIN_EXPONENT, MAX_EXPONENT))


def _relative_move():
    from hypothesis import strategies as st

    return st.builds(lambda sign, exponent: sign * 10.0 ** exponent,
                     st.sampled_from((1.0, -1.0)), st.floats(*NEAR_EXPONENTS))


def _special(dtype, given: np.ndarray):
    from hypothesis import strategies as st

    tiny = tiny_value(dtype)
    integers = st.integers(-SPECIAL_RANGE, SPECIAL_RANGE).map(float)
    halves = st.integers(-SPECIAL_RANGE, SPECIAL_RANGE - 1).map(lambda k: k + 0.5)
    own = st.sampled_from(sorted({float(v) for v in given.ravel()}))
    return st.one_of(st.just(0.0), integers, halves, st.sampled_from((tiny, -tiny)), own).map(
        lambda v: _cast(v, dtype))


def tiny_value(dtype) -> float:
    """The special kind's "tiny": the square root of the dtype's machine epsilon."""
    return float(np.sqrt(np.finfo(dtype).eps))


def _cast(value: float, dtype):
    return np.asarray(value, dtype=dtype).item()


def special_values_seen(flat: np.ndarray, given: np.ndarray) -> set[str]:
    """Which special values an input holds: "exact 0", "±tiny", "integers", "half-integers", "ties"."""
    seen = set()
    tiny = tiny_value(flat.dtype if np.issubdtype(flat.dtype, np.floating) else np.float64)
    if np.any(flat == 0):
        seen.add("exact 0")
    if np.any(np.abs(flat) == np.asarray(tiny, dtype=flat.dtype)):
        seen.add(f"±{tiny:.2g}")
    nonzero = flat[(flat != 0) & np.isfinite(flat) & (np.abs(flat) <= 2.0**52)]
    if np.any(nonzero == np.round(nonzero)):
        seen.add("integers")
    if np.any((nonzero * 2 == np.round(nonzero * 2)) & (nonzero != np.round(nonzero))):
        seen.add("half-integers")
    if np.unique(flat).size < flat.size:
        seen.add("ties")
    return seen
