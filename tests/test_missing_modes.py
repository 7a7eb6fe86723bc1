"""A mode the framework lacks for a construct is not-applicable, with the framework's sentence and
the user's line; every other failure stays an error (backends/missing_modes.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adcheck.backends.missing_modes import MISSING_MODES, missing_mode
from conftest import FIXTURES, invoke

# One exception per table entry, worded as the framework words it (the entry's source comment
# says where), with the backend that can meet it.
FRAMEWORK_SENTENCES = [
    ("jax-rev", ValueError("Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with "
                           "dynamic start/stop values. Try using lax.scan, or using fori_loop with static start/stop.")),
    ("jax-fwd", TypeError("can't apply forward-mode autodiff (jvp) to a custom_vjp function.")),
    ("jax-rev", NotImplementedError("Transpose rule (for reverse-mode differentiation) for 'my_prim' not implemented")),
    ("jax-fwd", NotImplementedError("Differentiation rule for 'my_prim' not implemented")),
    ("jax-fwd", ValueError("Pure callbacks do not support JVP. Please use `jax.custom_jvp` to use callbacks while "
                           "taking gradients.")),
    ("jax-rev", ValueError("IO callbacks do not support JVP.")),
    ("torch-fwd", NotImplementedError("You must implement the jvp function for custom autograd.Function to use it "
                                      "with forward mode AD.")),
    ("torch-rev", NotImplementedError("You must implement either the backward or vjp method for your custom "
                                      "autograd.Function to use it with backward mode AD.")),
    ("torch-fwd", NotImplementedError("Trying to use forward AD with igamma that does not support it because it "
                                      "has not been implemented yet.")),
    ("torch-rev", NotImplementedError("the derivative for 'igamma: input' is not implemented.")),
    ("torch-fwd", RuntimeError("In order to use an autograd.Function with functorch transforms (vmap, grad, jvp, "
                               "jacrev, ...), it must override the setup_context staticmethod.")),
    ("torch-rev", RuntimeError("You tried to vmap over MyFn, but it does not have vmap support. Please override "
                               "and implement the vmap staticmethod or set generate_vmap_rule=True.")),
    ("torch-fwd", NotImplementedError("To use autograd.Function with vmap, you must either override the vmap "
                                      "staticmethod or set generate_vmap_rule=True.")),
    ("autograd", NotImplementedError("VJP of doubled wrt argnums (0,) not defined")),
    ("autograd", NotImplementedError("Gradient of norm not implemented for ord=3")),
]


def test_every_table_entry_has_a_framework_sentence_here():
    matched = {missing_mode(exc, backend) for backend, exc in FRAMEWORK_SENTENCES}
    assert matched == set(MISSING_MODES)


@pytest.mark.parametrize(("backend", "exc"), FRAMEWORK_SENTENCES)
def test_the_framework_sentence_is_a_missing_mode(backend, exc):
    assert missing_mode(exc, backend) is not None


def test_the_other_mode_of_the_same_framework_is_still_an_error():
    while_loop = FRAMEWORK_SENTENCES[0][1]
    custom_vjp = FRAMEWORK_SENTENCES[1][1]
    assert missing_mode(while_loop, "jax-fwd") is None  # forward mode through while_loop exists
    assert missing_mode(custom_vjp, "jax-rev") is None
    assert missing_mode(while_loop, "torch-rev") is None  # another framework's sentence
    assert missing_mode(while_loop, "fd") is None


def test_the_users_own_exceptions_are_errors():
    assert missing_mode(NotImplementedError("the solver is not implemented for n > 3"), "jax-rev") is None
    assert missing_mode(KeyError("Reverse-mode differentiation does not work for lax.while_loop"), "jax-rev") is None


def run_json(target: str, *args: str, point: str = "[0.5, 1.0, 2.0]"):
    result = invoke("run", f"{FIXTURES}/{target}", "--input", point, "--no-timings", "--format", "json", *args)
    return result, json.loads(result.stdout)


def rows(report) -> dict:
    return {b["name"]: b for b in report["backends"]}


@pytest.mark.parametrize(("function", "line"), [("rk4", "lax.while_loop(more, step"),
                                                 ("babylonian_sqrt", "lax.while_loop(far, improve")])
def test_while_loop_is_checked_forward_and_not_applicable_in_reverse(function, line):
    result, report = run_json(f"missing_modes.py:{function}", "--backend", "jax-fwd", "--backend", "jax-rev")
    assert result.exit_code == 0, result.stdout
    jax_rev, jax_fwd = rows(report)["jax-rev"], rows(report)["jax-fwd"]
    assert jax_fwd["status"] == "agree"
    assert jax_rev["status"] == "not-applicable"
    assert jax_rev["message"].startswith("JAX has no reverse-mode derivative of lax.while_loop")
    assert "ValueError: Reverse-mode differentiation does not work for lax.while_loop" in jax_rev["message"]
    path, _, number = jax_rev["location"].rpartition(":")
    assert Path(path).resolve() == FIXTURES / "missing_modes.py"
    assert line in (FIXTURES / "missing_modes.py").read_text().splitlines()[int(number) - 1]


def test_wrong_rule_inside_a_while_loop_fails_on_forward_mode_and_names_the_rule():
    result = invoke("run", f"{FIXTURES}/missing_modes.py:rk4_wrong_rule", "--input", "[0.5, 1.0, 2.0]",
                    "--backend", "jax-fwd", "--backend", "jax-rev", "--no-timings")
    assert result.exit_code == 1, result.stdout
    assert "jax-rev    not-applicable" in result.stdout
    causes = result.stdout.split("Likely causes:")[1].split("\n\n")[0]
    assert "ADC501 the derivative rule of soft_sin (your custom_jvp, soft_sin_jvp at" in causes


def test_custom_vjp_forward_mode_is_not_applicable_with_its_line():
    result, report = run_json("wrong_rules.py:sin_sum", "--backend", "jax-fwd", "--backend", "jax-rev")
    jax_fwd = rows(report)["jax-fwd"]
    assert jax_fwd["status"] == "not-applicable"
    assert jax_fwd["message"].startswith("JAX has no forward-mode derivative of a jax.custom_vjp function")
    assert jax_fwd["location"].endswith("wrong_rules.py:24")


def test_traced_fori_loop_bound_under_jit_is_a_not_applicable_context():
    result, report = run_json("missing_modes.py:fori_traced_bound", "--backend", "jax-rev", "--contexts", "eager,jit")
    assert result.exit_code == 0, result.stdout
    assert rows(report)["jax-rev"]["status"] == "agree"  # eagerly the bound is a number: a scan
    assert any(note.startswith("--contexts: the jax-rev derivative under jit not computed: JAX has no "
                               "reverse-mode derivative of lax.while_loop") for note in report["notes"])


def test_torch_operator_without_derivative_is_not_applicable_in_both_modes():
    result, report = run_json("missing_modes_other.py:gammainc_in_shape", "--backend", "torch-fwd",
                              "--backend", "torch-rev", point="[1.5, 2.0]")
    assert "Traceback" not in result.stderr
    torch_fwd, torch_rev = rows(report)["torch-fwd"], rows(report)["torch-rev"]
    assert (torch_fwd["status"], torch_rev["status"]) == ("not-applicable", "not-applicable")
    assert "Trying to use forward AD with igamma" in torch_fwd["message"]
    assert "the derivative for 'igamma: input' is not implemented" in torch_rev["message"]


def test_autograd_primitive_without_vjp_is_not_applicable_and_jax_still_checks():
    result, report = run_json("missing_modes_other.py:sin_of_doubled", "--backend", "autograd",
                              "--backend", "jax-fwd")
    assert result.exit_code == 0, result.stdout
    assert rows(report)["autograd"]["status"] == "not-applicable"
    assert "VJP of doubled wrt argnums (0,) not defined" in rows(report)["autograd"]["message"]
    assert rows(report)["jax-fwd"]["status"] == "agree"
