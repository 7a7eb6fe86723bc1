"""The static rules: codes and line numbers, pyflakes style (never the wording).

Each fixture under tests/lint_fixtures/ marks its expected findings with ``expect: CODE ...`` on the
line, and near misses that must not be reported with ``ok: CODE ...``; a line without ``expect``
must have no finding at all. Every static rule has at least one of each.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adcheck.lint import RULES, Stage, lint_file

FIXTURES = Path(__file__).parent / "lint_fixtures"
CHECKERS = Path(__file__).resolve().parents[1] / "adcheck" / "lint" / "checkers"
_EXPECT = re.compile(r"\bexpect: ((?:ADC\d{3}\s*)+)")
_OK = re.compile(r"\bok: ((?:ADC\d{3}\s*)+)")
LINT_CODES = {code for code, rule in RULES.items() if Stage.LINT in rule.found_by}


def markers(path: Path, pattern: re.Pattern) -> list[tuple[int, str]]:
    found = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = pattern.search(line)
        if match:
            found += [(number, code) for code in match.group(1).split()]
    return sorted(found)


def found(path: Path, function: str | None = None) -> list[tuple[int, str]]:
    return sorted((f.line, f.code) for f in lint_file(path, function))


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.py"))


@pytest.mark.parametrize("name", [p.name for p in fixtures()])
def test_fixture_findings_match_expect_markers(name):
    path = FIXTURES / name
    assert found(path) == markers(path, _EXPECT)


@pytest.mark.parametrize("name", [p.name for p in fixtures()])
def test_ok_markers_are_near_misses_not_expected_findings(name):
    path = FIXTURES / name
    assert not set(markers(path, _OK)) & set(markers(path, _EXPECT))
    assert {code for _, code in markers(path, _OK)} <= LINT_CODES


def test_every_lint_rule_has_a_positive_fixture():
    covered = {code for path in fixtures() for _, code in markers(path, _EXPECT)}
    assert covered == LINT_CODES


def test_every_lint_rule_has_a_negative_fixture():
    covered = {code for path in fixtures() for _, code in markers(path, _OK)}
    assert covered == LINT_CODES


def test_each_family_raises_only_its_own_codes():
    families = {"state.py": "ADC1", "trace.py": "ADC2", "smoothness.py": "ADC3", "purity.py": "ADC4",
                "custom_rules.py": "ADC5"}
    homes: dict[str, str] = {}
    for name, prefix in families.items():
        codes = set(re.findall(r'"(ADC\d{3})"', (CHECKERS / name).read_text()))
        assert codes, name
        assert all(code.startswith(prefix) for code in codes), (name, codes)
        for code in codes:
            assert homes.setdefault(code, name) == name, f"{code} is raised from {homes[code]} and {name}"
    for other in ("base.py", "__init__.py"):
        assert not re.findall(r'"(ADC\d{3})"', (CHECKERS / other).read_text())
    assert set(homes) == LINT_CODES


def test_a_family_refuses_another_familys_code():
    import ast

    from adcheck.lint.checkers import StateChecker
    from adcheck.lint.dataflow import Scope
    from adcheck.lint.facts import ModuleFacts

    tree = ast.parse("def f(x):\n    return x\n")
    scope = Scope(ModuleFacts(tree), tree.body[0], {}, None, True)
    checker = StateChecker(scope, False, lambda *args: None, None)
    with pytest.raises(ValueError, match="ADC1xx"):
        checker.report("ADC301", tree.body[0], "not mine")


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


def test_setattr_is_an_attribute_write_on_what_it_is_given():
    path = FIXTURES / "mutation.py"
    assert found(path, "setattr_on_global") == [(line_of(path, 'setattr(BOX, "value", x)'), "ADC101")]
    assert found(path, "setattr_on_argument") == [(line_of(path, 'setattr(box, "value", x)  # expect'), "ADC105")]
    assert found(path, "setattr_on_fresh_object") == []


def test_torch_in_place_methods_on_an_argument_are_array_writes_and_mutations():
    path = FIXTURES / "mutation_torch.py"
    line = line_of(path, "x.add_(1.0)")
    assert found(path, "adds_in_place") == [(line, "ADC104"), (line, "ADC105")]
    assert found(path, "in_place_on_a_copy") == []


def test_jit_through_assignment_reaches_the_wrapped_function():
    path = FIXTURES / "impurity.py"
    assert found(path, "jitted_counter") == [(line_of(path, "return x * COUNTER"), "ADC403")]
    assert found(path, "reads_counter") == []
    assert found(path, "not_jitted") == []


def test_environment_reads_through_os_and_from_os_import():
    path = FIXTURES / "impurity.py"
    assert found(path, "environment_reads") == [(line_of(path, 'os.environ["SCALE"]'), "ADC404"),
                                                (line_of(path, 'environ.get("OFFSET"'), "ADC404")]


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
    for path in fixtures():
        for finding in lint_file(path):
            if finding.code != "ADC501":
                assert finding.explains == ()


def test_plain_numpy_module_next_to_jax_grad_is_numpy_code(tmp_path):
    # Importing jax only for jax.grad does not make np.* calls "real numpy in JAX code".
    path = tmp_path / "m.py"
    path.write_text("import jax\nimport numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x))\n")
    assert found(path) == []


def test_jax_functional_update_is_not_a_write(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("import jax.numpy as jnp\n\n\ndef f(x):\n    return x.at[0].set(1.0).at[1].add(x[0])\n")
    assert found(path) == []


def test_a_nested_function_is_checked_in_each_context_of_its_enclosing_call(tmp_path):
    # inner() appends to what outer() was given: an argument when outer is the entry point, the
    # module global SEEN when b() calls it, a fresh list when a() does.
    path = tmp_path / "m.py"
    path.write_text("SEEN = []\n\n\ndef outer(items):\n    def inner(v):\n        items.append(v)\n\n"
                    "    inner(1.0)\n    return 0\n\n\ndef a(x):\n    return outer([])\n\n\n"
                    "def b(x):\n    return outer(SEEN)\n")
    assert found(path, "a") == []
    assert found(path, "b") == [(6, "ADC103")]
    assert found(path, "outer") == [(6, "ADC105")]
    assert found(path) == [(6, "ADC103"), (6, "ADC105")]
