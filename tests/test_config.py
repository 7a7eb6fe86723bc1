"""[tool.adcheck] and @adcheck.case discovery: parsed statically, errors name the file and the key."""

from __future__ import annotations

import json
import textwrap
from contextlib import chdir as in_directory
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adcheck
from adcheck.config import find_pyproject, load_project
from adcheck.errors import ConfigError, ExitCode

from conftest import FIXTURES, invoke

SAMPLE = FIXTURES / "sample_project"

FUNCS = textwrap.dedent('''
    import numpy as np

    def good(x):
        return np.sin(x)

    def two(x, y):
        return x * y
''')




def project_with(tmp_path: Path, toml: str, funcs: str = FUNCS) -> Path:
    (tmp_path / "funcs.py").write_text(funcs)
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(toml))
    return tmp_path


def config_error(tmp_path: Path, toml: str) -> str:
    project_with(tmp_path, toml)
    with in_directory(tmp_path), pytest.raises(ConfigError) as info:
        load_project()
    return str(info.value)


def test_sample_project_has_a_good_and_a_bad_case():
    project = load_project(start=SAMPLE)
    assert project.pyproject == SAMPLE / "pyproject.toml"
    assert project.settings.backends == ("autograd",)
    assert [c.name for c in project.cases] == ["funcs.py:good", "funcs.py:bad"]
    good = project.cases[0]
    assert good.file == (SAMPLE / "funcs.py").resolve()
    assert good.run_target == f"{(SAMPLE / 'funcs.py').resolve()}:good"
    np.testing.assert_array_equal(good.arguments[0], [0.5, 1.0, 2.0])


def test_find_pyproject_passes_over_a_pyproject_without_the_table(tmp_path):
    project_with(tmp_path, '[tool.adcheck]\n[[tool.adcheck.case]]\ntarget = "funcs.py:good"\ninput = 1.0\n')
    inner = tmp_path / "pkg"
    inner.mkdir()
    (inner / "pyproject.toml").write_text('[project]\nname = "pkg"\n')
    assert find_pyproject(inner) == tmp_path / "pyproject.toml"


def test_find_pyproject_without_any_returns_none(tmp_path):
    assert find_pyproject(tmp_path) is None


def test_settings_and_case_keys_are_read(tmp_path):
    project_with(tmp_path, '''
        [tool.adcheck]
        backends = ["autograd", "jax-fwd"]
        rtol = 1e-6
        atol = 0
        timeout = 30
        fail-on = "warning"
        [[tool.adcheck.case]]
        target = "funcs.py:two"
        inputs = [[1, 2], 3.0]
        wrt = [0]
        [[tool.adcheck.case]]
        target = "funcs.py:good"
        random = [[3, 4]]
        seed = 7
        backends = ["autograd"]
        [[tool.adcheck.case]]
        target = "funcs.py:good"
        random = ["2x2", 5]
    ''')
    project = load_project(start=tmp_path)
    s = project.settings
    assert (s.backends, s.rtol, s.atol, s.timeout, s.fail_on) == (("autograd", "jax-fwd"), 1e-6, 0.0, 30.0, "warning")
    two, rand, rand2 = project.cases
    assert len(two.arguments) == 2 and two.wrt == (0,)
    assert rand.random == ((3, 4),) and rand.seed == 7 and rand.settings.backends == ("autograd",)
    assert rand2.random == ((2, 2), (5,))
    assert [c.name for c in project.cases] == ["funcs.py:two", "funcs.py:good", "funcs.py:good[2]"]


def test_unknown_global_key_names_file_and_key(tmp_path):
    message = config_error(tmp_path, '[tool.adcheck]\nbackend = ["autograd"]\n')
    assert message.startswith("pyproject.toml: tool.adcheck.backend: unknown key")


def test_unknown_case_key_names_file_and_key(tmp_path):
    message = config_error(tmp_path, '[[tool.adcheck.case]]\ntarget = "funcs.py:good"\ninupt = [1.0]\n')
    assert message.startswith("pyproject.toml: tool.adcheck.case[1].inupt: unknown key")


@pytest.mark.parametrize(("case", "key", "words"), [
    ('target = "missing.py:good"\ninput = 1.0', "target", "no such file"),
    ('target = "funcs.py:absent"\ninput = 1.0', "target", "defines no 'absent'"),
    ('target = "funcs.py"\ninput = 1.0', "target", "must look like"),
    ('input = 1.0', "target", "missing"),
    ('target = "funcs.py:good"\ninput = "abc"', "input", "expected a number"),
    ('target = "funcs.py:good"\ninput = [[1, 2], [3]]', "input", "rectangular"),
    ('target = "funcs.py:good"\ninput = []', "input", "empty"),
    ('target = "funcs.py:good"\ninput = [true]', "input", "booleans"),
    ('target = "funcs.py:good"', "input", "exactly one of"),
    ('target = "funcs.py:good"\ninput = 1.0\nrandom = [3]', "random", "exactly one of"),
    ('target = "funcs.py:two"\ninputs = [1.0, "x"]', "inputs[1]", "expected a number"),
    ('target = "funcs.py:good"\nrandom = [0]', "random[0]", "shape"),
    ('target = "funcs.py:good"\nrandom = ["3y4"]', "random[0]", "shape"),
    ('target = "funcs.py:good"\nrandom = ["3:complex256"]', "random[0]", "unknown dtype 'complex256'"),
    ('target = "funcs.py:good"\ninput = 1.0\nseed = 3', "seed", "only used with random"),
    ('target = "funcs.py:good"\ninput = 1.0\nwrt = [1]', "wrt", "does not exist"),
    ('target = "funcs.py:good"\ninput = 1.0\nbackends = ["autograf"]', "backends", "unknown backend 'autograf'"),
    ('target = "funcs.py:good"\ninput = 1.0\nrtol = -1', "rtol", "expected a non-negative number"),
    ('target = "funcs.py:good"\ninput = 1.0\nrtol = nan', "rtol", "expected a finite number"),
    ('target = "funcs.py:good"\ninput = 1.0\ntimeout = inf', "timeout", "expected a finite number"),
    ('target = "funcs.py:good"\ninput = 1.0\norder = 3', "order", "expected 1 or 2"),
    ('target = "funcs.py:good"\ninput = 1.0\nmode = "slow"', "mode", "expected one of auto, full, fast"),
    ('target = "funcs.py:good"\ninput = 1.0\ntimeout = 0', "timeout", "positive"),
])
def test_malformed_case_is_an_error_naming_the_key(tmp_path, case, key, words):
    message = config_error(tmp_path, f"[[tool.adcheck.case]]\n{case}\n")
    assert message.startswith(f"pyproject.toml: tool.adcheck.case[1].{key}: "), message
    assert words in message


def test_a_random_case_takes_a_dtype_as_random_does_on_the_command_line(tmp_path):
    project_with(tmp_path, '''
        [[tool.adcheck.case]]
        target = "funcs.py:two"
        random = ["3:complex128", [2, 2]]
    ''')
    with in_directory(tmp_path):
        (case,) = load_project().cases
    assert case.random == ((3,), (2, 2))
    assert case.random_dtypes == (np.dtype(np.complex128), np.dtype(np.float64))


def test_a_complex_random_case_is_checked_on_complex_inputs(tmp_path):
    # z * conj(z) + z: its Wirtinger pair is reported only for a complex input.
    project_with(tmp_path, '''
        [[tool.adcheck.case]]
        target = "funcs.py:conj_plus"
        random = ["2:complex128"]
        backends = ["autograd"]
    ''', "import numpy as np\n\n\ndef conj_plus(z):\n    return z * np.conj(z) + z\n")
    with in_directory(tmp_path):
        result = invoke("check", "--format", "json", "--no-timings")
    assert result.exit_code == ExitCode.OK, result.output
    (case,) = json.loads(result.stdout)["cases"]
    assert case["inputs"][0]["dtype"] == "complex128"
    diagonal = [entry for entry in case["complex"] if entry["entry"][0] == entry["entry"][1]]
    assert [entry["kind"] for entry in diagonal] == ["wirtinger", "wirtinger"]


def test_invalid_toml_is_a_config_error(tmp_path):
    message = config_error(tmp_path, "[tool.adcheck]\nrtol = \n")
    assert message.startswith("pyproject.toml: not valid TOML")


def test_bad_fail_on_is_a_config_error(tmp_path):
    message = config_error(tmp_path, '[tool.adcheck]\nfail-on = "sometimes"\n')
    assert message.startswith("pyproject.toml: tool.adcheck.fail-on: expected one of error, disagree, inconclusive, "
                              "warning")


def test_cli_reports_config_error_with_exit_code_2(tmp_path):
    project_with(tmp_path, '[[tool.adcheck.case]]\ntarget = "funcs.py:good"\ninupt = [1.0]\n')
    with in_directory(tmp_path):
        result = invoke("check")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert "adcheck: error: pyproject.toml: tool.adcheck.case[1].inupt: unknown key" in result.stderr


def test_cli_without_cases_is_a_usage_error(tmp_path):
    with in_directory(tmp_path):
        result = invoke("check")
    assert result.exit_code == ExitCode.USAGE
    assert "no cases found" in result.stderr


# --- decorators --------------------------------------------------------------------------------

DECORATED = textwrap.dedent('''
    import numpy as np
    import adcheck
    from adcheck import case as check_case

    @adcheck.case(input=[0.5, 1.0])
    @adcheck.case(random=[3], seed=2, backends=["autograd"])
    def first(x):
        return np.sin(x)

    def undecorated(x):
        return x

    class Model:
        @check_case(inputs=[[1.0, 2.0], 3.0], wrt=[0])
        def energy(x, y):
            return x * y

    SOURCE = "@adcheck.case(input=[1.0])"  # a string, not a decorator
''')


def test_decorated_cases_are_found_without_importing(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(DECORATED + "\nraise RuntimeError('importing this file is an error')\n")
    with in_directory(tmp_path):
        project = load_project([path])
    names = [c.name for c in project.cases]
    assert names == ["model.py:first", "model.py:first[2]", "model.py:Model.energy"]
    first, second, energy = project.cases
    np.testing.assert_array_equal(first.arguments[0], [0.5, 1.0])
    assert second.random == ((3,),) and second.seed == 2 and second.settings.backends == ("autograd",)
    assert energy.attribute == "Model.energy" and energy.wrt == (0,)
    assert first.origin.startswith("model.py:6: @adcheck.case")


def test_decorated_cases_in_a_directory_skip_hidden_and_cache_directories(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "model.py").write_text(DECORATED)
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "model.py").write_text(DECORATED)
    project = load_project([tmp_path], start=tmp_path)
    assert {c.target.partition(":")[0] for c in project.cases} == {"pkg/model.py"}


def test_decorator_with_a_non_literal_argument_is_an_error(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import adcheck\nimport numpy as np\n\n@adcheck.case(input=np.ones(3))\ndef f(x):\n    return x\n")
    with in_directory(tmp_path), pytest.raises(ConfigError) as info:
        load_project([path])
    assert str(info.value).startswith("model.py:4: @adcheck.case(input=...): must be a literal")


def test_decorator_with_an_unknown_keyword_is_an_error(tmp_path):
    path = tmp_path / "model.py"
    path.write_text("import adcheck\n\n@adcheck.case(imput=[1.0])\ndef f(x):\n    return x\n")
    with in_directory(tmp_path), pytest.raises(ConfigError) as info:
        load_project([path])
    assert str(info.value).startswith("model.py:3: @adcheck.case(imput=...): unknown key")


def test_case_decorator_returns_the_function_itself():
    def f(x):
        return x

    assert adcheck.case(input=[1.0])(f) is f
    assert adcheck.case(random=[3], seed=1, wrt=[0], backends=["autograd"], rtol=1e-3)(f) is f


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=6))
def test_toml_input_lists_become_float64_arguments(tmp_path_factory, values):
    tmp_path = tmp_path_factory.mktemp("toml")
    body = ", ".join(repr(v) for v in values)
    project_with(tmp_path, f'[[tool.adcheck.case]]\ntarget = "funcs.py:good"\ninput = [{body}]\n')
    (case,) = load_project(start=tmp_path).cases
    np.testing.assert_array_equal(case.arguments[0], np.array(values, dtype=np.float64))
