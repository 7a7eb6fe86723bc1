"""Property-based tests for the parsers and the comparison core (no processes)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from adcheck.compare import compare, entry_bound
from adcheck.errors import InputError, TargetError
from adcheck.inputs import parse_json_argument, parse_shape
from adcheck.loader import parse_target
from adcheck.model import BackendRun, Status

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
    assert isinstance(result, np.ndarray)
    assert result.size > 0
    assert result.dtype.kind in "iuf"
    assert np.all(np.isfinite(result))


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


# --- the comparison core ----------------------------------------------------------------------------

# Entries of magnitude 1e-3..1e3 and at least one of magnitude >= 1: with power-of-two scales in
# 2**-8..2**8, atol = 1e-9 * max|J| stays above the float64 floor of 1e-12, so scaling is exact and
# cannot move an entry across the tolerance.
magnitudes = st.floats(min_value=1e-3, max_value=1e3)
signs = st.sampled_from([-1.0, 1.0])


@st.composite
def jacobians(draw):
    rows = draw(st.integers(1, 5))
    cols = draw(st.integers(1, 5))
    values = draw(hnp.arrays(np.float64, (rows, cols), elements=magnitudes))
    values *= draw(hnp.arrays(np.float64, (rows, cols), elements=signs))
    i, j = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
    if abs(values[i, j]) < 1.0:
        values[i, j] = math.copysign(1.0, values[i, j])
    errors = draw(hnp.arrays(np.float64, (rows, cols), elements=st.floats(min_value=0.0, max_value=1e-10)))
    return values, errors


def reference_run(jac, err, value=None):
    value = np.zeros(jac.shape[0]) if value is None else value
    return BackendRun("fd", Status.REFERENCE, value=value, jacobian=jac, error=err)


def backend_run(jac, value=None):
    value = np.zeros(jac.shape[0]) if value is None else value
    return BackendRun("autograd", Status.COMPUTED, value=value, jacobian=jac)


@FAST
@given(jacobians())
def test_a_jacobian_agrees_with_itself(case):
    jac, err = case
    verdict = compare([reference_run(jac, err), backend_run(jac.copy())]).verdict("autograd")
    assert verdict.status == Status.AGREE
    assert verdict.n_mismatches == 0
    assert verdict.mismatches == ()


@FAST
@given(jacobians(), st.integers(-8, 8), st.data())
def test_scaling_reference_and_backend_together_keeps_the_verdict(case, exponent, data):
    jac, err = case
    # a perturbation of anything from nothing to far outside tolerance, per entry
    relative = data.draw(hnp.arrays(np.float64, jac.shape, elements=st.sampled_from([0.0, 1e-9, 1e-7, 1e-3, 0.5])))
    other = jac * (1 + relative)
    before = compare([reference_run(jac, err), backend_run(other)]).verdict("autograd")
    scale = 2.0**exponent
    after = compare([reference_run(jac * scale, err * scale), backend_run(other * scale)]).verdict("autograd")
    assert after.status == before.status
    assert after.n_mismatches == before.n_mismatches
    assert after.worst_entry == before.worst_entry


@FAST
@given(jacobians(), st.data(), st.floats(min_value=1.5, max_value=1e6), signs)
def test_one_perturbed_entry_is_found_and_located(case, data, factor, sign):
    jac, err = case
    rows, cols = jac.shape
    i = data.draw(st.integers(0, rows - 1))
    j = data.draw(st.integers(0, cols - 1))
    bound = entry_bound(jac, err, np.float64)
    other = jac.copy()
    other[i, j] += sign * factor * bound[i, j]
    assume(abs(other[i, j] - jac[i, j]) > bound[i, j])  # survives rounding
    verdict = compare([reference_run(jac, err), backend_run(other)]).verdict("autograd")
    assert verdict.status == Status.DISAGREE
    assert verdict.n_mismatches == 1
    assert verdict.worst_entry == (i, j)
    assert [(m.row, m.col) for m in verdict.mismatches] == [(i, j)]
    assert verdict.mismatches[0].reference == jac[i, j]
    assert verdict.mismatches[0].value == other[i, j]
    assert bool(verdict.mismatch_mask[i, j]) and int(verdict.mismatch_mask.sum()) == 1


@FAST
@given(jacobians(), st.data())
def test_nan_where_the_reference_is_finite_is_a_mismatch(case, data):
    jac, err = case
    i = data.draw(st.integers(0, jac.shape[0] - 1))
    j = data.draw(st.integers(0, jac.shape[1] - 1))
    other = jac.copy()
    other[i, j] = np.nan
    verdict = compare([reference_run(jac, err), backend_run(other)]).verdict("autograd")
    assert verdict.status == Status.DISAGREE
    assert (verdict.mismatches[0].row, verdict.mismatches[0].col) == (i, j)
