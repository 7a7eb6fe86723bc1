"""Shared test helpers: run the CLI in-process and capture exit code, stdout and stderr."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from adcheck.cli import main

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def invoke(*args: str, env: dict | None = None) -> CliResult:
    """Run ``adcheck ARGS`` through ``adcheck.cli.main`` (the real exit-code path)."""
    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _):
        code = main(list(args))
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode() if err is not None else ""
    return CliResult(int(code), stdout, stderr)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def load_fixture(name: str):
    """Import ``fixtures/NAME.py`` as a plain module, for in-process tests."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"fixture_{name}", FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_usage_error(result, *fragments: str) -> None:
    """Exit 2, exactly one line on stderr naming the problem, nothing on stdout, no traceback."""
    from adcheck.errors import ExitCode

    assert result.exit_code == ExitCode.USAGE, (result.exit_code, result.stderr, result.stdout)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("adcheck: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert result.stdout == ""
