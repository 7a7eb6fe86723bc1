"""Targets inside packages load as Python would import them, under every flavour.

A file target inside a package gets its dotted name and ``__package__`` (the package root is found
by walking up through ``__init__.py`` directories), so relative imports resolve; a module target
imports its parent packages before looking inside them. Under the autograd and jax flavours the
package's own ``import numpy`` is rebound, and an installed library's is not.

The loader tests import user code, which leaves modules and ``sys.path`` entries behind: each
flavour runs in a subprocess of its own, which loads every case in turn and removes the fixtures'
modules and restores ``sys.path`` between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from adcheck.loader import module_layout, parse_target
from conftest import FIXTURES, REPO, invoke

PACKAGES = FIXTURES / "packages"
NSROOT = PACKAGES / "nsroot"
X = np.array([0.3, 0.7])


def g(x):
    return np.sin(x) * np.exp(-x)


# target -> (directories the module target needs on sys.path, expected f(X), module, __package__)
CASES = {
    # file targets: nothing on sys.path
    "mypkg/core.py:f": ([], 3 * g(X), "mypkg.core", "mypkg"),
    "mypkg/__init__.py:f": ([], 3 * g(X), "mypkg.core", "mypkg"),
    "mypkg/sub/deep.py:h": ([], np.tanh(g(X)) / 2, "mypkg.sub.deep", "mypkg.sub"),
    "mypkg/my-module.py:f": ([], g(X) ** 2, "mypkg.adcheck_user_module", "mypkg"),
    "mypkg/script_style.py:f": ([], 2 * g(X), "mypkg.script_style", "mypkg"),
    "mypkg/fit.py:f": ([], np.cos(X), "mypkg.fit", "mypkg"),
    "mypkg/encoded.py:f": ([], np.exp(X), "mypkg.encoded", "mypkg"),
    "mypkg/annotated.py:f": ([], np.ones(2), "mypkg.annotated", "mypkg"),
    "mypkg/dotted_import.py:f": ([], np.sin(X), "mypkg.dotted_import", "mypkg"),
    "nsroot/nspkg/mod.py:f": ([], 3 * np.cos(X) + np.log1p(X * X), "nspkg.mod", "nspkg"),
    "pathpkg/__init__.py:f": ([], np.sum(X * X) + 1, "pathpkg", "pathpkg"),
    # module targets, as with PYTHONPATH=fixtures/packages (or nsroot)
    "mypkg.core:f": ([PACKAGES], 3 * g(X), "mypkg.core", "mypkg"),
    "mypkg:f": ([PACKAGES], 3 * g(X), "mypkg.core", "mypkg"),
    "mypkg.sub.deep:h": ([PACKAGES], np.tanh(g(X)) / 2, "mypkg.sub.deep", "mypkg.sub"),
    "nspkg.mod:f": ([NSROOT], 3 * np.cos(X) + np.log1p(X * X), "nspkg.mod", "nspkg"),
    "pathpkg:f": ([PACKAGES], np.sum(X * X) + 1, "pathpkg", "pathpkg"),
}
FLAVOURS = ("numpy", "autograd", "jax")

# Loads each case with UserCodeLoader and reports what it got, as JSON.
LOAD_ALL = textwrap.dedent("""
    import json, os, sys
    import numpy
    from adcheck.loader import UserCodeLoader, parse_target

    flavour, fixtures, cases = sys.argv[1], os.path.realpath(sys.argv[2]), json.loads(sys.argv[3])

    def binding(module):
        np_like = module.__dict__.get("np")
        if np_like is None:
            return None
        if np_like is numpy:
            return "numpy"
        for name in ("jax.numpy", "autograd.numpy"):
            real = sys.modules.get(name)
            if real is not None and getattr(np_like, "sin", None) is real.sin:
                return name.split(".")[0]
        return repr(np_like)

    def from_fixtures(module):
        file = getattr(module, "__file__", None)
        paths = [file] if file else list(getattr(module, "__path__", None) or [])
        return bool(paths) and all(os.path.realpath(p).startswith(fixtures + os.sep) for p in paths)

    path_before = list(sys.path)
    results = {}
    for target, extra_path in cases:
        sys.path[:0] = extra_path
        try:
            loader = UserCodeLoader(parse_target(target), flavour)
            func = loader.load()
            value = numpy.asarray(func(numpy.array([0.3, 0.7])), dtype=float).tolist()
            module = loader.modules[func.__module__]
            results[target] = {
                "value": value,
                "module": func.__module__,
                "package": module.__package__,
                "bindings": {name: binding(m) for name, m in loader.modules.items()},
                "outside_fixtures": [name for name, m in loader.modules.items() if not from_fixtures(m)],
                "registered": sorted(name for name, m in loader.modules.items() if sys.modules.get(name) is m),
                "library": binding(sys.modules["scipy.optimize._optimize"])
                           if "scipy.optimize._optimize" in sys.modules else None,
            }
        except BaseException as exc:
            results[target] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for name, module in list(sys.modules.items()):
                if from_fixtures(module):
                    del sys.modules[name]
            sys.path[:] = path_before
    print(json.dumps(results))
""")


@pytest.fixture(scope="module")
def loaded():
    """flavour -> target -> what UserCodeLoader made of it (one subprocess per flavour)."""
    cases = [(str(PACKAGES / t) if ".py" in t else t, [str(p) for p in CASES[t][0]]) for t in CASES]
    results = {}
    for flavour in FLAVOURS:
        done = subprocess.run([sys.executable, "-P", "-c", LOAD_ALL, flavour, str(FIXTURES), json.dumps(cases)],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
        assert done.returncode == 0, done.stderr
        by_path = json.loads(done.stdout.strip().splitlines()[-1])
        results[flavour] = {t: by_path[path] for t, (path, _) in zip(CASES, cases)}
    return results


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("target", CASES)
def test_package_target_loads_with_its_dotted_name(loaded, target, flavour):
    got = loaded[flavour][target]
    assert "error" not in got, got.get("error")
    _, expected, module, package = CASES[target]
    # float32 under jax
    np.testing.assert_allclose(got["value"], expected, rtol=1e-5 if flavour == "jax" else 1e-12)
    assert (got["module"], got["package"]) == (module, package)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("target", CASES)
def test_every_module_of_the_package_is_rebound_and_nothing_else_is_loaded_as_user_code(loaded, target, flavour):
    got = loaded[flavour][target]
    assert "error" not in got, got.get("error")
    assert got["outside_fixtures"] == []
    bindings = {name: bound for name, bound in got["bindings"].items() if bound is not None}
    assert bindings, "every fixture package has a module that imports numpy"
    assert set(bindings.values()) == {flavour}, bindings


def test_the_whole_package_tree_is_user_code(loaded):
    got = loaded["jax"]["mypkg/core.py:f"]
    assert sorted(got["bindings"]) == ["mypkg", "mypkg.constants", "mypkg.core", "mypkg.helpers",
                                       "mypkg.sub", "mypkg.sub.deep"]
    # under their own names, in sys.modules, where pickle and importlib.import_module look
    assert got["registered"] == sorted(got["bindings"])
    # the vendored directory the package put on sys.path lies inside the package: rebound too
    assert loaded["jax"]["pathpkg/__init__.py:f"]["bindings"] == {"pathpkg": None, "vendored_square": "jax"}
    # a script-style sibling import loads the sibling by its plain name
    assert {"helpers", "constants"} <= set(loaded["jax"]["mypkg/script_style.py:f"]["bindings"])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_installed_library_keeps_the_real_numpy(loaded, flavour):
    got = loaded[flavour]["mypkg/fit.py:f"]
    assert got["bindings"]["mypkg.fit"] == flavour
    assert got["library"] == "numpy"  # scipy.optimize, imported by the user's module


# --- where a target sits, found without running it ----------------------------------------------


@pytest.mark.parametrize(
    ("target", "name", "base"),
    [
        ("mypkg/core.py:f", "mypkg.core", PACKAGES),
        ("mypkg/__init__.py:f", "mypkg", PACKAGES),
        ("mypkg/sub/deep.py:h", "mypkg.sub.deep", PACKAGES),
        ("mypkg/sub/__init__.py:f", "mypkg.sub", PACKAGES),
        ("nsroot/nspkg/mod.py:f", "nspkg.mod", NSROOT),  # as far up as its relative imports reach
        ("nsroot/nspkg/other.py:k", "other", NSROOT / "nspkg"),  # no relative import: a plain file
    ],
)
def test_file_layout(target, name, base):
    layout = module_layout(parse_target(str(PACKAGES / target)))
    assert (layout.name, layout.base, layout.installed) == (name, base, False)
    assert parse_target(str(PACKAGES / target)).root == base


def test_module_target_layout_runs_none_of_the_package(monkeypatch):
    monkeypatch.syspath_prepend(str(PACKAGES))
    target = parse_target("mypkg.sub.deep:h")
    assert target.root == PACKAGES
    assert target.file == PACKAGES / "mypkg" / "sub" / "deep.py"
    assert "mypkg" not in sys.modules  # finding it imported nothing


def test_installed_file_target_rebinds_only_that_file():
    import scipy.optimize._optimize as installed

    layout = module_layout(parse_target(f"{installed.__file__}:rosen"))
    assert (layout.name, layout.installed) == ("scipy.optimize._optimize", True)
    assert parse_target(f"{installed.__file__}:rosen").root.name == "scipy"


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["mypkg/core.py:f", "mypkg/sub/deep.py:h", "mypkg/my-module.py:f",
                                    "mypkg/__init__.py:h", "nsroot/nspkg/mod.py:f"])
def test_run_a_file_target_inside_a_package(target):
    result = invoke("run", str(PACKAGES / target), "--input", "[0.3, 0.7]", "--backend", "autograd",
                    "--backend", "jax-rev", "--timeout", "60")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["mypkg.core:f", "mypkg.sub.deep:h"])
def test_run_a_module_target_inside_a_package(target):
    # A subprocess: the workers must see PYTHONPATH as a user's shell gives it, which an
    # in-process run (whose fork server another test may have started) cannot promise.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "adcheck", "run", target, "--input", "[0.3, 0.7]",
                             "--backend", "autograd", "--backend", "jax-rev", "--timeout", "60"],
                            capture_output=True, text=True, cwd=PACKAGES, env=env, timeout=300)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
