"""Files adcheck writes: all at once or not at all, and never over one of the run's inputs.

The failures are real where the operating system can produce them on demand (a file-size limit
stands in for a full disk, SIGKILL for a kill, a directory without write permission); only the
failing rename is simulated.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from adcheck import fileio
from adcheck.errors import AdcheckError, ExitCode
from adcheck.fileio import refuse_overwriting_inputs, write_text_atomic

ORIGINAL = '{"cases": {"keep": "me"}}\n'


def leftovers(directory: Path, keep: str) -> list[str]:
    """Files in ``directory`` other than ``keep``: a temporary file adcheck failed to remove."""
    return sorted(p.name for p in directory.iterdir() if p.name != keep)


def run_python(script: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=60, **kwargs)


def test_write_replaces_the_contents_and_leaves_nothing_beside(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(ORIGINAL)
    write_text_atomic(path, "new\n")
    assert path.read_text() == "new\n"
    assert leftovers(tmp_path, "baseline.json") == []


def test_write_creates_a_missing_file_with_the_usual_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "report.json", "{}")
    finally:
        os.umask(previous)
    assert (tmp_path / "report.json").read_text() == "{}"
    # not tempfile's 0o600: what any new file of the user's gets under this umask
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644


def test_full_disk_keeps_the_old_file_whole(tmp_path):
    # ``ulimit -f 1`` as in the report: writes past 1 KiB fail with EFBIG (SIGXFSZ ignored, as a
    # shell that sets the limit leaves it, or the process would die instead).
    path = tmp_path / ".adcheck-baseline.json"
    path.write_text(ORIGINAL)
    result = run_python(f"""
        import resource, signal, sys
        from adcheck.fileio import write_text_atomic
        from adcheck.errors import AdcheckError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
        try:
            write_text_atomic({str(path)!r}, "x" * 100_000)
        except AdcheckError as exc:
            print(exc)
            sys.exit(exc.exit_code)
    """)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stdout.strip() == (f"cannot write {path}: the file is larger than this process may write "
                                     "(ulimit -f) (the existing file is unchanged)")
    assert path.read_text() == ORIGINAL
    assert leftovers(tmp_path, path.name) == []


def test_a_failing_rename_keeps_the_old_file_and_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "baseline.json"
    path.write_text(ORIGINAL)

    def rename_fails(source, destination):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileio.os, "replace", rename_fails)
    with pytest.raises(AdcheckError) as caught:
        write_text_atomic(path, "new contents")
    assert str(caught.value) == f"cannot write {path}: Input/output error (the existing file is unchanged)"
    assert path.read_text() == ORIGINAL
    assert leftovers(tmp_path, path.name) == []


def test_an_interrupt_before_the_rename_removes_the_temporary_and_propagates(tmp_path, monkeypatch):
    path = tmp_path / "baseline.json"
    path.write_text(ORIGINAL)

    def interrupted(source, destination):
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(path, "new contents")
    assert path.read_text() == ORIGINAL
    assert leftovers(tmp_path, path.name) == []


def test_a_kill_between_open_and_rename_keeps_the_old_file(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(ORIGINAL)
    result = run_python(f"""
        import os, signal
        from adcheck import fileio
        fileio.os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
        fileio.write_text_atomic({str(path)!r}, "new contents")
    """)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert path.read_text() == ORIGINAL
    # Nothing can clean up after SIGKILL: what is left is a dotfile holding the whole new text.
    (left,) = leftovers(tmp_path, path.name)
    assert left.startswith(".baseline.json.") and left.endswith(".tmp")
    assert (tmp_path / left).read_text() == "new contents"


@pytest.fixture
def read_only_directory():
    """A directory nobody may create files in, holding one file; and how to write as someone
    it applies to (root ignores permissions, so as root the write runs as user ``nobody``)."""
    directory = Path(tempfile.mkdtemp(prefix="adcheck-read-only-"))
    path = directory / "baseline.json"
    path.write_text(ORIGINAL)
    directory.chmod(0o555)
    try:
        yield path
    finally:
        directory.chmod(0o755)
        path.unlink(missing_ok=True)
        for left in directory.iterdir():
            left.unlink()
        directory.rmdir()


def test_read_only_directory_is_one_line_and_the_file_is_kept(read_only_directory):
    path = read_only_directory
    # Everything is imported before the privileges go: ``nobody`` may not read this interpreter's
    # own files under /root.
    result = run_python(f"""
        import os, sys
        from adcheck.fileio import write_text_atomic
        from adcheck.errors import AdcheckError
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)
        try:
            write_text_atomic({str(path)!r}, "new contents")
        except AdcheckError as exc:
            print(exc)
            sys.exit(exc.exit_code)
    """)
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert result.stdout == (f"cannot write {path}: no permission to write in {path.parent} "
                             "(the existing file is unchanged)\n")
    assert path.read_text() == ORIGINAL
    assert leftovers(path.parent, path.name) == []


def test_missing_directory_is_named(tmp_path):
    path = tmp_path / "no" / "such" / "report.json"
    with pytest.raises(AdcheckError) as caught:
        write_text_atomic(path, "{}")
    assert str(caught.value) == f"cannot write {path}: the directory {path.parent} does not exist"
    assert caught.value.exit_code == ExitCode.USAGE


def test_permission_bits_are_kept(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(ORIGINAL)
    path.chmod(0o640)
    write_text_atomic(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_symbolic_link_is_written_through(tmp_path):
    target = tmp_path / "real.json"
    target.write_text(ORIGINAL)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_text_atomic(link, "new\n")
    assert link.is_symlink()
    assert target.read_text() == "new\n"


# --- an output that is also an input ------------------------------------------------------------


def test_output_through_a_symbolic_link_to_an_input_is_refused(tmp_path):
    data = tmp_path / "inputs.json"
    data.write_text("[1.0, 2.0]")
    link = tmp_path / "out.json"
    link.symlink_to(data)
    with pytest.raises(AdcheckError) as caught:
        refuse_overwriting_inputs(link, [tmp_path / "other.json", data])
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(caught.value) == (f"output {link} is the input file {data}; refusing to overwrite it "
                                 "(write the output to another path)")
    assert data.read_text() == "[1.0, 2.0]"


def test_output_spelled_differently_from_the_input_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.json").write_text("[1.0]")
    with pytest.raises(AdcheckError):
        refuse_overwriting_inputs("./x.json", ["x.json"])
    with pytest.raises(AdcheckError):  # not there yet: still the same path
        refuse_overwriting_inputs("sub/../y.json", [tmp_path / "y.json"])


def test_output_hard_linked_to_an_input_is_refused(tmp_path):
    data = tmp_path / "inputs.json"
    data.write_text("[1.0]")
    os.link(data, tmp_path / "out.json")
    with pytest.raises(AdcheckError):
        refuse_overwriting_inputs(tmp_path / "out.json", [data])


def test_output_to_another_path_is_allowed(tmp_path):
    data = tmp_path / "inputs.json"
    data.write_text("[1.0]")
    refuse_overwriting_inputs(tmp_path / "out.json", [data, None, "-"])
    refuse_overwriting_inputs("-", ["-"])  # standard output is no file
