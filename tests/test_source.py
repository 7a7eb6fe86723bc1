"""The target's source, parsed once per run (``adcheck.source``): preflight, what the code is
written for (from what the target reaches), where it is defined, its parameters. No user code runs."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from adcheck.errors import InputError, TargetError
from adcheck.loader import parse_target
from adcheck.source import check_argument_count, preflight, summarize
from conftest import FIXTURES

HOSTILE = FIXTURES / "hostile"


def preflight_of(text: str, n_arguments: int) -> None:
    target = parse_target(text)
    preflight(target, summarize(target), n_arguments)


# --- preflight: static checks, no user code runs ------------------------------------------------


def write(tmp_path: Path, source: str, name: str = "user_code.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_preflight_runs_no_user_code(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, f"""
        import pathlib
        pathlib.Path({str(marker)!r}).touch()

        def f(x):
            return x
    """)
    preflight_of(f"{path}:f", 1)
    assert not marker.exists()


def test_guarded_optional_import_is_not_an_error():
    preflight_of(str(HOSTILE / "optional_import.py") + ":f", 1)


def test_import_inside_a_function_is_left_to_run_time(tmp_path):
    path = write(tmp_path, """
        def f(x):
            import adcheck_no_such_package_xyz
            return x
    """)
    preflight_of(f"{path}:f", 1)


def test_sibling_user_module_counts_as_installed(tmp_path):
    write(tmp_path, "def helper(x):\n    return x\n", name="helpers_of_mine.py")
    path = write(tmp_path, """
        from helpers_of_mine import helper

        def f(x):
            return helper(x)
    """)
    preflight_of(f"{path}:f", 1)


@pytest.mark.parametrize(
    "binding",
    ["f = lambda x: x", "from math import sin as f", "for f in [abs]:\n    pass",
     "class f:\n    pass", "if True:\n    def f(x):\n        return x"],
)
def test_any_top_level_binding_counts_as_defined(tmp_path, binding):
    path = write(tmp_path, binding + "\n")
    preflight_of(f"{path}:f", 1)


def test_star_import_or_module_getattr_skips_the_name_check(tmp_path):
    path = write(tmp_path, "from math import *\n")
    preflight_of(f"{path}:anything", 1)
    path = write(tmp_path, "def __getattr__(name):\n    return abs\n", name="lazy.py")
    preflight_of(f"{path}:anything", 1)


def test_local_variable_does_not_count_as_defined(tmp_path):
    path = write(tmp_path, "def g(x):\n    f = 1\n    return x\n")
    with pytest.raises(TargetError, match="defines no 'f'"):
        preflight_of(f"{path}:f", 1)


def test_decorated_function_is_not_judged_statically(tmp_path):
    path = write(tmp_path, """
        import functools

        @functools.lru_cache
        def f(x, y):
            return x
    """)
    preflight_of(f"{path}:f", 1)  # the worker checks the real signature


def signature(source: str) -> ast.FunctionDef:
    return ast.parse(textwrap.dedent(source)).body[0]


@pytest.mark.parametrize(
    ("source", "accepted", "refused"),
    [
        ("def f(x): pass", [1], [0, 2]),
        ("def f(x, y=1): pass", [1, 2], [0, 3]),
        ("def f(x, *rest): pass", [1, 2, 5], [0]),
        ("def f(x, /, y): pass", [2], [1, 3]),
        ("def f(*xs): pass", [1, 4], []),
        ("def f(x, *, scale=2.0): pass", [1], [2]),
    ],
)
def test_argument_count(source, accepted, refused):
    function = signature(source)
    for n in accepted:
        check_argument_count(function, n)
    for n in refused:
        with pytest.raises(InputError, match=f"but got {n}"):
            check_argument_count(function, n)


def test_required_keyword_only_argument_cannot_be_passed():
    with pytest.raises(InputError, match="required keyword-only arguments \\(scale\\)"):
        check_argument_count(signature("def f(x, *, scale): pass"), 1)


# --- what the code is written for, and who it is ----------------------------------------------------


@pytest.mark.parametrize(("source", "framework"), [
    ("import numpy as np\nimport torch\n\ndef f(x):\n    return np.sin(x)\n", "numpy"),
    ("import numpy as np\n\ndef f(x):\n    return np.sin(x)\n\nif __name__ == '__main__':\n    import jax\n", "numpy"),
    ("import torch\nimport numpy as np\n\ndef f(x):\n    return torch.sin(x)\n", "torch"),
    ("import jax.numpy as jnp\n\ndef helper(x):\n    return jnp.sin(x)\n\ndef f(x):\n    return helper(x)\n", "jax"),
    ("import autograd.numpy as anp\nimport numpy as np\n\nSCALE = np.ones(3)\n\ndef f(x):\n    return anp.sum(x)\n", "autograd"),
    ("import jax\n\ndef f(x):\n    return x * 2\n", "jax"),  # reaches nothing: judged by the file's imports
])
def test_what_code_is_written_for_is_what_the_target_reaches(tmp_path, source, framework):
    path = tmp_path / "user_code.py"
    path.write_text(source)
    assert summarize(parse_target(f"{path}:f")).framework == framework


def test_a_helper_in_a_sibling_module_is_followed(tmp_path):
    (tmp_path / "helpers.py").write_text("import torch\n\ndef g(x):\n    return torch.sin(x)\n")
    path = tmp_path / "main.py"
    path.write_text("import numpy as np\nfrom helpers import g\n\ndef f(x):\n    return g(x)\n")
    assert summarize(parse_target(f"{path}:f")).framework == "torch"


@pytest.mark.parametrize(("source", "attribute", "parameters", "line"), [
    ("def f(x, y=1, *rest, k=2):\n    pass\n", "f", ("x", "y"), 1),
    ("class C:\n    def m(self, x):\n        pass\n", "C.m", ("x",), 2),
    ("class C:\n    @staticmethod\n    def m(x, y):\n        pass\n", "C.m", ("x", "y"), 3),
    ("class C:\n    def __call__(self, params, batch):\n        pass\n\nmodel = C()\n", "model", ("params", "batch"), 5),
    ("f = abs\n", "f", (), 1),
])
def test_parameters_and_definition_line(tmp_path, source, attribute, parameters, line):
    path = tmp_path / "user_code.py"
    path.write_text(source)
    summary = summarize(parse_target(f"{path}:{attribute}"))
    assert summary.parameters == parameters
    assert summary.definition_line == line


def test_a_latin1_file_with_a_coding_declaration_and_a_bom_file_are_read_as_python_reads_them(tmp_path):
    latin = tmp_path / "latin.py"
    latin.write_bytes("# -*- coding: latin-1 -*-\n# café\ndef f(x):\n    return x\n".encode("latin-1"))
    assert summarize(parse_target(f"{latin}:f")).definition_line == 3
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbfdef f(x):\r\n    return x\r\n")
    assert summarize(parse_target(f"{bom}:f")).definition_line == 1
