"""Edges of the command line a daily user hits: --debug anywhere, module targets from the
console script, shards that cannot be silently empty, messages that do not contradict themselves."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adcheck.check import EmptyShard, shard
from adcheck.config import Case
from conftest import FIXTURES, invoke


@pytest.mark.parametrize("args", [("--debug", "run", "nofile.py:f", "--random", "3"),
                                  ("run", "nofile.py:f", "--random", "3", "--debug")])
def test_debug_shows_the_traceback_and_keeps_the_usage_exit_code(args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert result.stderr.rstrip().endswith("adcheck: error: target 'nofile.py:f': no such file nofile.py")


def test_the_console_script_imports_a_module_target_from_the_working_directory(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("import numpy as np\n\ndef f(x):\n    return np.sum(np.sin(x))\n")
    script = Path(sys.executable).with_name("adcheck")
    result = subprocess.run([str(script), "run", "pkg.mod:f", "--random", "3", "--backend", "autograd", "--no-lint"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "PASS: autograd agrees with finite differences" in result.stdout


def cases(n: int) -> tuple[Case, ...]:
    return tuple(Case(target=f"f.py:f{i}", file=None, attribute=f"f{i}", origin="test", name=f"f.py:f{i}")
                 for i in range(n))


@pytest.mark.parametrize(("n", "shards"), [(3, 2), (5, 3), (2, 2), (7, 7)])
def test_shards_differ_in_size_by_one_case_at_most(n, shards):
    sizes = [len(shard(cases(n), f"{k}/{shards}")) for k in range(1, shards + 1)]
    assert sum(sizes) == n and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1


def test_an_empty_shard_says_so():
    with pytest.raises(EmptyShard, match=r"--shard 4/4: no case falls in this shard \(3 case\(s\) split 4 ways\)"):
        shard(cases(3), "4/4")


def test_check_of_an_empty_shard_exits_0_with_a_note(tmp_path, monkeypatch):
    (tmp_path / "f.py").write_text("def f(x):\n    return x * x\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [[tool.adcheck.case]]
        target = "f.py:f"
        input = [1.0]
    """))
    monkeypatch.chdir(tmp_path)
    result = invoke("check", "--shard", "2/2")
    assert result.exit_code == 0
    assert "adcheck: note: --shard 2/2: no case falls in this shard (1 case(s) split 2 ways)" in result.stderr


def test_order_2_under_auto_mode_says_what_auto_chose_and_checks_second_derivatives_fast():
    result = invoke("run", f"{FIXTURES / 'inputs_from.py'}:square_sum", "--random", "4100", "--order", "2",
                    "--no-timings")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "--mode auto chose fast mode" in result.stdout
    assert "--order 2 in fast mode: each backend's second derivative along 4 random directions" in result.stdout
    assert "Second derivatives" in result.stdout
    assert "leave --mode at auto" not in result.stdout + result.stderr


def test_check_on_a_terminal_shows_one_progress_line_with_the_failures_so_far(monkeypatch):
    import io

    from adcheck.cli import CaseProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    class Result:
        def __init__(self, failed):
            self.broken = ""
            self.report = type("Report", (), {"failed": failed})()

    bar = CaseProgress(3)
    for failed in (False, True, False):
        bar.update(Result(failed))
    bar.close()
    shown = terminal.getvalue()
    assert "cases (1 failed)" in shown and "3/3" in shown
    assert "\n" not in shown.rstrip("\n")  # one line, redrawn in place


@pytest.mark.parametrize("enabled", [True, False])
def test_runs_progress_bar_shows_on_a_terminal_only_for_the_table(monkeypatch, enabled):
    import io

    from adcheck.cli import BackendProgress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(BackendProgress, "DELAY", 0.0)
    with BackendProgress(enabled=enabled) as progress:
        progress(1, 3, "fd")
    assert ("backends (fd done)" in terminal.getvalue()) == enabled
