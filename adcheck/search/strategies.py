"""What ``--search`` tries: hypothesis strategies for the differentiated inputs.

Each differentiated leaf (array) of the arguments is drawn with ``hypothesis.extra.numpy.arrays``
in its own shape and dtype, or kept at its given value (a pytree argument is searched leaf by
leaf). Each entry of a leaf is of one of three kinds, chosen entry by entry (``arrays`` often
draws one value for many entries: ties). Entry by entry, because hypothesis shrinks each choice
towards its simplest, the first: a failure shrinks towards the special kind's 0, and an entry the
failure needs keeps its kind and shrinks within it (a magnitude towards 1, its exponent towards
0). The kinds an input holds are what the search's summary counts.

- ``special``: exact 0, small integers and half-integers, plus and minus "tiny" (the square
  root of the machine epsilon, 1.5e-8 in float64: where a formula that subtracts nearly equal
  terms of size 1/x, a removable singularity's, has lost half its digits), and the entry's given
  value. (The smallest normal number,
  2.2e-308, would mostly find overflow in 1/x**2 instead, a different failure than the one near 0.)
- ``near``: the given entry, or moved by a relative 1e-8 to 1e-1.
- ``magnitudes``: ``s * m * 10**e`` with ``e`` over -12..11 and ``m`` from a short list of
  mantissas, both signs: every decade equally likely. Hypothesis's own ``floats()`` puts 73% of
  its draws at or above 1e12 and under 1% in [1e-3, 1e3) (ANCHORS, section 1), so the decades are
  drawn here.
- ``ties``: entries equal to others; ``arrays`` repeats a value across a leaf often by itself.

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
    """A strategy of ``(kinds, [array per leaf])`` for the differentiated ``leaves``
    (``inputs.Leaf``): the kinds of the entries drawn, and the arrays."""
    from hypothesis import strategies as st

    values = [_real_parts(leaf.value) for leaf in leaves]
    if len(leaves) == 1:
        per_leaf = st.tuples(_leaf(values[0]))
    else:
        # Leaf by leaf: each leaf is varied or kept as given (kept shrinks first: the simpler input).
        # Each leaf's strategy is built once, not per draw: building it (its tables, and
        # hypothesis's analysis of a new strategy) was most of the draws' time on a 4-leaf MLP.
        per_leaf = st.tuples(*(st.booleans().flatmap(
            lambda vary, varied=_leaf(value), kept=st.just((frozenset(), value)): varied if vary else kept)
            for value in values))
    return per_leaf.map(lambda drawn: (frozenset().union(*(kinds for kinds, _ in drawn)),
                                       tuple(array for _, array in drawn)))


def _real_parts(value: np.ndarray) -> np.ndarray:
    """What is searched of a leaf: its values, or a complex one's real and imaginary parts as a
    (..., 2) real array (raveled, the flat vector's own layout: ``adcheck.complex_numbers``)."""
    if np.iscomplexobj(value):
        return np.stack([value.real, value.imag], axis=-1)
    return value


def _leaf(given: np.ndarray):
    """One leaf: per entry a kind (0 special, 1 near, 2 magnitude) and an index into that kind's
    table of values, two integer arrays. Integers are what hypothesis draws and shrinks fastest
    (a draw of floats through ``one_of`` and ``builds`` per entry cost 13 ms an input of three
    entries, 50 ms one of fifty), and each table is ordered simplest first, so shrinking an entry's
    kind and index towards 0 makes it exactly 0, or its own given value, or a magnitude of 1."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    tables = _tables(given)
    kinds = arrays(np.int8, given.shape, elements=st.integers(0, 2))
    indices = arrays(np.int32, given.shape, elements=st.integers(0, INDEX_RANGE))
    return st.tuples(kinds, indices).map(lambda drawn: _combine(given, tables, *drawn))


# The index drawn per entry, taken modulo the size of its kind's table.
INDEX_RANGE = 2**20
# Mantissas of the magnitudes kind, plain ones first (shrinking ends there) then generic ones.
MANTISSAS = (1.0, 2.0, 5.0, 1.5, 3.0, 7.5, 1.2345678, 2.7182818, 3.1415927, 6.0221408, 8.3144626)
# The relative moves of the near kind: 10**-8 .. 10**-1 in half decades, both signs.
NEAR_MOVES = tuple(sign * 10.0 ** (e / 2) for e in range(2 * NEAR_EXPONENTS[0], 2 * NEAR_EXPONENTS[1] + 1)
                   for sign in (1.0, -1.0))


def _tables(given: np.ndarray):
    """(special values, relative moves, magnitudes) for ``given``'s dtype: the tables entries
    index into. The special values' last entry is a placeholder for the entry's own given value."""
    dtype = given.dtype
    tiny = tiny_value(dtype)
    specials = [0.0]
    for k in range(1, SPECIAL_RANGE + 1):
        specials += [float(k), -float(k), k - 0.5, -(k - 0.5)]
    specials += [tiny, -tiny, np.nan]  # nan: the entry's given value, filled in per entry
    exponents = sorted(range(MIN_EXPONENT, MAX_EXPONENT + 1), key=lambda e: (abs(e), e < 0))
    magnitudes = [sign * m * 10.0 ** e for e in exponents for m in MANTISSAS for sign in (1.0, -1.0)]
    return (np.array(specials), np.array(NEAR_MOVES),
            np.array([_cast(v, dtype) for v in magnitudes], dtype=np.float64))


def _combine(given, tables, kind, index):
    specials, moves, magnitudes = tables
    flat_given = given.reshape(-1).astype(np.float64)
    kind, index = kind.reshape(-1), index.reshape(-1).astype(np.int64)
    special = specials[index % specials.size]
    special = np.where(np.isnan(special), flat_given, special)
    near = flat_given * (1.0 + moves[index % moves.size])
    magnitude = magnitudes[index % magnitudes.size]
    values = np.where(kind == 0, special, np.where(kind == 1, near, magnitude)).astype(given.dtype)
    kinds = {KINDS[int(k)] for k in np.unique(kind)}
    if given.size > 1 and np.unique(values).size < values.size:
        kinds.add("ties")
    return frozenset(kinds), values.reshape(given.shape)


def _cast(value: float, dtype) -> float:
    return np.asarray(value, dtype=dtype).item()


def tiny_value(dtype) -> float:
    """The special kind's "tiny": the square root of the dtype's machine epsilon."""
    return float(np.sqrt(np.finfo(dtype).eps))


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
