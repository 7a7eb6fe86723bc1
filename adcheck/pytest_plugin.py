"""``pytest --adcheck``: every adcheck case becomes a test item.

Cases come from ``[[tool.adcheck.case]]`` in the nearest pyproject.toml with a ``[tool.adcheck]``
table at or above pytest's rootdir, and from ``@adcheck.case`` decorators in the ``.py`` files
pytest visits. A failing item's text is the ``adcheck run`` table for that case.

This module is loaded by every pytest run (it is a ``pytest11`` entry point), so it imports
nothing heavy until ``--adcheck`` is given.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("adcheck", "check automatic derivatives")
    group.addoption("--adcheck", action="store_true", default=False,
                    help="Collect the adcheck cases ([tool.adcheck] in pyproject.toml, @adcheck.case) as tests.")
    group.addoption("--adcheck-backend", action="append", default=[], metavar="NAME",
                    help="Run only this adcheck backend (repeatable; overrides the configuration).")


def _enabled(config) -> bool:
    return bool(config.getoption("adcheck", default=False))


def _project_pyproject(config) -> Path | None:
    from .config import find_pyproject

    key = "_adcheck_pyproject"
    if not hasattr(config, key):
        setattr(config, key, find_pyproject(Path(config.rootpath)))
    return getattr(config, key)


class AdcheckFailure(Exception):
    """A case failed; the argument is the table."""


class AdcheckItem(pytest.Item):
    def __init__(self, *, case, project, **kwargs):
        super().__init__(**kwargs)
        self.case = case
        self.project = project
        self.add_marker("adcheck")

    def runtest(self):
        from .check import case_settings, failures_of, run_case
        from .report import table
        from .settings import Settings, validated

        backends = tuple(self.config.getoption("adcheck_backend") or ())
        overrides = validated(backends=backends) if backends else Settings()
        result = run_case(self.case, self.project, overrides)
        if result.broken:
            raise AdcheckFailure(f"{self.case.name}: the case could not run: {result.broken}")
        policy = case_settings(self.case, self.project, overrides).resolved().failure_policy
        if failures_of(result.report, policy):
            raise AdcheckFailure(table.render(result.report, colour=False, timings=False))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AdcheckFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"adcheck: {self.case.name}"


class AdcheckConfigFile(pytest.File):
    """The pyproject.toml: one item per ``[[tool.adcheck.case]]``."""

    def collect(self):
        from dataclasses import replace

        from .config import Project, load_pyproject, unique_names

        settings, cases = load_pyproject(self.path)
        project = Project(root=self.path.parent, pyproject=self.path, settings=settings)
        project = replace(project, cases=unique_names(cases))
        for case in project.cases:
            yield AdcheckItem.from_parent(self, name=case.name, case=case, project=project)


class AdcheckDecoratedFile(pytest.File):
    """A .py file with ``@adcheck.case`` functions: one item per decorator."""

    def collect(self):
        from .config import Project, discover_decorated_cases, load_pyproject, unique_names

        pyproject = _project_pyproject(self.config)
        root = pyproject.parent if pyproject else Path(self.config.rootpath)
        project = Project(root=root, pyproject=pyproject)
        if pyproject is not None:
            project = Project(root=root, pyproject=pyproject, settings=load_pyproject(pyproject)[0])
        for case in unique_names(discover_decorated_cases(self.path, root)):
            # "funcs.py:f[2]" -> "f[2]": the file is already the parent node.
            yield AdcheckItem.from_parent(self, name=case.attribute + case.name[len(case.target):],
                                          case=case, project=project)


def pytest_configure(config):
    config.addinivalue_line("markers", "adcheck: a case collected by adcheck's pytest plugin")
    if _enabled(config):
        _check_configuration(config)


def _check_configuration(config) -> None:
    """A mistake in ``[tool.adcheck]`` (a misspelt key, a bad value) or an unknown
    ``--adcheck-backend`` is the user's: a usage error in one line, as pytest reports its own
    options, before collection, rather than an INTERNALERROR from the middle of it."""
    from .errors import AdcheckError

    try:
        pyproject = _project_pyproject(config)
        if pyproject is not None:
            from .config import load_pyproject

            load_pyproject(pyproject)
        backends = tuple(config.getoption("adcheck_backend") or ())
        if backends:
            from .settings import validated

            validated(backends=backends)
    except AdcheckError as exc:
        raise pytest.UsageError(f"adcheck: {exc}") from None


def pytest_collect_file(file_path: Path, parent):
    config = parent.config
    if not _enabled(config):
        return None
    if file_path.name == "pyproject.toml" and file_path == _project_pyproject(config):
        return AdcheckConfigFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".py":
        try:
            from .syntax import read_python

            text = read_python(file_path)
        except (OSError, UnicodeDecodeError, SyntaxError):
            return None
        if "adcheck" in text and "case" in text:
            from .config import discover_decorated_cases

            pyproject = _project_pyproject(config)
            root = pyproject.parent if pyproject else Path(config.rootpath)
            if discover_decorated_cases(file_path, root):
                return AdcheckDecoratedFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """The pyproject lies outside the collected paths (``testpaths = ["tests"]``): add its cases.

    Runs first, so ``-k`` and ``-m`` deselect among them like any other item.
    """
    if not _enabled(config) or any(isinstance(item.parent, AdcheckConfigFile) for item in items):
        return
    pyproject = _project_pyproject(config)
    if pyproject is None:
        return
    node = AdcheckConfigFile.from_parent(session, path=pyproject)
    items.extend(node.collect())
