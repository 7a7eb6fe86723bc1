"""What ``--search`` tries: hypothesis strategies for the differentiated inputs.

Each differentiated leaf (array) of the arguments is drawn with ``hypothesis.extra.numpy.arrays``
in its own shape and dtype, or kept at its given value (a pytree argument is searched leaf by
leaf). Each entry of a leaf is of one of three kinds, chosen entry by entry, and a leaf may then
have entries set equal to others (ties). Entry by entry, because hypothesis shrinks each choice
towards its simplest, the first: a failure shrinks entry by entry towards the special kind's 0,
and an entry the failure needs keeps its kind and shrinks within it (a magnitude towards 1, its
exponent towards 0). The kinds an input holds are what the search's summary counts.

- ``special``: exact 0, plus and minus "tiny" (the square root of the machine epsilon, 1.5e-8 in
  float64: where a formula that subtracts nearly equal terms of size 1/x, a removable
  singularity's, has lost half its digits), small integers and half-integers, and the given
  entries, mixed entry by entry; arrays repeat values (ties) often. (The smallest normal number,
  2.2e-308, would mostly find overflow in 1/x**2 instead, a different failure than the one near 0.)
- ``near``: the given entry, or moved by a relative 1e-8 to 1e-1.
- ``magnitudes``: ``s * m * 10**e`` with ``e`` uniform over -12..12 and ``m`` in [1, 10), both
  signs: every decade equally likely. Hypothesis's own ``floats()`` puts 73% of its draws at or
  above 1e12 and under 1% in [1e-3, 1e3) (ANCHORS, section 1), so the decades are drawn here.
- ``ties``: entries equal to others, drawn as such (``arrays`` also repeats values by itself).

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
# At most this many explicit ties per leaf (entry i set to entry j), besides the repeated values
# ``arrays`` draws by itself.
MAX_TIES = 2


def input_strategy(leaves):
    """A strategy of ``(kinds, [array per leaf])`` for the differentiated ``leaves``
    (``inputs.Leaf``): the kinds of the entries drawn, and the arrays."""
    from hypothesis import strategies as st

    if len(leaves) == 1:
        per_leaf = st.tuples(_leaf(leaves[0].value))
    else:
        # Leaf by leaf: each leaf is varied or kept as given (kept shrinks first: the simpler input).
        per_leaf = st.tuples(*(st.booleans().flatmap(
            lambda vary, v=leaf.value: _leaf(v) if vary else st.just((frozenset(), v))) for leaf in leaves))
    return per_leaf.map(lambda drawn: (frozenset().union(*(kinds for kinds, _ in drawn)),
                                       tuple(array for _, array in drawn)))


def _leaf(given: np.ndarray):
    """One leaf: each entry special, near its given value or a magnitude, chosen entry by entry
    (so that hypothesis shrinks each entry on its own, towards the special kind's 0), then up to
    ``MAX_TIES`` entries set equal to others."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    dtype, shape = given.dtype, given.shape
    size = max(given.size, 1)
    parts = st.tuples(
        arrays(np.int8, shape, elements=st.integers(0, 2)),  # 0 special, 1 near, 2 magnitude (shrinks to 0)
        arrays(dtype, shape, elements=_special(dtype, given)),
        arrays(np.float64, shape, elements=_relative_move()),
        arrays(dtype, shape, elements=_magnitude(dtype)),
        st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)), max_size=MAX_TIES if size > 1 else 0),
    )
    return parts.map(lambda drawn: _combine(given, *drawn))


def _combine(given, choice, special, move, magnitude, ties):
    near = (given * (1.0 + move)).astype(given.dtype)
    values = np.where(choice == 0, special, np.where(choice == 1, near, magnitude)).astype(given.dtype)
    kinds = {KINDS[int(c)] for c in np.unique(choice)}
    flat = values.reshape(-1)
    for target, source in ties:
        if target != source:
            flat[target] = flat[source]
    if given.size > 1 and np.unique(flat).size < flat.size:
        kinds.add("ties")
    return frozenset(kinds), flat.reshape(given.shape)


def _magnitude(dtype):
    from hypothesis import strategies as st

    return st.builds(lambda sign, mantissa, exponent: _cast(sign * mantissa * 10.0 ** exponent, dtype),
                     st.sampled_from((1.0, -1.0)), st.floats(1.0, 10.0, exclude_max=True),
                     st.integers(MIN_EXPONENT, MAX_EXPONENT))


def _relative_move():
    """0 (the given value itself, where a shrink ends), else a move of 10**-8 .. 10**-1, shrinking
    towards the smallest."""
    from hypothesis import strategies as st

    low, high = NEAR_EXPONENTS
    return st.one_of(st.just(0.0), st.builds(lambda sign, size: sign * 10.0 ** (low + size),
                                             st.sampled_from((1.0, -1.0)), st.floats(0.0, float(high - low))))


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
