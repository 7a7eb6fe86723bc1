"""The static lint: codes and line numbers, pyflakes style (never the wording).

Each fixture under tests/lint_fixtures/ marks its expected findings with ``expect: CODE ...`` at the
end of the line; a line without a marker must have no finding. So every fixture is at once the
positive and the negative test of the rules it exercises.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from adcheck.errors import TargetError
from adcheck.explain.rules import AUTOGRAD_NO_VJP, RULES, Rule, lint_file, lint_paths

FIXTURES = Path(__file__).parent / "lint_fixtures"
_EXPECT = re.compile(r"expect: ([A-Z0-9 ]+)$")


def expected_findings(path: Path) -> list[tuple[int, str]]:
    expected = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _EXPECT.search(line)
        if match:
            expected += [(number, code) for code in match.group(1).split()]
    return sorted(expected)


def found(path: Path, function: str | None = None) -> list[tuple[int, str]]:
    return sorted((f.line, f.code) for f in lint_file(path, function))


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.py")))
def test_fixture_findings_match_expect_markers(name):
    path = FIXTURES / name
    assert found(path) == expected_findings(path)


def test_every_rule_has_a_positive_fixture():
    covered = {code for path in FIXTURES.glob("*.py") for _, code in expected_findings(path)}
    assert covered == set(RULES)


def test_rules_are_ordered_frozen_and_documented():
    assert list(RULES) == sorted(RULES)
    for code, rule in RULES.items():
        assert isinstance(rule, Rule) and rule.code == code
        assert rule.severity in ("error", "warning", "info")
        for text in (rule.name, rule.summary, rule.what_it_does, rule.why_bad, rule.example, rule.use_instead):
            assert text.strip()
        ast.parse(rule.example)
        ast.parse(rule.use_instead)
    assert RULES["ADC301"].severity == "info"
    assert RULES["ADC501"].severity == "warning"
    assert {RULES[c].severity for c in ("ADC101", "ADC102", "ADC103", "ADC302")} == {"error"}


def test_clean_numerical_code_has_no_warning_or_error():
    findings = lint_file(FIXTURES / "clean.py")
    assert [f.format() for f in findings if f.severity != "info"] == []


def test_cumprod_accumulator_created_in_the_call_is_fine():
    assert found(FIXTURES / "cumprod.py", "ac_cumprod") == []
    assert found(FIXTURES / "cumprod.py", "loop_cumprod") == []


def test_cumprod_shared_accumulator_is_flagged_on_the_write():
    path = FIXTURES / "cumprod.py"
    assert found(path, "shared_cumprod") == [(line_of(path, "self.a *= arg"), "ADC101")]
    assert found(path, "ACC") == [(line_of(path, "self.a *= arg"), "ADC101")]


def test_function_restricts_to_reachable_code():
    path = FIXTURES / "interprocedural.py"
    assert found(path, "pure") == []
    assert found(path, "uses_helper") == [(line_of(path, "np.random.randn"), "ADC401")]
    # record() appends to a fresh tracker (fine) and to the module-level HISTORY (not fine).
    assert found(path, "uses_tracker") == [(line_of(path, "HISTORY.append"), "ADC103")]
    # fill() writes into a buffer created by the caller: an array write, not an argument mutation.
    assert found(path, "uses_fill") == [(line_of(path, "out[0] = v"), "ADC104")]
    assert found(path, "mutates_through_helper") == [(line_of(path, "out[0] = v"), "ADC104"),
                                                     (line_of(path, "out[0] = v"), "ADC105")]


def test_method_and_instance_targets():
    path = FIXTURES / "mutation.py"
    assert found(path, "Box") == []
    assert found(path, "writes_fresh_attribute") == []
    assert found(path, "writes_global_attribute") == [(line_of(path, "BOX.value = x"), "ADC101")]


def test_jit_through_assignment_reaches_the_wrapped_function():
    path = FIXTURES / "impurity.py"
    assert found(path, "jitted_counter") == [(line_of(path, "return x * COUNTER"), "ADC403")]
    assert found(path, "reads_counter") == []
    assert found(path, "not_jitted") == []


def test_custom_rules_are_reported_where_used_with_their_backends():
    jax_path = FIXTURES / "rules_jax.py"
    findings = lint_file(jax_path, "uses_sin")
    assert [(f.line, f.code, f.explains) for f in findings] == [
        (line_of(jax_path, "@jax.custom_vjp"), "ADC501", ("jax-rev",)),
        (line_of(jax_path, "my_sin.defvjp("), "ADC501", ("jax-rev",)),
    ]
    assert "jax-rev" in findings[0].message
    findings = lint_file(jax_path, "uses_exp")
    assert {f.explains for f in findings} == {("jax-fwd", "jax-rev")}
    assert [f.line for f in findings] == [line_of(jax_path, "@jax.custom_jvp"), line_of(jax_path, "@my_exp.defjvp")]
    assert found(jax_path, "plain") == []

    autograd_path = FIXTURES / "rules_autograd.py"
    assert [(f.line, f.explains) for f in lint_file(autograd_path, "exp_sum")] == [
        (line_of(autograd_path, "def my_exp") - 1, ("autograd",)),
        (line_of(autograd_path, "defvjp(my_exp"), ("autograd",)),
    ]
    by_line = {f.line: f.explains for f in lint_file(autograd_path)}
    assert by_line[line_of(autograd_path, "defjvp(my_cube")] == ()
    assert by_line[line_of(autograd_path, "def my_cube") - 1] == ()

    torch_path = FIXTURES / "rules_torch.py"
    findings = lint_file(torch_path, "square_sum")
    assert [(f.line, f.explains) for f in findings] == [
        (line_of(torch_path, "class Square"), ("torch-rev",)),
        (line_of(torch_path, "def backward"), ("torch-rev",)),
    ]
    by_line = {f.line: f.explains for f in lint_file(torch_path)}
    assert set(by_line[line_of(torch_path, "class Cube")]) == {"torch-rev", "torch-fwd"}


def test_only_rule_findings_explain_backends():
    for path in FIXTURES.glob("*.py"):
        for finding in lint_file(path):
            if finding.code != "ADC501":
                assert finding.explains == ()


def test_findings_are_sorted_with_path_as_given_and_columns_from_one(tmp_path):
    source = "SEEN = []\n\n\ndef f(x):\n    SEEN.append(x)\n    return abs(x)\n"
    path = tmp_path / "f.py"
    path.write_text(source)
    findings = lint_file(path)
    assert [(f.line, f.col, f.code) for f in findings] == [(5, 5, "ADC103"), (6, 12, "ADC301")]
    assert all(f.path == str(path) for f in findings)
    assert findings[0].format() .startswith(f"{path}:5:5: ADC103 ")


def test_lint_paths_takes_file_and_file_colon_function():
    path = FIXTURES / "cumprod.py"
    assert [(f.line, f.code) for f in lint_paths([f"{path}:ac_cumprod"])] == []
    assert [(f.line, f.code) for f in lint_paths([str(path)])] == [(line_of(path, "self.a *= arg"), "ADC101")]


def test_lint_paths_missing_file_is_a_target_error(tmp_path):
    with pytest.raises(TargetError, match="no such file"):
        lint_paths([str(tmp_path / "nope.py")])


def test_lint_paths_syntax_error_is_a_target_error(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("def f(x:\n    return x\n")
    with pytest.raises(TargetError, match="syntax error"):
        lint_paths([f"{path}:f"])


def test_unknown_function_is_a_target_error():
    with pytest.raises(TargetError, match="no_such"):
        lint_file(FIXTURES / "cumprod.py", "no_such")


def test_plain_numpy_module_next_to_jax_grad_is_numpy_code(tmp_path):
    # Importing jax only for jax.grad does not make np.* calls "real numpy in JAX code".
    path = tmp_path / "m.py"
    path.write_text("import jax\nimport numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x))\n")
    assert found(path) == []


def test_jax_functional_update_is_not_a_write(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import jax.numpy as jnp\n\n\ndef f(x):\n    return x.at[0].set(1.0).at[1].add(x[0])\n")
    assert found(path) == []


def test_autograd_no_vjp_list_matches_installed_autograd():
    import autograd.numpy as autograd_numpy
    from autograd.core import primitive_vjps
    from autograd.tracer import notrace_primitives

    nondifferentiable = set().union(*notrace_primitives.values())
    for name in AUTOGRAD_NO_VJP:
        obj = autograd_numpy
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            continue  # not in this numpy version
        assert obj not in primitive_vjps and obj not in nondifferentiable, name
