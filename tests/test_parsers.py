"""Property-based tests for the parsers of inputs and targets (the comparison core's are in test_compare.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adcheck.errors import InputError, TargetError
from adcheck.inputs import parse_json_argument, parse_shape
from adcheck.loader import parse_target

FAST = settings(max_examples=60, deadline=None)

# --- the --input parser ----------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


@FAST
@given(hnp.arrays(np.float64, shapes, elements=finite_floats))
def test_json_round_trip_of_finite_floats(array):
    parsed = parse_json_argument(json.dumps(array.tolist()))
    assert parsed.shape == array.shape
    np.testing.assert_array_equal(parsed, array)  # repr of a float64 round-trips exactly


@FAST
@given(hnp.arrays(np.int64, shapes, elements=int64s))
def test_json_round_trip_of_integers(array):
    parsed = parse_json_argument(json.dumps(array.tolist()))
    assert parsed.dtype.kind == "i"
    np.testing.assert_array_equal(parsed, array)


@FAST
@given(st.lists(st.one_of(st.integers(-(10**6), 10**6), finite_floats), min_size=1, max_size=8))
def test_json_round_trip_of_mixed_ints_and_floats(values):
    parsed = parse_json_argument(json.dumps(values))
    assert parsed.shape == (len(values),)
    np.testing.assert_array_equal(parsed, np.asarray(values, dtype=parsed.dtype))


def _parses_or_input_error(text: str) -> None:
    try:
        result = parse_json_argument(text)
    except InputError as exc:
        assert "\n" not in str(exc)
        return
    leaves = list(_leaves(result))
    assert leaves  # an argument holds at least one array
    for leaf in leaves:
        assert isinstance(leaf, np.ndarray)
        assert leaf.size > 0
        assert leaf.dtype.kind in "iuf"
        assert np.all(np.isfinite(leaf))


def _leaves(tree):
    """The arrays of an argument: a dict, list or tuple of arguments, or an array."""
    if isinstance(tree, dict):
        assert tree and all(isinstance(key, str) for key in tree)
        for child in tree.values():
            yield from _leaves(child)
    elif isinstance(tree, (list, tuple)):
        assert tree
        for child in tree:
            yield from _leaves(child)
    else:
        yield tree


@FAST
@given(st.text(max_size=60))
def test_any_text_either_parses_to_finite_numbers_or_is_an_input_error(text):
    _parses_or_input_error(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=20,
)


@FAST
@given(json_values)
def test_any_json_either_parses_to_finite_numbers_or_is_an_input_error(value):
    _parses_or_input_error(json.dumps(value))  # NaN/Infinity spelled as JSON constants included


def test_a_key_holding_a_newline_is_named_on_one_line():
    with pytest.raises(InputError) as caught:
        parse_json_argument('{"a\\nb": null}')
    assert str(caught.value).startswith('--input["a\\nb"]: ')
    assert "\n" not in str(caught.value)


@FAST
@given(st.text(alphabet="[]{},.:-+0123456789eE\" \ntruefalsnNI", max_size=80))
def test_json_looking_garbage_is_an_input_error_not_a_traceback(text):
    _parses_or_input_error(text)


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deep_nesting_is_an_input_error(depth):
    with pytest.raises(InputError):
        parse_json_argument("[" * depth + "1" + "]" * depth)


@FAST
@given(st.text(max_size=30))
def test_any_shape_text_parses_or_is_an_input_error(text):
    try:
        shape = parse_shape(text)
    except InputError:
        return
    assert all(isinstance(n, int) and n >= 1 for n in shape)


# --- the target parser ------------------------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
dotted = st.lists(identifiers, min_size=1, max_size=3).map(".".join)


@FAST
@given(dotted, dotted)
def test_module_target_round_trip(module, attribute):
    target = parse_target(f"{module}:{attribute}")
    assert target.path is None
    assert target.module == module
    assert target.attribute == attribute
    assert target.text == f"{module}:{attribute}"


@FAST
@given(st.text(max_size=40))
def test_any_target_text_parses_or_is_a_target_error(text):
    try:
        target = parse_target(text)
    except TargetError as exc:
        assert "\n" not in str(exc).replace(repr(text), "")
        return
    assert target.attribute
    assert all(part.isidentifier() for part in target.attribute.split("."))
