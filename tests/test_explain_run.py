"""End to end: ``adcheck run`` on fixtures whose disagreement has a cause the report must name."""

from __future__ import annotations


from conftest import FIXTURES, invoke


def run(target: str, *args: str):
    return invoke("run", f"{FIXTURES}/{target}", "--no-timings", *args)


def test_shared_accumulator_report_names_the_changed_attribute():
    result = run("stateful.py:shared_cumprod", "--input", "[1,2,3]", "--backend", "autograd")
    assert "stateful.py:15:1: ADC603 state changed by one call: Accu instance ACC: attribute a changed 1.0 -> 6.0" \
        in result.stdout
    assert "ADC601" in result.stdout


def test_shared_accumulator_fails():
    result = run("stateful.py:shared_cumprod", "--input", "[1,2,3]", "--backend", "autograd")
    assert result.exit_code == 1


def test_where_nan_trap_fails_and_names_the_nan():
    # jax-rev only: jax-fwd is not fooled by the trap (the tangent of the unused branch is dropped).
    result = run("nan_where.py:safe_sqrt", "--input", "[-1.0, 4.0]", "--backend", "jax-rev")
    assert result.exit_code == 1
    assert "ADC604 jax-rev:" in result.stdout


def test_where_nan_trap_names_the_where_line():
    result = run("nan_where.py:safe_sqrt", "--input", "[-1.0, 4.0]", "--backend", "jax-rev")
    assert "nan_where.py:7:" in result.stdout and "ADC302" in result.stdout


def test_wrong_custom_vjp_fails_on_jax_rev_only():
    result = run("wrong_rules.py:sin_sum", "--input", "[0.5, 1.0]", "--backend", "jax-fwd", "--backend", "jax-rev")
    assert result.exit_code == 1
    assert "jax-fwd    not-applicable" in result.stdout  # custom_vjp has no forward mode
    assert "FAIL: jax-rev" in result.stdout


def test_wrong_custom_vjp_names_the_rule():
    # The per-primitive check names the rule; its static "has a custom rule" findings then link to
    # no row (they would say the same less precisely). Without the check they are the cause.
    result = run("wrong_rules.py:sin_sum", "--input", "[0.5, 1.0]", "--backend", "jax-rev")
    causes = result.stdout.split("Likely causes:")[1].split("\n\n")[0]
    assert "ADC501 the derivative rule of" in causes and "is wrong at the inputs it gets here" in causes
    assert "which uses this rule, disagrees" not in causes
    static = run("wrong_rules.py:sin_sum", "--input", "[0.5, 1.0]", "--backend", "jax-rev", "--no-blame")
    assert "only jax-rev, which uses this rule, disagrees" in static.stdout


def test_wrong_autograd_rule_fails_on_autograd_only():
    result = run("wrong_rules_autograd.py:exp_sum", "--input", "[0.5, 1.0]", "--backend", "autograd",
                 "--backend", "jax-rev")
    assert result.exit_code == 1
    assert "FAIL: autograd" in result.stdout


def test_wrong_autograd_rule_names_the_rule():
    result = run("wrong_rules_autograd.py:exp_sum", "--input", "[0.5, 1.0]", "--backend", "autograd",
                 "--backend", "jax-rev")
    causes = result.stdout.split("Likely causes:")[1].split("\n\n")[0]
    assert "ADC501 the derivative rule of my_exp (your defvjp at" in causes
    assert causes.count("ADC501") == 1
    # The static "has a rule of its own" notices are info: the table does not list them as findings.
    assert "registers a derivative rule for `my_exp`" not in result.stdout
    static = run("wrong_rules_autograd.py:exp_sum", "--input", "[0.5, 1.0]", "--backend", "autograd",
                 "--backend", "jax-rev", "--no-blame")
    assert "only autograd, which uses this rule, disagrees" in static.stdout


def test_a_function_the_lint_cannot_see_still_gets_its_report():
    # The target names a re-export: the lint finds no `def` for it in __init__.py, which must
    # not cost the user the comparison the backends already made.
    result = run("reexport/__init__.py:smooth_step", "--input", "[0.25, 0.5]", "--backend", "autograd")
    assert result.exit_code == 0, result.stderr
    assert "PASS: autograd agrees with finite differences" in result.stdout
