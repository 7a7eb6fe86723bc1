"""`adcheck run` end to end: the motivating cumulative products, exit codes, the JSON schema."""

import json
import re

import jsonschema
import numpy as np
import pytest

from conftest import FIXTURES, invoke

TRUE_CUMPROD_JACOBIAN = [[1, 0, 0], [2, 1, 0], [6, 3, 2]]

RUN_SCHEMA = {
    "type": "object",
    "required": ["schema", "target", "verdict", "backends", "jacobians", "fd_error", "findings"],
    "properties": {
        "schema": {"const": 2},
        "target": {"type": "string"},
        "verdict": {"enum": ["pass", "fail", "inconclusive", "nothing-checked"]},
        "backends": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "status", "max_abs_error", "max_error_over_tolerance", "worst_entry", "seconds",
                             "message", "inconclusive_entries", "consensus_only_entries", "nonfinite_entries"],
                "properties": {
                    "status": {"enum": ["reference", "agree", "disagree", "inconclusive", "kink", "unusable",
                                        "error", "unavailable", "not-applicable"]},
                    "worst_entry": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "integer"},
                                                                 "minItems": 2, "maxItems": 2}]},
                },
            },
        },
        "jacobians": {"type": "object", "additionalProperties": {"type": "array"}},
        "fd_error": {"anyOf": [{"type": "null"}, {"type": "array"}]},
        "findings": {
            "type": "array",
            "items": {"type": "object",
                      "required": ["code", "severity", "path", "line", "col", "message", "explains"]},
        },
    },
}


@pytest.mark.parametrize("func", ["ac_cumprod", "loop_cumprod", "slice_cumprod"])
def test_cumprod_seed_jacobian_agrees_on_every_backend(func):
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:{func}", "--input", "[1,2,3]", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, RUN_SCHEMA)
    statuses = {b["name"]: b["status"] for b in report["backends"]}
    assert statuses == {"fd": "reference", "autograd": "agree", "jax-fwd": "agree", "jax-rev": "agree",
                        "torch-fwd": "not-applicable", "torch-rev": "not-applicable"}
    for name in ("fd", "autograd", "jax-fwd", "jax-rev"):
        np.testing.assert_allclose(report["jacobians"][name], TRUE_CUMPROD_JACOBIAN, rtol=1e-9, atol=1e-12)
    assert report["verdict"] == "pass"
    assert report["inputs"][0]["promoted_from"] == "int64"


def test_table_report_text():
    # Exact text, except the two numbers that are rounding noise (they differ with the BLAS kernel
    # a machine picks): those are checked against a bound instead.
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1.0,2.0,3.0]", "--backend", "jax-rev",
                    "--no-timings", "--no-lint")
    assert result.exit_code == 0
    noise = re.compile(r"^(jax-rev    agree      )(\S+)(\s+)(\S+)(\s+)(d ac_cumprod\[\d\] / d x\[\d\])$", re.MULTILINE)
    match = noise.search(result.stdout)
    assert match, result.stdout
    assert float(match.group(2)) < 1e-12 and float(match.group(4)) < 1e-6  # error, and error over tolerance
    masked = noise.sub(lambda m: m.group(1) + "ERR".ljust(len(m.group(2))) + m.group(3)
                       + "RATIO".ljust(len(m.group(4))) + m.group(5) + "d ac_cumprod[i] / d x[j]", result.stdout)
    assert masked == f"""\
adcheck run {FIXTURES / 'cumprod.py'}:ac_cumprod
inputs: x 3 (3 values) -> outputs: 3 values
  code written for numpy

backend    status     max abs err    err/tol    worst entry
---------  ---------  -------------  ---------  ------------------------
fd         reference  -              -          -
jax-rev    agree      ERR            RATIO      d ac_cumprod[i] / d x[j]

Jacobians (rows: outputs, columns: inputs):
fd        jax-rev
1  0  0   1  0  0
2  1  0   2  1  0
6  3  2   6  3  2

PASS: jax-rev agrees with finite differences
"""


def test_json_stdout_is_only_json_and_promotion_is_reported():
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:loop_cumprod", "--input", "[1,2,3]", "--backend", "autograd",
                    "--format", "json")
    report = json.loads(result.stdout)
    assert any("promoted to float64" in note for note in report["notes"])
    assert report["fd_error"] is not None and len(report["fd_error"]) == 3


def test_unknown_backend_is_a_usage_error_listing_known_names():
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--backend", "tensorflow")
    assert result.exit_code == 2
    assert "unknown backend 'tensorflow'" in result.stderr
    assert "autograd, jax-fwd, jax-rev" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_arguments_and_wrt_choose_the_columns():
    # f(x, y) = x * y: with --wrt 1 the Jacobian is d/dy only, i.e. diag(x).
    result = invoke("run", f"{FIXTURES / 'multi_arg.py'}:scaled", "--input", "[1,2]", "--input", "[3,4]", "--wrt", "1",
                    "--backend", "jax-rev", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    np.testing.assert_allclose(report["jacobians"]["jax-rev"], [[1, 0], [0, 2]])
    assert [a["differentiated"] for a in report["inputs"]] == [False, True]


def test_tuple_outputs_are_concatenated_in_order():
    result = invoke("run", f"{FIXTURES / 'multi_arg.py'}:pair", "--input", "[1,2]", "--backend", "autograd",
                    "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    np.testing.assert_allclose(report["jacobians"]["autograd"], [[2, 0], [0, 4], [1, 1]], rtol=1e-9)


def test_large_jacobian_disagreements_are_drawn_as_a_map():
    from adcheck.prepare import CommandLineInputs, prepare
    from adcheck.report import table
    from adcheck.run import check_target
    from adcheck.settings import Settings

    x = "[" + ",".join(str(0.5 + 0.1 * k) for k in range(12)) + "]"
    report = check_target(prepare(f"{FIXTURES / 'wrong_cumprod_rule.py'}:running_product", CommandLineInputs((x,))),
                          Settings(backends=("autograd",), lint=False))
    assert report.failed
    text = table.render(report, timings=False)
    expected_map = "\n".join("X" * row + "." * (12 - row) for row in range(12))
    assert "autograd: where the disagreements are (X: disagree, .: agree)\n" + expected_map + "\n" in text
    assert "Jacobians (rows: outputs, columns: inputs)" not in text  # 12x12 is past the 8x8 limit


def test_disagreement_map_downsamples_blocks():
    from adcheck.report.table import disagreement_map

    mask = np.tril(np.ones((120, 120), dtype=bool), -1)
    lines = disagreement_map(mask).splitlines()
    assert lines[-1] == "(each character: 2x2 entries)"
    assert lines[0] == "X" + "." * 59 and lines[59] == "X" * 60


# --- forward-versus-reverse advice ------------------------------------------------------------------


@pytest.mark.parametrize(("fwd_seconds", "rev_seconds", "n_inputs", "advised"), [
    (0.30, 1.50, 2, "jax-fwd was faster than jax-rev here (0.30 s vs 1.50 s; 2 inputs, 3 outputs"),
    (2.00, 0.50, 40, "jax-rev was faster than jax-fwd here (0.50 s vs 2.00 s; 40 inputs, 3 outputs"),
    (0.40, 0.63, 2, None),  # 1.6x apart: what two runs of the same work differ by on a busy machine
    (1.00, 1.80, 2, None),  # under 2x apart
    (0.05, 0.20, 2, None),  # 4x apart but 0.15 s: nobody waits for that
    (0.30, 1.50, 40, None),  # forward mode won with fewer outputs than inputs: chance or warm-up, no advice
    (0.30, 1.50, 3, None),  # as many inputs as outputs: the pass counts predict no winner
])
def test_forward_versus_reverse_advice_only_when_the_difference_is_real(fwd_seconds, rev_seconds, n_inputs, advised):
    from adcheck.model import BackendRun, Status
    from adcheck.run import _faster_mode_note

    runs = [BackendRun("fd", Status.REFERENCE, 0.1), BackendRun("jax-fwd", Status.COMPUTED, fwd_seconds),
            BackendRun("jax-rev", Status.COMPUTED, rev_seconds)]
    notes = _faster_mode_note(runs, np.zeros(3), n_inputs)
    if advised is None:
        assert notes == ()
    else:
        assert len(notes) == 1 and notes[0].startswith(advised)


def test_no_forward_versus_reverse_advice_in_fast_mode():
    """Fast mode takes a few products either way: the pass counts say nothing of its timings."""
    from adcheck.model import BackendRun, Mode, Status
    from adcheck.run import _faster_mode_note

    runs = [BackendRun("jax-fwd", Status.COMPUTED, 2.67), BackendRun("jax-rev", Status.COMPUTED, 6.0)]
    assert _faster_mode_note(runs, np.zeros(1), 1, Mode.FULL) == ()
    assert _faster_mode_note(runs, np.zeros(30), 2, Mode.FULL) != ()
    assert _faster_mode_note(runs, np.zeros(30), 2, Mode.FAST) == ()


def test_the_batching_trial_calls_are_silent(tmp_path):
    """The FD batching trial calls the function with a batch axis the user never passed; what
    the function prints or warns then must not reach the user."""
    (tmp_path / "chatty.py").write_text(
        "import warnings\nimport numpy as np\n\n\ndef f(x):\n"
        "    print('called with shape', np.shape(x))\n"
        "    if np.ndim(x) > 1:\n        warnings.warn('batched call')\n"
        "    return np.tanh(x) * 2\n")
    import subprocess
    import sys

    # A real process: the workers' prints go to its stderr, which an in-process runner never sees.
    result = subprocess.run([sys.executable, "-m", "adcheck", "run", f"{tmp_path / 'chatty.py'}:f", "--input",
                             "[0.1, 0.2]", "--backend", "autograd", "--format", "json"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "called with shape (2,)" in result.stderr  # the user's own calls print as they would
    assert "(2, 3)" not in result.stderr and "batched call" not in result.stderr


def test_an_error_caused_by_rebinding_says_so_and_how_to_avoid_it(tmp_path):
    (tmp_path / "inplace.py").write_text(
        "import numpy as np\n\n\ndef f(x):\n    y = np.zeros(2)\n    y[0] = x[0] ** 2\n    y[1] = np.sin(x[1])\n"
        "    return y\n")
    result = invoke("run", f"{tmp_path / 'inplace.py'}:f", "--input", "[1.0, 2.0]", "--backend", "jax-rev",
                    "--format", "json")
    report = json.loads(result.stdout)
    (row,) = [b for b in report["backends"] if b["name"] == "jax-rev"]
    assert row["status"] == "not-applicable"  # adcheck's rebinding failed, not the user's derivative
    assert "does not run with numpy rebound to jax.numpy" in row["message"]
    assert "adcheck rebound it in this worker; write it for jax to check it there" in row["message"]
    assert f"{tmp_path / 'inplace.py'}:6" in row["message"]


@pytest.mark.parametrize("text", ['[[1, 2], {"a": 1}]', '{"$array": [1, {"a": 1}]}'])
def test_an_object_where_an_array_was_expected_points_to_the_pytree_syntax(tmp_path, text):
    (tmp_path / "plain.py").write_text("import numpy as np\n\n\ndef f(x):\n    return np.sin(x)\n")
    result = invoke("run", f"{tmp_path / 'plain.py'}:f", "--input", text)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "$list" in result.stderr or "write a nested list of numbers" in result.stderr


def test_a_lone_ad_backend_that_disagrees_is_not_said_to_disagree_with_others():
    result = invoke("run", f"{FIXTURES}/wrong_rules_autograd.py:exp_sum", "--input", "[0.1, 0.2]",
                    "--backend", "autograd", "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["consensus"] == "autograd, the only AD backend that ran, disagrees with finite differences"


def test_a_derivative_that_cancels_in_its_own_computation_is_never_a_disagreement():
    # autograd's derivative of 2 (sin(x/2)/x)**2 at 1e-5 is off by its own rounding (about 1e-5
    # relative); a nudge of a few ulps moves it as much, so it is inconclusive, with that evidence.
    result = invoke("run", f"{FIXTURES / 'own_noise.py'}:half_angle", "--input", "[1e-5, 1e-3, 0.5]",
                    "--backend", "autograd", "--format", "json")
    assert result.exit_code == 0, result.stdout
    (row,) = [b for b in json.loads(result.stdout)["backends"] if b["name"] == "autograd"]
    assert row["status"] in ("agree", "inconclusive")
    if row["status"] == "inconclusive":  # where this machine's rounding makes the difference visible
        assert "own derivative carries rounding noise" in row["message"]
        assert all("moves by up to" in entry["evidence"] for entry in row["inconclusive"])


def test_a_rule_that_changes_between_calls_is_no_rounding_noise():
    # Its Jacobian moves under every nudge, but it is not the same at the same input twice: the
    # moves are state, not rounding, and the disagreement stands.
    result = invoke("run", f"{FIXTURES / 'own_noise.py'}:drifting_sin", "--input", "[0.3, 1.2]",
                    "--backend", "autograd", "--format", "json")
    assert result.exit_code == 1, result.stdout
    (row,) = [b for b in json.loads(result.stdout)["backends"] if b["name"] == "autograd"]
    assert row["status"] == "disagree"


def test_a_rebound_backend_that_differs_from_the_one_the_code_is_written_for_is_not_applicable():
    # autograd code: autograd (what it is written for) agrees, JAX's std gives NaN at zero variance
    # under the rebinding. That is the rebinding's difference, not the user's derivative.
    result = invoke("run", f"{FIXTURES / 'rebinding_differs.py'}:spread_of_first", "--input", "[0.5, 1.5]",
                    "--format", "json", "--backend", "autograd", "--backend", "jax-rev")
    assert result.exit_code == 0, result.stdout
    rows = {b["name"]: b for b in json.loads(result.stdout)["backends"]}
    assert rows["autograd"]["status"] == "agree"
    assert rows["jax-rev"]["status"] == "not-applicable"
    assert "which this code is written for, agrees with the reference" in rows["jax-rev"]["message"]
    # The row says where the NaN is; no finding of severity error accuses the set-aside backend.
    findings = json.loads(result.stdout)["findings"]
    assert not [f for f in findings if f["code"] == "ADC604"], findings
    # Written for plain numpy, every AD backend is rebound: JAX's NaN is a disagreement.
    numpy_code = invoke("run", f"{FIXTURES / 'rebinding_differs_numpy.py'}:spread_of_first", "--input",
                        "[0.5, 1.5]", "--format", "json", "--backend", "autograd", "--backend", "jax-rev")
    assert numpy_code.exit_code == 1, numpy_code.stdout
    assert {b["name"]: b["status"] for b in json.loads(numpy_code.stdout)["backends"]}["jax-rev"] == "disagree"


def test_rebound_code_that_is_another_function_near_the_input_is_not_applicable_not_wrong():
    # Same value at the symmetric input, another function a step away: the JAX rows say so and do
    # not fail the run; autograd, whose eigh reads the same triangle as numpy's, agrees.
    result = invoke("run", f"{FIXTURES / 'rebinding_elsewhere.py'}:smallest_eigenvalue", "--input",
                    json.dumps([[2.0, 0.5, 0.1], [0.5, 1.0, 0.2], [0.1, 0.2, 3.0]]), "--format", "json")
    assert result.exit_code == 0, result.stdout
    rows = {b["name"]: b for b in json.loads(result.stdout)["backends"]}
    assert rows["autograd"]["status"] == "agree"
    for name in ("jax-fwd", "jax-rev"):
        assert rows[name]["status"] == "not-applicable"
        assert "computes another function: the same value at the input, but not near it" in rows[name]["message"]


@pytest.mark.parametrize("function, wrong_entry", [("exp_each", "diagonal"), ("sin_each", "off the diagonal")])
def test_a_wrong_rule_in_a_sparse_jacobian_is_caught_where_the_reference_groups_its_columns(function, wrong_entry):
    # 100 elementwise inputs: the reference finds the diagonal structure and differences one group
    # of columns; a rule wrong on the diagonal, or leaking into entries the structure says are
    # zero, still fails, at the right entry.
    result = invoke("run", f"{FIXTURES}/wrong_rules_autograd.py:{function}", "--random", "100",
                    "--backend", "autograd", "--format", "json")
    assert result.exit_code == 1, result.stdout
    (row,) = [b for b in json.loads(result.stdout)["backends"] if b["name"] == "autograd"]
    assert row["status"] == "disagree"
    row_index, column = row["worst_entry"]
    assert (row_index == column) == (wrong_entry == "diagonal"), row["worst_entry"]
