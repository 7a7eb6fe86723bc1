"""Targets: parsing, and the static checks the parent makes before any worker starts.

Every bad target is a one-line usage error (exit 2) naming the problem. None of these spawn a
worker, so they are fast: the parent refuses them from the source text alone.
"""

from __future__ import annotations


import pytest

from adcheck.errors import TargetError
from adcheck.loader import parse_target
from conftest import FIXTURES, assert_usage_error, invoke

HOSTILE = FIXTURES / "hostile"


def run(target: str, *extra: str):
    return invoke("run", target, "--input", "[1.0, 2.0]", "--backend", "autograd", "--timeout", "20", *extra)


# --- through the CLI ----------------------------------------------------------------------------


def test_target_file_that_does_not_exist():
    assert_usage_error(run("no/such/file.py:f"), "no such file no/such/file.py")


def test_target_without_a_colon():
    assert_usage_error(run(str(HOSTILE / "raises.py")), "must look like path/to/file.py:func")


def test_target_with_empty_function_name():
    assert_usage_error(run(str(HOSTILE / "raises.py") + ":"), "must look like")


def test_target_function_that_is_not_a_name():
    assert_usage_error(run(str(HOSTILE / "raises.py") + ":1abc"), "is not a Python name")


def test_target_function_that_does_not_exist_lists_the_functions_there():
    result = run(str(HOSTILE / "raises.py") + ":nofunc")
    assert_usage_error(result, "defines no 'nofunc'", "raises_under_autograd", "raises_everywhere")


def test_target_file_with_a_syntax_error_names_file_and_line():
    assert_usage_error(run(str(HOSTILE / "syntax_error.py") + ":f"), "syntax_error.py:4: syntax error")


def test_target_importing_a_missing_package_names_package_and_line():
    result = run(str(HOSTILE / "missing_import.py") + ":f")
    assert_usage_error(result, "missing_import.py:3", "'adcheck_no_such_package_xyz'", "not installed")


def test_module_target_whose_package_does_not_exist():
    assert_usage_error(run("adcheck_no_such_package_xyz.module:f"), "cannot find module", "adcheck_no_such_package_xyz")


def test_module_target_whose_module_does_not_exist():
    assert_usage_error(run("json.no_such_module:f"), "cannot find module 'json.no_such_module'")


def test_module_target_whose_function_does_not_exist():
    assert_usage_error(run("json:no_such_function"), "defines no 'no_such_function'", "loads")


def test_too_few_arguments_says_how_many_the_function_takes():
    result = run(str(HOSTILE / "arity.py") + ":two_arguments")
    assert_usage_error(result, "arity.py:4", "two_arguments(x, y) takes 2 arguments but got 1")


def test_too_many_arguments_says_how_many_the_function_takes():
    result = invoke("run", str(HOSTILE / "arity.py") + ":one_or_two", "--random", "2", "--random", "2",
                    "--random", "2", "--backend", "autograd")
    assert_usage_error(result, "one_or_two(x, scale=...) takes 1 to 2 arguments but got 3")


# --- parse_target ------------------------------------------------------------------------------


def test_parse_file_target():
    target = parse_target(str(HOSTILE / "raises.py") + ":raises_everywhere")
    assert target.path == (HOSTILE / "raises.py").resolve()
    assert target.module == "raises"
    assert target.attribute == "raises_everywhere"


def test_parse_module_target_with_method():
    target = parse_target("package.module:Class.method")
    assert (target.path, target.module, target.attribute) == (None, "package.module", "Class.method")


def test_windows_style_drive_is_not_mistaken_for_the_separator(tmp_path):
    # rpartition: the last colon separates the function, so paths may contain colons
    with pytest.raises(TargetError, match="no such file"):
        parse_target("C:/no/such/file.py:f")


def test_installed_module_root_is_its_own_package_not_site_packages():
    root = parse_target("json:loads").root
    assert root.name == "json"
    root = parse_target("scipy.special:expit").root
    assert root.name == "scipy"


def test_debug_shows_the_traceback_and_keeps_the_exit_code():
    result = invoke("--debug", "run", "no/such/file.py:f", "--input", "1")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "TargetError" in result.stderr and "no such file" in result.stderr
