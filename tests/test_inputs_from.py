"""``--inputs-from file.py:func`` in ``adcheck run`` and ``inputs-from`` in a configured case."""

from __future__ import annotations

import textwrap

from conftest import FIXTURES, invoke

FILE = FIXTURES / "inputs_from.py"


def test_run_takes_a_pytree_of_arguments_from_a_function():
    result = invoke("run", f"{FILE}:loss", "--inputs-from", f"{FILE}:make_inputs", "--backend", "autograd",
                    "--no-timings")
    assert result.exit_code == 0, result.stderr
    assert 'inputs: params["w"] 3x2 + params["b"] 2 + x 4x3 (20 values)' in result.stdout
    assert "autograd   agree" in result.stdout


def test_a_returned_value_that_is_not_a_tuple_is_the_one_argument():
    result = invoke("run", f"{FILE}:square_sum", "--inputs-from", f"{FILE}:one_array", "--backend", "autograd")
    assert result.exit_code == 0, result.stderr
    assert "inputs: x 3 (3 values)" in result.stdout


def test_a_failing_inputs_function_is_one_line_and_exit_2(monkeypatch):
    monkeypatch.chdir(FIXTURES.parent)
    result = invoke("run", f"{FILE}:loss", "--inputs-from", f"{FILE}:failing")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"adcheck: error: --inputs-from {FILE}:failing: ValueError: no data here at fixtures/inputs_from.py:24"]


def test_inputs_that_are_not_arrays_are_refused():
    result = invoke("run", f"{FILE}:loss", "--inputs-from", f"{FILE}:strings")
    assert result.exit_code == 2
    assert "argument 0: expected an array or a number, got a str" in result.stderr


def test_inputs_from_with_input_is_a_usage_error():
    result = invoke("run", f"{FILE}:square_sum", "--inputs-from", f"{FILE}:one_array", "--input", "[1, 2]")
    assert result.exit_code == 2
    assert "use one of --input, --random and --inputs-from" in result.stderr


def test_a_configured_case_takes_inputs_from_a_function(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(FILE.read_text())
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [[tool.adcheck.case]]
        target = "model.py:loss"
        inputs-from = "model.py:make_inputs"
        backends = ["autograd"]
    """))
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "--no-timings", "-q")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "1 case: 1 passed, 0 failed" in result.stdout


def test_a_misspelt_function_in_a_case_gets_a_suggestion(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(FILE.read_text())
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [[tool.adcheck.case]]
        target = "model.py:los"
        inputs-from = "model.py:make_input"
    """))
    monkeypatch.chdir(tmp_path)
    result = invoke("check")
    assert result.exit_code == 2
    assert "model.py defines no 'los'; did you mean 'loss'?" in result.stderr
