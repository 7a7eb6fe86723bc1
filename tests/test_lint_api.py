"""The lint's public API: lint_file, lint_paths (what `adcheck lint` calls) and lint_tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import adcheck.lint
from adcheck.errors import TargetError
from adcheck.lint import lint_file, lint_paths, lint_tree
from adcheck.model import Finding

FIXTURES = Path(__file__).parent / "lint_fixtures"
SOURCE = "SEEN = []\n\n\ndef f(x):\n    SEEN.append(x)\n    return abs(x)\n"


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if text in line)


def test_findings_are_sorted_with_path_as_given_and_columns_from_one(tmp_path):
    path = tmp_path / "f.py"
    path.write_text(SOURCE)
    findings = lint_file(path)
    assert [(f.line, f.col, f.code) for f in findings] == [(5, 5, "ADC103"), (6, 12, "ADC301")]
    assert all(isinstance(f, Finding) and f.path == str(path) for f in findings)
    assert findings[0].format().startswith(f"{path}:5:5: ADC103 ")


def test_findings_take_their_severity_from_the_catalog():
    for path in FIXTURES.glob("*.py"):
        for finding in lint_file(path):
            assert finding.severity == adcheck.lint.RULES[finding.code].severity


def test_lint_tree_lints_an_already_parsed_module_without_reading_the_file():
    tree = ast.parse(SOURCE)
    findings = lint_tree(tree, SOURCE, "never/read.py")
    assert [(f.path, f.line, f.col, f.code) for f in findings] == [
        ("never/read.py", 5, 5, "ADC103"), ("never/read.py", 6, 12, "ADC301")]
    assert lint_tree(tree, SOURCE, "never/read.py", "f") == findings


def test_lint_tree_takes_noqa_from_the_source_it_is_given():
    source = SOURCE.replace("SEEN.append(x)", "SEEN.append(x)  # noqa: ADC103")
    assert [f.code for f in lint_tree(ast.parse(source), source, "m.py")] == ["ADC301"]


def test_lint_tree_and_lint_file_agree_on_every_fixture():
    for path in sorted(FIXTURES.glob("*.py")):
        source = path.read_text()
        assert lint_tree(ast.parse(source), source, str(path)) == lint_file(path), path.name


def test_lint_tree_unknown_function_is_a_target_error():
    with pytest.raises(TargetError, match="no_such"):
        lint_tree(ast.parse(SOURCE), SOURCE, "m.py", "no_such")


def test_lint_paths_takes_file_and_file_colon_function():
    path = FIXTURES / "cumprod.py"
    assert [(f.line, f.code) for f in lint_paths([f"{path}:ac_cumprod"])] == []
    assert [(f.line, f.code) for f in lint_paths([str(path)])] == [(line_of(path, "self.a *= arg"), "ADC101")]


def test_lint_paths_takes_class_dot_method_and_keeps_files_in_order():
    # Accu.__call__ as the entry point: its `self` is the caller's argument, so `self.a *= arg`
    # mutates an argument (ADC105); through the module-level instance ACC it is ADC101.
    mutation, cumprod = FIXTURES / "mutation.py", FIXTURES / "cumprod.py"
    findings = lint_paths([f"{cumprod}:Accu.__call__", f"{mutation}:writes_global_attribute", f"{cumprod}:ACC"])
    assert [(f.path, f.code) for f in findings] == [
        (str(cumprod), "ADC105"), (str(mutation), "ADC101"), (str(cumprod), "ADC101")]


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


def test_undecodable_file_is_a_target_error(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes(b"x = '\xe9'\n")
    with pytest.raises(TargetError, match="cannot read"):
        lint_file(path)


def test_a_jitted_torch_function_apply_does_not_crash_the_whole_file_lint(tmp_path):
    # `g = jax.jit(F.apply)` once made the whole-file lint look F up among the functions: KeyError.
    path = tmp_path / "m.py"
    path.write_text("import jax\nimport torch\n\n\nclass Square(torch.autograd.Function):\n"
                    "    @staticmethod\n    def forward(ctx, x):\n        return x**2\n\n"
                    "    @staticmethod\n    def backward(ctx, g):\n        return g\n\n\n"
                    "square = jax.jit(Square.apply)\n")
    assert [(f.line, f.code) for f in lint_file(path)] == [(5, "ADC501"), (11, "ADC501")]
    assert [(f.line, f.code) for f in lint_file(path, "square")] == [(5, "ADC501"), (11, "ADC501")]


def test_a_function_is_held_to_what_it_reaches_not_to_the_module_imports():
    # A plain-numpy function in a file that also has autograd code: adcheck runs it with numpy
    # rebound, so its numpy calls are traced; the same call reached from autograd code is not.
    path = FIXTURES / "trace_autograd.py"
    helper_line = line_of(path, "return onp.cos(x)")
    untraceable = [(f.line, f.code) for f in lint_file(path, "autograd_code_calling_the_helper") if f.code == "ADC204"]
    assert untraceable == [(helper_line, "ADC204")]
    assert [f for f in lint_file(path, "plain_helper") if f.code == "ADC204"] == []
    assert [f for f in lint_file(path, "plain_numpy_beside_autograd_code") if f.code == "ADC204"] == []


def test_the_framework_a_run_decided_overrides_the_lint_s_own_reading():
    from adcheck.model import Framework

    path = FIXTURES / "trace_autograd.py"
    source = path.read_text()
    tree = ast.parse(source)
    as_numpy = lint_tree(tree, source, str(path), "real_numpy", written_for=Framework.NUMPY)
    as_autograd = lint_tree(tree, source, str(path), "real_numpy", written_for=Framework.AUTOGRAD)
    assert "ADC204" not in [f.code for f in as_numpy]
    assert [f.code for f in as_autograd].count("ADC204") == 1
