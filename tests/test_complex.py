"""Complex inputs and outputs: checked as the real map of their parts, shown as users write them.

Fixtures: fixtures/complex/ (numpy code for autograd and JAX, torch code, and custom rules with a
planted conjugate in each framework). The CLI runs share one input, z = [0.5 - 1j, 1.2 + 0.3j].
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, assert_usage_error, invoke
from hypothesis import given, settings
from hypothesis import strategies as st

from adcheck import complex_numbers as cx
from adcheck.errors import ExitCode, InputError
from adcheck.inputs import build_arguments, parse_json_argument, promote
from adcheck.search import argument_json

COMPLEX = FIXTURES / "complex"
Z = [0.5 - 1.0j, 1.2 + 0.3j]
Z_JSON = json.dumps(cx.encode_json(np.array(Z)))


def run_json(target: str, *args: str, inputs=(Z_JSON,)):
    """``adcheck run TARGET --format json``: (exit code, the report)."""
    flags = [flag for text in inputs for flag in ("--input", text)]
    result = invoke("run", str(COMPLEX / target), *flags, "--format", "json", "--no-timings", *args)
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def statuses(report) -> dict[str, str]:
    return {b["name"]: b["status"] for b in report["backends"]}


def derivative(entry, backend: str, key: str) -> complex:
    value = entry["derivatives"][backend][key]
    return complex(value["re"], value["im"])


def entry(report, name: str) -> dict:
    return next(e for e in report["complex"] if e["name"] == name)


# --- holomorphic and not ---------------------------------------------------------------------------


@pytest.mark.parametrize("function, derivative_of", [
    ("exp_sum", np.exp),
    ("polynomial", lambda z: 3 * z**2 + 4 * z - 1),
])
def test_a_holomorphic_function_passes_and_shows_one_complex_derivative(function, derivative_of):
    code, report = run_json(f"functions.py:{function}")
    assert code == ExitCode.OK
    assert {statuses(report)[b] for b in ("autograd", "jax-fwd", "jax-rev")} == {"agree"}
    for k, z in enumerate(Z):
        found = entry(report, f"d {function}[{k}] / d z[{k}]")
        assert found["kind"] == "holomorphic" and found["cauchy_riemann"] is True
        assert set(found["derivatives"]["jax-rev"]) == {"d/dz"}
        for backend in ("fd", "autograd", "jax-fwd", "jax-rev"):
            assert abs(derivative(found, backend, "d/dz") - derivative_of(z)) <= 1e-6 * abs(derivative_of(z))
    off_diagonal = entry(report, f"d {function}[0] / d z[1]")
    assert off_diagonal["zero"] is True


def test_a_real_loss_of_complex_parameters_passes_with_its_wirtinger_pair():
    code, report = run_json("functions.py:abs_squared")
    assert code == ExitCode.OK
    assert {statuses(report)[b] for b in ("autograd", "jax-fwd", "jax-rev")} == {"agree"}
    for k, z in enumerate(Z):  # |z|^2: d/dz = conj(z), d/dconj(z) = z
        found = entry(report, f"d abs_squared / d z[{k}]")
        assert found["kind"] == "wirtinger" and found["cauchy_riemann"] is False
        for backend in ("fd", "autograd", "jax-rev"):
            assert abs(derivative(found, backend, "d/dz") - np.conj(z)) <= 1e-6
            assert abs(derivative(found, backend, "d/dconj(z)") - z) <= 1e-6


@pytest.mark.parametrize("target, backends", [
    ("functions.py:conj_plus", ("autograd", "jax-fwd", "jax-rev")),
    ("torch_functions.py:conj_plus", ("torch-fwd", "torch-rev")),
])
def test_z_conj_z_plus_z_passes_with_its_wirtinger_pair_shown(target, backends):
    result = invoke("run", str(COMPLEX / target), "--input", Z_JSON, "--no-timings")
    assert result.exit_code == ExitCode.OK, result.stdout
    name = target.split(":")[1]
    text = result.stdout
    assert f"d {name}[0] / d z[0]: not holomorphic (Cauchy-Riemann fails), Wirtinger pair (d/dz, d/dconj(z))" in text
    # d/dz (z conj(z) + z) = conj(z) + 1, d/dconj(z) = z
    for backend in ("fd", *backends):
        assert f"    {backend:<10} (1.5+1j, 0.5-1j)" in text
    assert "2 more are zero (the output does not depend on that input)" in text
    assert "inputs: z 2 complex128 (2 values) -> outputs: 4 values (2 complex, as Re and Im)" in text


def test_the_real_part_is_not_holomorphic_and_both_wirtinger_derivatives_are_one():
    code, report = run_json("functions.py:twice_real")
    assert code == ExitCode.OK
    found = entry(report, "d twice_real[1] / d z[1]")
    assert found["kind"] == "wirtinger"
    for backend in ("fd", "autograd", "jax-fwd", "jax-rev"):
        assert abs(derivative(found, backend, "d/dz") - 1) <= 1e-6
        assert abs(derivative(found, backend, "d/dconj(z)") - 1) <= 1e-6


@pytest.mark.parametrize("target, backends", [
    ("functions.py:spectrum", ("autograd", "jax-fwd", "jax-rev")),
    ("torch_functions.py:spectrum", ("torch-fwd", "torch-rev")),
])
def test_the_fft_of_a_real_input_passes_with_complex_rows(target, backends):
    code, report = run_json(target, inputs=("[1.0, 2.0, 0.5]",))
    assert code == ExitCode.OK
    assert {statuses(report)[b] for b in backends} == {"agree"}
    assert report["outputs"][0]["complex"] is True
    found = entry(report, f"d {target.split(':')[1]}[1] / d x[2]")
    assert found["kind"] == "real input" and found["cauchy_riemann"] is None
    expected = np.exp(-2j * np.pi * 2 / 3)  # d fft(x)[k] / d x[j] = exp(-2 pi i j k / n)
    for backend in ("fd", *backends):
        assert abs(derivative(found, backend, "d/dx") - expected) <= 1e-6


def test_fast_mode_and_second_order_run_on_the_real_parts():
    result = invoke("run", str(COMPLEX / "functions.py:polynomial"), "--random", "3:complex128", "--mode", "fast",
                    "--no-timings")
    assert result.exit_code == ExitCode.OK, result.stdout
    result = invoke("run", str(COMPLEX / "functions.py:polynomial"), "--input", Z_JSON, "--order", "2",
                    "--backend", "jax-rev", "--no-timings")
    assert result.exit_code == ExitCode.OK, result.stdout
    assert "jax-rev    agree" in result.stdout.split("Second derivatives")[1]


def test_fast_mode_samples_a_complex_inputs_two_columns_together():
    from adcheck.fast import N_RANDOM, probe_vectors

    # Inputs [x (real, 3), z (complex, 4): Re z[k] at 3 + 2k]: every sampled column of z brings its partner.
    real_parts = tuple(range(3, 11, 2))
    for seed in range(20):
        sampled = set(probe_vectors(11, 2, seed=seed, complex_columns=real_parts).sampled_columns.tolist())
        assert all((c in sampled) == (c + 1 in sampled) for c in real_parts)
        plain = probe_vectors(11, 2, seed=seed)
        paired = probe_vectors(11, 2, seed=seed, complex_columns=real_parts)
        # The random directions and cotangents are the same with or without the pairing.
        np.testing.assert_array_equal(plain.directions[:, :N_RANDOM], paired.directions[:, :N_RANDOM])
        np.testing.assert_array_equal(plain.cotangents, paired.cotangents)


@pytest.mark.parametrize("function, derivative_of", [
    ("exp_sum", np.exp),
    ("polynomial", lambda z: 3 * z**2 + 4 * z - 1),
])
def test_fast_mode_shows_the_complex_derivatives_it_computed_whole(function, derivative_of):
    code, report = run_json(f"functions.py:{function}", "--mode", "fast")
    assert code == ExitCode.OK
    shown = [e for e in report["complex"] if not e["zero"]]
    assert shown
    for found in shown:
        k = found["entry"][1] // 2
        assert found["name"] == f"d {function}[{k}] / d z[{k}]" and found["kind"] == "holomorphic"
        assert {"fd", "jax-fwd"} <= set(found["derivatives"])
        for backend in found["derivatives"]:
            assert abs(derivative(found, backend, "d/dz") - derivative_of(Z[k])) <= 1e-6 * abs(derivative_of(Z[k]))


def test_fast_mode_shows_the_wirtinger_pair_of_a_real_loss_for_every_backend():
    code, report = run_json("functions.py:abs_squared", "--mode", "fast")
    assert code == ExitCode.OK
    for found in report["complex"]:
        k = found["entry"][1] // 2
        assert found["kind"] == "wirtinger"
        # A scalar output: the reverse backends' gradient is the whole row, so all four show it.
        assert set(found["derivatives"]) == {"fd", "autograd", "jax-fwd", "jax-rev"}
        for backend in found["derivatives"]:  # |z|^2: d/dz = conj(z), d/dconj(z) = z
            assert abs(derivative(found, backend, "d/dz") - np.conj(Z[k])) <= 1e-6
            assert abs(derivative(found, backend, "d/dconj(z)") - Z[k]) <= 1e-6


def test_fast_mode_fails_a_planted_conjugate_and_shows_it_in_complex_form():
    code, report = run_json("jax_rules.py:bad_jvp", "--mode", "fast", "--no-blame")
    assert code == ExitCode.FAILED
    assert statuses(report)["jax-fwd"] == "disagree"
    found = next(e for e in report["complex"] if not e["zero"])
    fd, wrong = derivative(found, "fd", "d/dz"), derivative(found, "jax-fwd", "d/dz")
    assert abs(wrong - np.conj(fd)) <= 1e-6 * abs(fd) and abs(wrong - fd) > 1e-3 * abs(fd)  # the planted conjugate


# --- a planted conjugate fails, blamed on the rule --------------------------------------------------


# (fixture:target, the backends that must fail, the rule's function, the line that calls the rule)
PLANTED = [
    ("jax_rules.py:bad_jvp", ("jax-fwd", "jax-rev"), "cexp_conj", "cexp_conj(z)"),
    ("jax_rules.py:bad_vjp", ("jax-rev",), "csin_torch_style", "csin_torch_style(z)"),
    ("torch_rules.py:bad", ("torch-rev",), "SinNoConj", "SinNoConj.apply(z)"),
    ("autograd_rules.py:bad", ("autograd",), "csin_conj", "csin_conj(z)"),
]


def call_line(fixture: str, call: str) -> int:
    lines = (COMPLEX / fixture).read_text().splitlines()
    return next(i + 1 for i, text in enumerate(lines) if call in text and not text.lstrip().startswith("def "))


@pytest.mark.parametrize("target, failing, rule, call", PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_conjugate_fails_and_blame_names_the_rule(target, failing, rule, call):
    code, report = run_json(target)
    assert code == ExitCode.FAILED
    for backend in failing:
        assert statuses(report)[backend] == "disagree"
    blamed = [f for f in report["findings"] if f["code"] == "ADC501" and f["line"] == call_line(target.split(":")[0], call)]
    assert blamed, report["findings"]
    assert f"the derivative rule of {rule}" in blamed[0]["message"]
    assert set(failing) <= set(blamed[0]["explains"])


SECOND_ORDER_PLANTED = [
    ("second_order.py:bad", "jax-rev", "cexp", "2.0 * cexp(z)"),
    ("second_order_autograd.py:bad", "autograd", "cexp", "cexp(z)"),
    ("second_order_torch.py:bad", "torch-rev", "Exp", "Exp.apply(z)"),
]


@pytest.mark.parametrize("target, backend, rule, call", SECOND_ORDER_PLANTED, ids=[p[0] for p in SECOND_ORDER_PLANTED])
def test_blame_at_order_2_names_a_rule_whose_own_derivative_is_wrong_on_complex_operands(target, backend, rule, call):
    # The rule's values are right (first order agrees); its derivative, checked as the real map
    # of the operands' parts, is not.
    code, report = run_json(target, "--order", "2", "--backend", backend)
    assert code == ExitCode.FAILED
    assert statuses(report)[backend] == "agree"
    blamed = [f for f in report["findings"] if f["code"] == "ADC501" and f["severity"] == "error"
              and f["line"] == call_line(target.split(":")[0], call)]
    assert blamed, report["findings"]
    assert f"the derivative rule of {rule}" in blamed[0]["message"]
    assert "its own derivative, --order 2" in blamed[0]["message"]
    assert backend in blamed[0]["explains"]


@pytest.mark.parametrize("target, backends", [
    ("jax_rules.py:good_jvp", ("jax-fwd", "jax-rev")),
    ("jax_rules.py:good_vjp", ("jax-rev",)),
    ("torch_rules.py:good", ("torch-fwd", "torch-rev")),
    ("autograd_rules.py:good", ("autograd", "jax-fwd", "jax-rev")),
])
def test_the_same_rules_in_each_frameworks_own_convention_pass(target, backends):
    code, report = run_json(target)
    assert code == ExitCode.OK
    assert {statuses(report)[b] for b in backends} == {"agree"}


def test_a_planted_conjugate_in_the_ci_formats_carries_the_complex_entry():
    result = invoke("run", str(COMPLEX / "torch_rules.py:bad"), "--input", Z_JSON, "--format", "sarif", "--no-timings")
    assert result.exit_code == ExitCode.FAILED
    sarif = json.loads(result.stdout)
    carried = [r["properties"]["complex_entry"] for r in sarif["runs"][0]["results"]
               if "complex_entry" in r["properties"]]
    assert carried and carried[0]["name"] == "d bad / d z[0]" and carried[0]["kind"] == "wirtinger"
    assert set(carried[0]["value"]["d/dz"]) == {"re", "im"}
    result = invoke("run", str(COMPLEX / "torch_rules.py:bad"), "--input", Z_JSON, "--format", "junit", "--no-timings")
    assert result.exit_code == ExitCode.FAILED
    assert "d bad / d z[0] (wirtinger): torch-rev d/dz = " in result.stdout


# --- inputs ------------------------------------------------------------------------------------------


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(complex, finite, finite), min_size=1, max_size=6))
def test_the_json_spelling_round_trips_exactly(values):
    array = np.array(values, dtype=np.complex128)
    arguments = promote([array], [0])
    (text,) = argument_json(arguments)
    back = parse_json_argument(text)
    assert back.dtype == np.complex128
    assert np.array_equal(back.view(np.float64), array.view(np.float64))  # bit for bit, signed zeros aside


def test_json_complex_leaves_mix_with_numbers_nest_and_sit_in_pytrees():
    assert parse_json_argument('{"$complex": [1.5, -2]}') == 1.5 - 2j
    mixed = parse_json_argument('[[{"$complex": [1, 2]}, 3], [0.5, {"$complex": [0, -1]}]]')
    assert mixed.shape == (2, 2) and mixed[0, 0] == 1 + 2j and mixed[0, 1] == 3 and mixed[1, 1] == -1j
    tree = parse_json_argument('{"w": [{"$complex": [1, 1]}], "b": 2.0}')
    assert tree["w"].dtype == np.complex128 and tree["b"] == 2.0
    assert parse_json_argument('{"$array": [{"$complex": [1, 0]}]}').dtype == np.complex128


def test_the_flat_vector_holds_real_and_imaginary_parts_side_by_side(tmp_path):
    np.save(tmp_path / "z.npy", np.array([1 + 2j, 3 - 4j], dtype=np.complex64))
    np.savez(tmp_path / "zs.npz", np.array([5 + 6j]), np.array([7.0]))
    arguments = build_arguments((f"@{tmp_path / 'z.npy'}",), names=("z",))
    assert arguments.dtype == np.float32 and arguments.n_inputs == 4
    assert arguments.flat().tolist() == [1, 2, 3, -4]
    assert [arguments.column_name(c) for c in range(4)] == ["Re z[0]", "Im z[0]", "Re z[1]", "Im z[1]"]
    assert arguments.build(np.array([1, 2, 3, -4], dtype=np.float32))[0].tolist() == [1 + 2j, 3 - 4j]
    assert arguments.at(np.array([0, 1, 0, -1.0])).leaves[0].value.tolist() == [1j, -1j]
    pair = build_arguments((f"@{tmp_path / 'zs.npz'}",))
    assert pair.n_inputs == 3 and pair.flat().tolist() == [5, 6, 7]


def test_random_draws_complex_arguments_in_the_dtype_asked_for():
    arguments = build_arguments(random_shapes=("2x3:complex64", "4"), seed=3)
    first, second = (leaf.value for leaf in arguments.leaves)
    assert first.dtype == np.complex64 and first.shape == (2, 3) and np.all(first.imag != 0)
    assert second.dtype == np.float64 and arguments.n_inputs == 16
    again = build_arguments(random_shapes=("2x3:complex64", "4"), seed=3)
    assert np.array_equal(again.leaves[0].value, first)
    real = build_arguments(random_shapes=("4",), seed=3)  # a real draw is what it always was
    assert np.array_equal(real.leaves[0].value, np.random.default_rng(3).standard_normal(4))


@pytest.mark.parametrize("text, fragment", [
    ('{"$complex": [1]}', 'takes [re, im], two numbers'),
    ('{"$complex": "1+2j"}', 'takes [re, im], two numbers'),
    ('[{"$complex": [1, true]}]', 'takes [re, im], two numbers'),
    ('{"$complex": [1, 1e999]}', 'finite'),
])
def test_a_malformed_complex_json_leaf_is_one_line_and_exit_2(text, fragment):
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_json_argument(text)
    assert_usage_error(invoke("run", str(COMPLEX / "functions.py:exp_sum"), "--input", text), "--input", fragment)


def test_malformed_complex_files_and_dtypes_are_one_line_and_exit_2(tmp_path):
    np.save(tmp_path / "nan.npy", np.array([1 + 1j, complex(0, np.nan)]))
    target = str(COMPLEX / "functions.py:exp_sum")
    assert_usage_error(invoke("run", target, "--input", f"@{tmp_path / 'nan.npy'}"), "nan.npy", "NaN or infinity")
    assert_usage_error(invoke("run", target, "--random", "3:complex256"), "--random", "unknown dtype 'complex256'")


def test_a_case_kept_by_add_case_is_toml_that_reads_back_the_same_complex_input():
    import tomllib

    from adcheck.inputs import as_numeric_array
    from adcheck.search.cases import case_text

    array = np.array([0.5 - 1j, -0.0 + 1e-300j])
    text = case_text("f.py:g", argument_json(promote([array, np.array([2.0])], [0])), None, "kept")
    (case,) = tomllib.loads(text)["tool"]["adcheck"]["case"]
    first, second = (as_numeric_array(value, "inputs") for value in case["inputs"])
    assert first.dtype == np.complex128 and np.array_equal(first, array) and second.tolist() == [2.0]


def test_the_search_varies_the_real_and_imaginary_parts_of_a_complex_leaf():
    from hypothesis import find

    from adcheck.search.strategies import input_strategy

    arguments = promote([np.array([0.5 - 1j, 2 + 3j])], [0])
    given = arguments.leaves[0].value.view(np.float64).reshape(2, 2)
    _, (drawn,) = find(input_strategy(arguments.differentiated), lambda d: np.any(d[1][0] != given))
    assert drawn.shape == (2, 2) and drawn.dtype == np.float64  # (entry, Re/Im): the flat vector's layout


def test_order_2_judges_a_zero_hessian_row_at_the_scale_of_the_whole_hessian():
    # |exp(z)|^2 = exp(2 Re z): the gradient along each Im z is 0 and its Hessian row too. One
    # backend gives 1e-16 there, another 0; at the scale of the Re rows (up to 7.3) both are right,
    # and the wrong rule beside them is still the only one that fails.
    inputs = (json.dumps(cx.encode_json(np.array([0.3 + 0.2j, -0.5 + 1.0j]))),)
    code, report = run_json("second_order_autograd.py:good", "--order", "2", inputs=inputs)
    assert code == ExitCode.OK
    assert {b["name"]: b["status"] for b in report["second_order"]["backends"]} == {
        "autograd": "agree", "jax-fwd": "agree", "jax-rev": "agree"}
    code, report = run_json("second_order_autograd.py:bad", "--order", "2", inputs=inputs)
    assert code == ExitCode.FAILED
    assert report["second_order"]["odd_one_out"] == ["autograd"]
    assert {b["name"]: b["status"] for b in report["second_order"]["backends"]}["jax-rev"] == "agree"
