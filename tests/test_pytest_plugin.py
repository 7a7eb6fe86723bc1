"""``pytest --adcheck`` and ``adcheck.testing.assert_jacobians_agree``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adcheck.testing import assert_jacobians_agree, target_of
from conftest import FIXTURES

SAMPLE = FIXTURES / "sample_project"


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=directory,
                          capture_output=True, text=True, check=False, timeout=300)


def test_pytest_adcheck_on_the_sample_project_reports_one_failed_one_passed():
    result = run_pytest(SAMPLE, "--adcheck", "-rf")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed" in result.stdout
    assert "FAILED pyproject.toml::funcs.py:bad" in result.stdout
    # The failure text is the adcheck table of that case.
    assert "autograd   disagree" in result.stdout
    assert "FAIL: autograd" in result.stdout


def test_pytest_without_the_flag_collects_no_cases():
    result = run_pytest(SAMPLE, "--collect-only", "-q")
    assert "funcs.py:good" not in result.stdout
    assert result.returncode == 5  # no tests collected


def test_pytest_adcheck_collects_decorated_functions(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.adcheck]\nbackends = [\"autograd\"]\n\n[tool.pytest.ini_options]\n")
    (tmp_path / "model.py").write_text(textwrap.dedent('''\
        import numpy as np
        import adcheck


        @adcheck.case(input=[0.1, 0.2])
        @adcheck.case(random=[3], seed=1)
        def smooth(x):
            return np.tanh(x)
    '''))
    result = run_pytest(tmp_path, "--adcheck", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = [line for line in result.stdout.splitlines() if line.startswith("model.py::")]
    assert sorted(collected) == ["model.py::smooth", "model.py::smooth[2]"]  # in any order (pytest-randomly)


def test_assert_jacobians_agree_passes_for_a_right_derivative():
    sys.path.insert(0, str(SAMPLE))
    try:
        import funcs
    finally:
        sys.path.remove(str(SAMPLE))
    assert_jacobians_agree(funcs.good, [0.5, 1.0], backends=["autograd"])
    with pytest.raises(AssertionError) as info:
        assert_jacobians_agree(funcs.softplus, [0.5, 1.0], backends=["autograd"])
    text = str(info.value)
    assert f"adcheck run {SAMPLE / 'funcs.py'}:softplus" in text
    assert text.rstrip().endswith("FAIL: autograd")


def test_target_of_names_file_and_qualname():
    assert target_of(target_of) == f"{Path(__file__).parents[1] / 'adcheck' / 'given.py'}:module_level_target"

    def nested(x):
        return x

    with pytest.raises(TypeError, match="module level"):
        target_of(nested)
    with pytest.raises(TypeError, match="module level"):
        target_of(lambda x: x)


def test_assert_jacobians_agree_rejects_unknown_options():
    with pytest.raises(TypeError, match="unknown option"):
        assert_jacobians_agree(target_of, 1.0, tolerance=1e-3)


def test_pytest_adcheck_adds_the_cases_when_testpaths_leave_the_pyproject_out(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (tmp_path / "funcs.py").write_text("import numpy as np\n\n\ndef good(x):\n    return np.sin(x)\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''\
        [tool.adcheck]
        [[tool.adcheck.case]]
        target = "funcs.py:good"
        input = [0.5]

        [tool.pytest.ini_options]
        testpaths = ["tests"]
    '''))
    result = run_pytest(tmp_path, "--adcheck", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tests/test_a.py::test_a\npyproject.toml::funcs.py:good\n" in result.stdout
