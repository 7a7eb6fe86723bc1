"""--input / --random / --wrt: every malformed value is a one-line input error (exit 2), parsed never eval'd.

These fail before any worker starts, so they run in-process and fast.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from adcheck.errors import ExitCode, InputError
from adcheck.inputs import build_arguments, load_file_arguments, parse_json_argument, parse_shape, parse_wrt
from conftest import FIXTURES, assert_usage_error, invoke

TARGET = str(FIXTURES / "cumprod.py") + ":loop_cumprod"


# --- through the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[1,", "not valid JSON"),
        ("hello", "not valid JSON"),
        ("", "not valid JSON"),
        ("NaN", "contains NaN"),
        ("[1, Infinity]", "contains Infinity"),
        ("-Infinity", "contains -Infinity"),
        ("1e999", "NaN or infinity"),
        ("[]", "the array is empty"),
        ("[[], []]", "the array is empty"),
        ("[[1, 2], [3]]", "rectangular"),
        ('"3"', "got a string"),
        ("null", "got null"),
        ("[1, null]", "got null"),
        ("[true, 1]", "booleans"),
        ("123456789012345678901234567890", "does not fit in 64 bits"),
        ("[" * 100 + "1" + "]" * 100, "nested more than 32 deep"),
        ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ],
)
def test_malformed_input_is_a_one_line_input_error(text, fragment):
    result = invoke("run", TARGET, "--input", text)
    assert_usage_error(result, "--input", fragment)


def test_python_in_input_is_never_evaluated(tmp_path):
    marker = tmp_path / "evaluated"
    code = f'__import__("pathlib").Path({str(marker)!r}).touch()'
    result = invoke("run", TARGET, "--input", code)
    assert_usage_error(result, "not valid JSON")
    assert not marker.exists()
    assert_usage_error(invoke("run", TARGET, "--input", '__import__("os")'), "not valid JSON")


def test_missing_input_file():
    assert_usage_error(invoke("run", TARGET, "--input", "@does/not/exist.npy"), "@does/not/exist.npy", "no such file")


def test_input_file_that_is_a_directory(tmp_path):
    assert_usage_error(invoke("run", TARGET, "--input", f"@{tmp_path}"), "is a directory")


def test_input_file_of_unsupported_type(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("1,2,3\n")
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "unsupported file type .csv")


def test_corrupt_npy_file(tmp_path):
    path = tmp_path / "x.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "cannot read as npy")


def test_corrupt_npz_file(tmp_path):
    path = tmp_path / "x.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "cannot read")


def test_pickled_object_array_is_refused_not_unpickled(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "cannot read")


def test_json_file_that_is_not_text(tmp_path):
    path = tmp_path / "x.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "not UTF-8")


def test_json_file_with_nan(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[1, NaN]")
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), f"@{path}", "contains NaN")


def test_unreadable_input_file(tmp_path, monkeypatch):
    # Run as root, chmod 000 does not stop reading; simulate what the kernel would say.
    path = tmp_path / "x.npy"
    np.save(path, np.arange(3.0))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "load", denied)
    assert_usage_error(invoke("run", TARGET, "--input", f"@{path}"), "cannot read (Permission denied)")


def test_random_shape_too_large_for_memory():
    assert_usage_error(invoke("run", TARGET, "--random", "100000x100000x100"), "--random", "too large")


def test_random_shapes_too_large_together(monkeypatch):
    monkeypatch.setattr("adcheck.inputs._available_memory", lambda: 1 << 30)
    # each alone is 0.19 GiB, under a quarter of 1 GiB; three together are not
    result = invoke("run", TARGET, "--random", "5000x5000", "--random", "5000x5000", "--random", "5000x5000")
    assert_usage_error(result, "together", "too large")


@pytest.mark.parametrize("shape", ["3x", "x3", "-1", "1e3", "three", "0", "3x0"])
def test_malformed_random_shape(shape):
    assert_usage_error(invoke("run", TARGET, "--random", shape), "--random")


def test_input_and_random_together():
    assert_usage_error(invoke("run", TARGET, "--input", "[1,2,3]", "--random", "3"), "--input", "--random", "use one of")


def test_no_inputs_at_all():
    assert_usage_error(invoke("run", TARGET), "no inputs")


def test_unknown_backend_lists_the_known_ones():
    result = invoke("run", TARGET, "--input", "[1,2,3]", "--backend", "tensorflow")
    assert_usage_error(result, "unknown backend 'tensorflow'", "fd", "autograd", "jax-fwd", "jax-rev", "torch-rev")


@pytest.mark.parametrize(("wrt", "fragment"), [("1", "does not exist"), ("a", "neither an argument index nor a parameter name"),
                                                ("0,0", "twice")])
def test_bad_wrt(wrt, fragment):
    assert_usage_error(invoke("run", TARGET, "--input", "[1,2,3]", "--wrt", wrt), "--wrt", fragment)


# --- the parser itself ---------------------------------------------------------------------------


def test_integers_are_promoted_to_float64_when_differentiated():
    arguments = build_arguments(("[1, 2, 3]", "[4, 5]"), wrt="0")
    assert arguments.values[0].dtype == np.float64
    assert arguments.info[0].promoted_from == "int64"
    assert arguments.values[1].dtype == np.int64


def test_a_json_object_given_where_the_function_wants_an_array_points_to_the_pytree_syntax():
    result = invoke("run", TARGET, "--input", '{"x": 1}')
    assert_usage_error(result, "x is a dict (from a JSON object); for an array write a nested list of numbers")


def test_npz_saved_by_position_gives_one_argument_per_array_in_order(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, np.arange(3.0), np.ones((2, 2)))
    first, second = load_file_arguments(str(path))
    assert first.shape == (3,) and second.shape == (2, 2)


def test_npz_saved_by_name_is_one_dict_argument(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, a=np.arange(3.0), b=np.ones((2, 2)))
    (params,) = load_file_arguments(str(path))
    assert params["a"].shape == (3,) and params["b"].shape == (2, 2)


def test_json_file_round_trip(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps([[1.5, 2], [3, 4]]))
    (array,) = load_file_arguments(str(path))
    np.testing.assert_array_equal(array, [[1.5, 2], [3, 4]])


def test_scalar_input():
    assert parse_json_argument("2.5").shape == ()


def test_parse_shape_accepts_x_and_commas():
    assert parse_shape("3x4") == (3, 4)
    assert parse_shape("3, 4") == (3, 4)


def test_parse_wrt_default_is_every_argument():
    assert parse_wrt(None, 3) == (0, 1, 2)


def test_input_error_carries_exit_code_2():
    with pytest.raises(InputError) as info:
        parse_json_argument("[")
    assert info.value.exit_code == ExitCode.USAGE
