"""Tolerances change verdicts: ``--rtol``/``--atol``, ``[tool.adcheck]``, per case, the float32 row,
the measured working precision; and the function's value, checked before any derivative.

The rules in fixtures/tolerances.py are wrong by a known amount: exp's by a relative 1e-4 (far
outside float64's 1e-6, inside float32's 2e-3 and ``--rtol 1e-3``), sin's by a relative 1e-3
(inside float32's rtol only), cos's by an absolute 1e-5 on an entry whose true value is 0 (no
relative tolerance absorbs it; ``--atol 1e-4`` does).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from contextlib import chdir as in_directory

import numpy as np
import pytest

from adcheck.errors import ExitCode
from adcheck.verdict.tolerances import absolute_tolerance, uniform_eps
from conftest import FIXTURES, invoke

TOLERANCES = FIXTURES / "tolerances.py"
EXP = f"{TOLERANCES}:exp_slightly_wrong"
COS = f"{TOLERANCES}:cos_shifted_slope"
EXP_INPUT = "[0.5, 1.0, 2.0]"
COS_INPUT = "[0.0, 0.5, 1.0]"  # d cos / dx at 0 is 0: the rule's 1e-5 there is purely absolute
QUIET = ("--backend", "autograd", "--format", "json", "--no-timings", "--no-lint", "--no-blame")


def run_json(target: str, *args: str) -> tuple[int, dict]:
    result = invoke("run", target, *args, *QUIET)
    assert "Traceback" not in result.stderr, result.stderr
    return result.exit_code, json.loads(result.stdout)


def rows(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["backends"]}


def status_and_count(report: dict, backend: str = "autograd") -> tuple[str, str]:
    row = rows(report)[backend]
    return row["status"], row["message"]


# --- --rtol and --atol on the command line ---------------------------------------------------------


def test_a_relative_error_of_1e_4_disagrees_at_the_float64_default():
    code, report = run_json(EXP, "--input", EXP_INPUT)
    assert code == ExitCode.FAILED
    assert status_and_count(report) == ("disagree", "3 of 9 entries outside tolerance")
    # Exactly the rule's error, on the diagonal: 1e-4 of exp(x).
    assert [m["entry"] for m in sorted(rows(report)["autograd"]["mismatches"], key=lambda m: m["entry"])] == [
        [0, 0], [1, 1], [2, 2]]
    for mismatch in rows(report)["autograd"]["mismatches"]:
        assert mismatch["value"] == pytest.approx(mismatch["reference"] * (1 + 1e-4), rel=1e-8)


def test_rtol_flag_looser_than_the_error_makes_it_agree():
    code, report = run_json(EXP, "--input", EXP_INPUT, "--rtol", "1e-3")
    assert code == ExitCode.OK
    assert status_and_count(report) == ("agree", "")
    # The error is a tenth of the tolerance (1e-4 of 1e-3), not a rounding accident.
    assert 0.05 < rows(report)["autograd"]["max_error_over_tolerance"] < 0.15


@pytest.mark.parametrize(("flags", "expected"), [
    ((), ("disagree", "3 of 9 entries outside tolerance")),
    # rtol scales with |J|, and the true derivative at x = 0 is 0: the entry there still disagrees.
    (("--rtol", "1e-3"), ("disagree", "1 of 9 entries outside tolerance")),
    (("--atol", "1e-4"), ("agree", "")),
    (("--atol", "1e-6"), ("disagree", "3 of 9 entries outside tolerance")),
], ids=["default", "rtol-1e-3", "atol-1e-4", "atol-1e-6"])
def test_atol_flag_decides_an_absolute_error_that_rtol_cannot(flags, expected):
    code, report = run_json(COS, "--input", COS_INPUT, *flags)
    assert status_and_count(report) == expected
    assert code == (ExitCode.OK if expected[0] == "agree" else ExitCode.FAILED)
    if "--rtol" in flags:
        assert [m["entry"] for m in rows(report)["autograd"]["mismatches"]] == [[0, 0]]


# --- [tool.adcheck], [[tool.adcheck.case]] and @adcheck.case ---------------------------------------

PROJECT = textwrap.dedent(f'''\
    [tool.adcheck]
    backends = ["autograd"]
    lint = false
    blame = false
    rtol = 1e-3                      # loose enough for the 1e-4 rule

    [[tool.adcheck.case]]
    target = "tolerances.py:exp_slightly_wrong"
    input = {EXP_INPUT}

    [[tool.adcheck.case]]
    target = "tolerances.py:exp_slightly_wrong"
    input = {EXP_INPUT}
    rtol = 1e-6                      # the case tightens it again

    [[tool.adcheck.case]]
    target = "tolerances.py:cos_shifted_slope"
    input = {COS_INPUT}
    atol = 1e-4

    [[tool.adcheck.case]]
    target = "tolerances.py:cos_shifted_slope"
    input = {COS_INPUT}
    ''')

DECORATED = textwrap.dedent(f'''\


    import adcheck


    @adcheck.case(input={EXP_INPUT}, rtol=1e-6)
    def exp_tight(x):
        return nearly_exp(x)


    @adcheck.case(input={EXP_INPUT})
    def exp_project_default(x):
        return nearly_exp(x)


    @adcheck.case(input={COS_INPUT}, atol=1e-4, rtol=1e-6)
    def cos_with_atol(x):
        return shifted_cos(x)
    ''')


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("tolerance_project")
    shutil.copy(TOLERANCES, root / "tolerances.py")
    (root / "pyproject.toml").write_text(PROJECT)
    # The decorated cases use the same wrong rules: the fixture's source, then the cases.
    (root / "decorated.py").write_text(TOLERANCES.read_text() + DECORATED)
    return root


def check_verdicts(project, *flags: str) -> tuple[int, dict[str, str]]:
    with in_directory(project):
        result = invoke("check", "decorated.py", "--format", "json", "--no-timings", "-q", *flags)
    assert "Traceback" not in result.stderr, result.stderr
    data = json.loads(result.stdout)
    return result.exit_code, {case["target"]: case["verdict"] for case in data["cases"]}


@pytest.fixture(scope="module")
def configured(project):
    return check_verdicts(project)


def test_tool_adcheck_rtol_makes_the_small_relative_error_agree(configured):
    _, verdicts = configured
    assert verdicts["tolerances.py:exp_slightly_wrong"] == "pass"
    assert verdicts["decorated.py:exp_project_default"] == "pass"


def test_case_rtol_overrides_tool_adcheck(configured):
    code, verdicts = configured
    assert verdicts["tolerances.py:exp_slightly_wrong[2]"] == "fail"
    assert verdicts["decorated.py:exp_tight"] == "fail"
    assert code == ExitCode.FAILED


def test_case_atol_makes_the_absolute_error_agree(configured):
    _, verdicts = configured
    assert verdicts["tolerances.py:cos_shifted_slope"] == "pass"
    assert verdicts["decorated.py:cos_with_atol"] == "pass"
    # Without atol the project's rtol (1e-3) cannot absorb an error on a zero entry.
    assert verdicts["tolerances.py:cos_shifted_slope[2]"] == "fail"


def test_command_line_overrides_case_and_project_tolerances(project):
    code, verdicts = check_verdicts(project, "--rtol", "1e-3", "--atol", "1e-4")
    assert set(verdicts.values()) == {"pass"}, verdicts
    assert code == ExitCode.OK
    code, verdicts = check_verdicts(project, "--rtol", "1e-6", "--atol", "1e-6")
    assert set(verdicts.values()) == {"fail"}, verdicts
    assert code == ExitCode.FAILED


# --- the float32 row and the measured working precision --------------------------------------------


@pytest.fixture(scope="module")
def npy_inputs(tmp_path_factory):
    """The same values saved as float32 and as float64 ``.npy`` files, for exp and near pi for sin."""
    root = tmp_path_factory.mktemp("npy")
    paths = {}
    for name, values in (("exp", [0.5, 1.0, 2.0]), ("sin", [3.1, 3.14, 3.2])):
        for dtype in ("float32", "float64"):
            paths[name, dtype] = root / f"{name}_{dtype}.npy"
            np.save(paths[name, dtype], np.array(values, dtype=dtype))
    return paths


# exp (wrong by 1e-4): the rounding noise of its float32 value alone absorbs the error. sin near pi
# (wrong by 1e-3): a small value and a slope near -1, so only the float32 row's rtol (2e-3) accepts it.
@pytest.mark.parametrize("function", ["exp", "sin"])
@pytest.mark.parametrize(("dtype", "expected"), [("float32", ExitCode.OK), ("float64", ExitCode.FAILED)],
                         ids=["float32-agrees", "float64-disagrees"])
def test_float32_inputs_are_judged_at_float32_tolerances(npy_inputs, function, dtype, expected):
    code, report = run_json(f"{TOLERANCES}:{function}_slightly_wrong", "--input", f"@{npy_inputs[function, dtype]}")
    assert report["inputs"][0]["dtype"] == dtype
    assert code == expected, report
    assert status_and_count(report)[0] == ("agree" if expected == ExitCode.OK else "disagree")
    assert not any("computes in" in note for note in report["notes"])  # the input's own precision


def test_float32_rtol_is_what_accepts_the_error_near_pi(npy_inputs):
    # Tighter than the float32 row, finite differences see the 1e-3 error (twice the rtol) with
    # an error bar of 4e-6, and the Taylor walk, its steps on the float32 grid the function
    # rounds to, measures the same error: two witnesses decide all three entries.
    code, report = run_json(f"{TOLERANCES}:sin_slightly_wrong", "--input", f"@{npy_inputs['sin', 'float32']}",
                            "--rtol", "5e-4")
    assert code == ExitCode.FAILED
    status, message = status_and_count(report)
    assert (status, message) == ("disagree", "3 of 9 entries outside tolerance")
    row = rows(report)["autograd"]
    assert len(row["mismatches"]) == 3 and row["inconclusive_entries"] == 0


def test_float64_inputs_to_float32_code_are_judged_at_the_measured_float32_precision():
    code, report = run_json(f"{TOLERANCES}:exp_slightly_wrong_in_float32", "--input", EXP_INPUT)
    assert report["inputs"][0]["dtype"] == "float64"
    assert code == ExitCode.OK, report
    assert status_and_count(report) == ("agree", "")
    assert [note for note in report["notes"] if "outputs resolve only" in note] == [
        "outputs resolve only to float32 precision (measured: float32 code, or rounding such as 1 + x for tiny x): "
        "finite differences and tolerances follow it"]


# --- the value comes first --------------------------------------------------------------------------


def test_a_function_whose_value_differs_under_autograd_disagrees_on_its_value():
    # The derivative autograd computes is the true one (the difference is a constant): only the
    # value check can catch that autograd differentiated another function.
    code, report = run_json(f"{FIXTURES / 'primal_mismatch.py'}:value_differs_under_autograd", "--input", EXP_INPUT)
    assert code == ExitCode.FAILED
    status, message = status_and_count(report)
    assert status == "disagree"
    assert message.startswith("function value differs from plain numpy at output 0: 0.489426 vs 0.479426 "
                              "(3 of 3 outputs)"), message


def test_numpy_code_whose_value_differs_under_the_rebinding_is_not_applicable():
    result = invoke("run", f"{FIXTURES / 'numpy_aliasing.py'}:aliased_increment", "--input", EXP_INPUT,
                    "--backend", "jax-rev", "--format", "json", "--no-timings", "--no-lint", "--no-blame")
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    status, message = status_and_count(report, "jax-rev")
    assert status == "not-applicable"
    assert message.startswith("with numpy rebound to jax.numpy the function computes other values "
                              "(function value differs from plain numpy at output 0:"), message
    assert message.endswith("adcheck rebound the code in this worker, and it does not mean the same there")
    # jax-rev was the only AD backend: nothing was checked, which is not a pass.
    assert report["verdict"] == "nothing-checked"
    assert result.exit_code == ExitCode.USAGE


# --- NaN in a derivative ----------------------------------------------------------------------------


def test_the_double_where_square_root_has_no_nan_in_its_derivative():
    # nan_where.py:safe_sqrt gives NaN at x = -1 (the untaken branch's derivative); the
    # double-where version keeps the untaken branch finite, and every backend agrees.
    result = invoke("run", f"{FIXTURES / 'nan_where.py'}:really_safe_sqrt", "--input", "[-1.0, 4.0]",
                    "--backend", "jax-fwd", "--backend", "jax-rev", "--format", "json", "--no-timings")
    assert result.exit_code == ExitCode.OK, result.stdout[-2000:] + result.stderr
    report = json.loads(result.stdout)
    assert {name: row["status"] for name, row in rows(report).items()} == {
        "fd": "reference", "jax-fwd": "agree", "jax-rev": "agree"}
    for name in ("jax-fwd", "jax-rev"):
        assert rows(report)[name]["nonfinite_entries"] == 0
        np.testing.assert_allclose(report["jacobians"][name], [[0.0, 0.0], [0.0, 0.25]], atol=1e-12)
    assert not any(f["code"] == "ADC604" for f in report["findings"])


@pytest.mark.parametrize("scale", ["tiny", "huge"])
@pytest.mark.parametrize("rule", ["wrong", "right"])
def test_a_rule_is_judged_the_same_at_1e_minus_14_and_at_1e14(scale, rule):
    # A derivative rule twice the truth fails whatever the function's units; the right one passes.
    result = invoke("run", f"{FIXTURES / 'scaled_rules.py'}:{scale}_{rule}", "--input", "[0.5, 1.0, 2.0]",
                    "--backend", "autograd", "--no-blame")
    assert result.exit_code == (ExitCode.FAILED if rule == "wrong" else ExitCode.OK), result.stdout


# --- an output with no scale of its own -------------------------------------------------------------


def test_an_output_that_is_exactly_zero_with_no_slope_still_has_a_tolerance():
    # Value 0 and every derivative 0: the tolerance is the rounding of a value of 1, not 0, and
    # still far below a slope of order one.
    atol = absolute_tolerance(np.zeros((1, 3)), np.zeros(1), uniform_eps(1), np.array([4.5, 4.5, 200.0]), 1e-9)
    assert np.all(atol > 0)
    assert np.all(atol < 1e-10)
    # ... and beside an output that has a scale, that output's size sets it.
    atol = absolute_tolerance(np.array([[0.0], [2.0]]), np.array([0.0, 1e6]), uniform_eps(2), np.ones(1), 1e-9)
    assert atol[0, 0] > 1e-6


def test_a_saturated_loss_that_is_exactly_zero_passes_with_either_frameworks_tanh_rule(tmp_path):
    # log(sigmoid) where tanh has saturated: the value is exactly 0 at and around the input.
    # autograd's tanh rule (1/cosh**2) gives the true slope, 1.2e-27; JAX's (1 - tanh**2) gives 0,
    # as do finite differences. Both are right to what float64 can hold.
    path = tmp_path / "saturated.py"
    path.write_text("import numpy as np\n\n\ndef loss(w):\n    return -np.log(0.5 * (np.tanh(w[0]) + 1.0))\n")
    result = invoke("run", f"{path}:loss", "--input", "[31.0]", "--backend", "autograd", "--backend", "jax-rev",
                    "--format", "json", "--no-timings", "--no-lint")
    assert result.exit_code == ExitCode.OK, result.stdout[-2000:] + result.stderr
    report = json.loads(result.stdout)
    assert report["jacobians"]["autograd"][0][0] != 0.0  # the situation: the frameworks differ
    assert {row["name"]: row["status"] for row in report["backends"]} == {
        "fd": "reference", "autograd": "agree", "jax-rev": "agree"}


def test_an_output_that_underflowed_beside_tiny_inputs_keeps_a_tolerance_of_zero():
    # x * x at 1e-310 is exactly 0: its slope 2e-310 is the function's own scale, not rounding.
    atol = absolute_tolerance(np.zeros((1, 1)), np.zeros(1), uniform_eps(1), np.array([1e-310]), 1e-9)
    assert atol[0, 0] == 0.0
