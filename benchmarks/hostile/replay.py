#!/usr/bin/env python3
"""Replay hostile situations against the ``adcheck`` command line and check it kept its promises.

Each situation is what a user or a CI system really does (cancel a job, pipe the report into
``head``, point ``--output`` at the wrong file, check a function that forks, mistype a flag), run
as a real ``adcheck`` subprocess in a temporary directory of its own, with a time limit. The
promises (README: "Using it", "Exit codes", "Checking a whole project"):

- exit codes 0/1/2/3/130 as documented, and never 3 (an internal error) for anything a user or
  a user's function does;
- a user mistake is exit 2 with one line on stderr, no traceback, nothing on stdout;
- a misbehaving function is a row (``error``/``not-applicable``) and never takes adcheck down;
- stdout holds only the report (``--format json`` parses);
- no file the user had is lost or half-written;
- nothing adcheck started outlives it, and a caller capturing its output is not kept waiting.

Leftover processes are found by a marker: every situation puts a unique variable in adcheck's
environment, every descendant inherits it, and ``/proc/*/environ`` shows who still has it
(Linux only; a descendant that clears its own environment would escape the scan).

    python benchmarks/hostile/replay.py               # every situation, one line each
    python benchmarks/hostile/replay.py -v            # and, for each broken one, what happened
    python benchmarks/hostile/replay.py -k baseline   # only situations whose name has "baseline"
    python benchmarks/hostile/replay.py --list        # names and classes, nothing run

Exit 0 only when every situation kept the promises.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
MARKER = "ADCHECK_HOSTILE_MARKER"
FLAG_DIR = "HOSTILE_FLAG_DIR"

# How long adcheck has, after it exits (or is killed), before what it started counts as left
# behind and its output pipes as held open: the issue's "within 5 s".
GRACE = 5.0
# Interrupted, adcheck must exit within this many seconds of the signal.
SIGNAL_DEADLINE = 5.0


def adcheck_command() -> list[str]:
    """``adcheck`` next to this interpreter (a virtualenv's bin/), else ``python -m adcheck``."""
    script = Path(sys.executable).with_name("adcheck")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "adcheck"]


ADCHECK = adcheck_command()


# --- processes --------------------------------------------------------------------------------


def marked_processes(token: str) -> list[tuple[int, str]]:
    """Every live process whose environment carries this situation's marker: (pid, command line)."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
            if needle not in environ.split(b"\0"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0].decode()
        except OSError:  # gone, or not ours to read
            continue
        if state == "Z":  # a zombie runs nothing; its parent is what counts
            continue
        found.append((int(entry), cmdline[:160]))
    return found


def kill_marked(token: str) -> None:
    """SIGKILL everything carrying the marker until nothing does (a fork bomb keeps forking)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = marked_processes(token)
        if not found:
            return
        for pid, _ in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)


class _Reader(threading.Thread):
    """Reads one pipe to EOF, remembering when EOF came (a pipe held open by a leftover delays it)."""

    def __init__(self, pipe, limit: int | None = None):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.limit = limit  # close our end after this many bytes, as `| head -c N` does
        self.data = bytearray()
        self.eof_at: float | None = None

    def run(self):
        try:
            if self.limit is not None:
                if self.limit > 0:
                    self.data += self.pipe.read(self.limit)
                self.pipe.close()
                self.eof_at = time.monotonic()
                return
            while True:
                chunk = os.read(self.pipe.fileno(), 65536)
                if not chunk:
                    break
                self.data += chunk
        except (OSError, ValueError):
            pass
        self.eof_at = time.monotonic()

    def text(self) -> str:
        return bytes(self.data).decode(errors="replace")


@dataclass
class Outcome:
    command: str
    rc: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0  # start to exit
    after_signal: float | None = None  # signal to exit
    pipes_held: float | None = None  # exit to EOF on both pipes; None: still open after GRACE
    leftovers: list = field(default_factory=list)
    timed_out: bool = False

    def describe(self) -> str:
        lines = [f"command: {self.command}",
                 f"exit code: {self.rc}; {self.seconds:.1f} s" + (f"; {self.after_signal:.1f} s after the signal"
                                                              if self.after_signal is not None else "")]
        if self.stderr.strip():
            tail = self.stderr.strip().splitlines()
            shown = tail if len(tail) <= 12 else tail[:4] + [f"... ({len(tail) - 8} lines)"] + tail[-4:]
            lines += ["stderr: " + line[:300] for line in shown]
        if self.stdout.strip():
            lines.append(f"stdout: {len(self.stdout)} characters, first line {self.stdout.strip().splitlines()[0][:120]!r}")
        for pid, cmd in self.leftovers:
            lines.append(f"left running: pid {pid}: {cmd}")
        return "\n".join(lines)


class Sandbox:
    """One situation's temporary directory (a copy of the fixtures) and the adcheck runs in it."""

    def __init__(self, name: str, timeout: float = 120):
        self.timeout = timeout  # seconds any one run of this situation may take before it is killed
        self.root = Path(tempfile.mkdtemp(prefix=f"adcheck-hostile-{name}-"))
        self.work = self.root / "w"
        shutil.copytree(FIXTURES, self.work, ignore=shutil.ignore_patterns("__pycache__"))
        self.flags = self.root / "flags"
        self.flags.mkdir()
        self.token = uuid.uuid4().hex
        self.problems: list[str] = []  # broken generic promises, found by every run
        self.outcomes: list[Outcome] = []
        self.mounts: list[Path] = []

    # files
    def path(self, relative: str) -> Path:
        return self.work / relative

    def write(self, relative: str, text: str | bytes) -> Path:
        target = self.path(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)
        return target

    def wait_flag(self, name: str, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.flags / name).exists():
                return True
            time.sleep(0.05)
        return False

    def make_read_only(self, directory: Path) -> None:
        """A read-only checkout. root ignores permission bits, so as root the directory becomes a
        read-only bind mount of itself (a container's `-v src:/src:ro`); otherwise chmod 555."""
        if os.geteuid() != 0:
            os.chmod(directory, 0o555)
            return
        subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True, capture_output=True)
        self.mounts.append(directory)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory), str(directory)], check=True,
                       capture_output=True)

    def cleanup(self) -> None:
        kill_marked(self.token)
        for directory in reversed(self.mounts):
            subprocess.run(["umount", "-l", str(directory)], capture_output=True)
        for directory, _, _ in os.walk(self.root):  # a read-only situation made some unwritable
            try:
                os.chmod(directory, 0o755)
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    # running adcheck
    def run(self, args: list[str], *, timeout: float | None = None, env: dict | None = None, clean_env: bool = False,
            cwd: Path | str | None = None, action=None, stdin=subprocess.DEVNULL, file_size_limit: int | None = None,
            close_fds: tuple[int, ...] = (), stdout_limit: int | None = None,
            shell: str | None = None, expect_leftovers_ok: bool = False) -> Outcome:
        """Run adcheck (or ``shell``, a bash script with $ADCHECK) and check the promises every run
        keeps: no internal error, no traceback, the pipes closed and nothing left within GRACE."""
        timeout = timeout or self.timeout
        environment = {} if clean_env else {k: v for k, v in os.environ.items() if k != MARKER}
        environment.update(env or {})
        environment[MARKER] = self.token
        environment[FLAG_DIR] = str(self.flags)
        cwd = Path(cwd) if cwd is not None else self.work
        if shell is not None:
            environment["ADCHECK"] = " ".join(shlex.quote(a) for a in ADCHECK)
            argv = ["bash", "-c", shell]
            shown = shell.replace("$ADCHECK", "adcheck")
        else:
            argv = [*ADCHECK, *args]
            shown = "adcheck " + " ".join(shlex.quote(a) for a in args)
        prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        if clean_env:
            prefix = "env -i " + prefix
        if file_size_limit is not None:
            prefix = f"(ulimit -f {file_size_limit // 1024}) " + prefix
        for fd in close_fds:
            shown += f" {fd}>&-"
        command = f"cd {shlex.quote(str(cwd))} && {prefix + ' ' if prefix else ''}{shown}"
        outcome = Outcome(command=command)
        self.outcomes.append(outcome)

        def preexec():
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))
            for fd in close_fds:
                os.close(fd)

        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=cwd, env=environment, stdin=stdin, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True,
                                   preexec_fn=preexec if (file_size_limit or close_fds) else None)
        out = _Reader(process.stdout, stdout_limit)
        err = _Reader(process.stderr)
        out.start()
        err.start()
        signalled = None
        try:
            if action is not None:
                signalled = action(process, self, err)
            try:
                outcome.rc = process.wait(timeout=max(0.1, started + timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                outcome.timed_out = True
                _killpg(process.pid)
                outcome.rc = process.wait()
            exited = time.monotonic()
            outcome.seconds = exited - started
            if signalled is not None:
                outcome.after_signal = exited - signalled
            out.join(max(0.0, exited + GRACE - time.monotonic()))
            err.join(max(0.0, exited + GRACE - time.monotonic()))
            if not out.is_alive() and not err.is_alive():
                outcome.pipes_held = max(out.eof_at or exited, err.eof_at or exited) - exited
            while time.monotonic() < exited + GRACE:
                if not marked_processes(self.token):
                    break
                time.sleep(0.1)
            outcome.leftovers = marked_processes(self.token)
        finally:
            _killpg(process.pid)
            kill_marked(self.token)
            if process.poll() is None:
                process.kill()
                process.wait()
            out.join(10)
            err.join(10)
            if process.stdin is not None:
                process.stdin.close()
        outcome.stdout = out.text()
        outcome.stderr = err.text()

        if outcome.timed_out:
            self.problems.append(f"still running after {timeout:g} s (killed)")
        if outcome.rc == 3:
            self.problems.append("exit 3 (internal error): " + first_line(outcome.stderr))
        if "Traceback (most recent call last)" in outcome.stderr or "Exception ignored" in outcome.stderr:
            self.problems.append("a traceback on stderr: " + traceback_summary(outcome.stderr))
        if outcome.pipes_held is None:
            self.problems.append(f"stdout/stderr still open {GRACE:g} s after adcheck exited "
                                 "(a caller capturing output would wait)")
        if outcome.leftovers and not expect_leftovers_ok:
            self.problems.append(f"{len(outcome.leftovers)} process(es) left running {GRACE:g} s after adcheck "
                                 f"ended: " + "; ".join(cmd[:70] for _, cmd in outcome.leftovers[:3]))
        return outcome


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "(nothing on stderr)"


def traceback_summary(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Traceback") or line.startswith("Exception ignored"):
            tail = [entry for entry in lines[i:] if not entry.startswith(" ")]
            return (tail[-1] if tail else line)[:200]
    return lines[-1][:200] if lines else ""


# --- what a situation expects ------------------------------------------------------------------


def nonempty_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def expect_rc(outcome: Outcome, *codes: int) -> list[str]:
    if outcome.rc in codes or outcome.rc == 3:  # exit 3 is reported once, by Sandbox.run
        return []
    wanted = " or ".join(map(str, codes))
    return [f"exit {outcome.rc} (wanted {wanted}): {first_line(outcome.stderr)}"]


def expect_usage_error(outcome: Outcome, *mentions, stdout_empty: bool = True) -> list[str]:
    """Exit 2, one line on stderr naming what was wrong (each mention: a string or a tuple of
    alternatives, case-insensitive), nothing on stdout."""
    problems = expect_rc(outcome, 2)
    lines = nonempty_lines(outcome.stderr)
    if len(lines) != 1:
        problems.append(f"{len(lines)} lines on stderr, wanted one: " + " | ".join(line[:100] for line in lines[:4]))
    lowered = outcome.stderr.lower()
    for mention in mentions:
        alternatives = (mention,) if isinstance(mention, str) else mention
        if not any(alt.lower() in lowered for alt in alternatives):
            problems.append(f"stderr does not name {' or '.join(map(repr, alternatives))}: {first_line(outcome.stderr)}")
    if stdout_empty and outcome.stdout.strip():
        problems.append(f"stdout is not empty: {outcome.stdout.strip().splitlines()[0][:100]!r}")
    return problems


def nothing_checked(outcome: Outcome) -> bool:
    """Exit 2 with a report that says no AD backend could run the function, and why (README: exit 2
    is also "no AD backend could run the function"; the reasons are the report's rows)."""
    if outcome.rc != 2 or not outcome.stdout.strip():
        return False
    if "nothing checked" in outcome.stdout.lower():
        return True
    try:
        report = json.loads(outcome.stdout)
    except ValueError:
        return False
    rows = report.get("backends", []) if isinstance(report, dict) else []
    return any(row.get("status") == "not-applicable" and row.get("message") for row in rows)


def expect_nothing_checked(outcome: Outcome, *mentions) -> list[str]:
    """Exit 2, saying why: either the "nothing checked" report or a one-line error."""
    if nothing_checked(outcome):
        lowered = (outcome.stdout + outcome.stderr).lower()
        return [f"the report does not mention {m!r}" for m in mentions if m.lower() not in lowered]
    return expect_usage_error(outcome, *mentions)


def expect_ok_or_usage_error(outcome: Outcome, *ok_codes: int) -> list[str]:
    """Either it works (``ok_codes``) or it is a user-facing refusal: exit 2 in one line, or the
    "nothing checked" report."""
    if outcome.rc in ok_codes:
        return []
    if outcome.rc == 2:
        return expect_nothing_checked(outcome)
    return expect_rc(outcome, *ok_codes, 2)


def parse_json(outcome: Outcome) -> tuple[dict | None, list[str]]:
    try:
        return json.loads(outcome.stdout), []
    except ValueError as exc:
        return None, [f"stdout is not one JSON document ({exc}): {outcome.stdout.strip()[:80]!r}"]


def statuses(report: dict) -> dict[str, str]:
    return {row.get("name"): row.get("status") for row in report.get("backends", [])}


def expect_row(outcome: Outcome, backend: str, status: str | tuple, message: str | tuple | None = None,
               rc: tuple = (1,)) -> list[str]:
    """A run with --format json: exit ``rc``, the JSON parses, fd is the reference and
    ``backend``'s row has ``status`` (and ``message`` in its message)."""
    problems = expect_rc(outcome, *rc)
    if outcome.rc == 3:
        return problems
    report, bad = parse_json(outcome)
    if report is None:
        return problems + bad
    rows = {row.get("name"): row for row in report.get("backends", [])}
    wanted = (status,) if isinstance(status, str) else status
    if rows.get("fd", {}).get("status") != "reference":
        problems.append(f"fd row is {rows.get('fd', {}).get('status')!r}: {rows.get('fd', {}).get('message')!r}")
    row = rows.get(backend)
    if row is None:
        problems.append(f"no {backend} row in the report")
    elif row.get("status") not in wanted:
        problems.append(f"{backend} row is {row.get('status')!r} (wanted {'/'.join(wanted)}): {row.get('message')!r}")
    elif message is not None:
        alternatives = (message,) if isinstance(message, str) else message
        text = str(row.get("message") or "").lower()
        if not any(m.lower() in text for m in alternatives):
            problems.append(f"{backend} row message {row.get('message')!r} does not say {' or '.join(alternatives)}")
    return problems


def expect_file(path: Path, before: bytes | None) -> list[str]:
    """``path`` holds exactly ``before`` (None: it must not exist)."""
    if before is None:
        return [f"{path.name} was created"] if path.exists() else []
    if not path.exists():
        return [f"{path.name} is gone"]
    now = path.read_bytes()
    if now != before:
        return [f"{path.name} changed: {len(before)} bytes before, {len(now)} after"]
    return []


def stray_temporaries(directory: Path, before: set[str]) -> list[str]:
    new = sorted(set(os.listdir(directory)) - before)
    return [f"files left in {directory.name}/: {', '.join(new)}"] if new else []


# --- the situations --------------------------------------------------------------------------------


@dataclass
class Situation:
    group: str
    name: str
    what: str
    body: object
    timeout: float


SITUATIONS: list[Situation] = []


def situation(group: str, name: str, what: str, timeout: float = 120):
    def register(body):
        SITUATIONS.append(Situation(group, name, what, body, timeout))
        return body

    return register


X = ["--input", "[0.5, 1.0, 1.5]"]
AG = ["--backend", "autograd"]  # fd always runs too: the reference and the probes
JSON = ["--format", "json"]


def proc_run(sb: Sandbox, function: str, *extra: str, **kwargs) -> Outcome:
    return sb.run(["run", f"procs.py:{function}", *X, *AG, *JSON, *extra], **kwargs)


def signal_after_flag(sig: int, *, group: bool = False, also_progress: str | None = None):
    """An action: wait until the hanging worker has flagged itself (and, for ``check``, until a
    progress line says another case finished), then send ``sig`` like a terminal (``group``:
    Ctrl-C reaches the foreground process group) or a CI runner (the process)."""

    def act(process, sb: Sandbox, err: _Reader):
        if not sb.wait_flag("hanging", 60):
            sb.problems.append("the hanging function never started (no flag within 60 s)")
        if also_progress:
            deadline = time.monotonic() + 60
            while also_progress not in err.text() and time.monotonic() < deadline:
                time.sleep(0.05)
            if also_progress not in err.text():
                sb.problems.append(f"no {also_progress!r} progress line within 60 s")
        time.sleep(0.3)
        if group:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        return time.monotonic()

    return act


def expect_interrupted(outcome: Outcome, *, report_of: str | None = None, sigint: bool = False) -> list[str]:
    """Exit 130 within SIGNAL_DEADLINE of the signal, saying so. After Ctrl-C, death by SIGINT
    (-2 here) is the same thing to a shell ($? is 130 either way), so it counts too."""
    problems = expect_rc(outcome, 130, -signal.SIGINT) if sigint else expect_rc(outcome, 130)
    if outcome.after_signal is not None and outcome.after_signal > SIGNAL_DEADLINE:
        problems.append(f"exited {outcome.after_signal:.1f} s after the signal (wanted <= {SIGNAL_DEADLINE:g} s)")
    if "interrupted" not in outcome.stderr.lower():
        problems.append("stderr does not say it was interrupted")
    if report_of and report_of not in outcome.stdout:
        problems.append(f"no report of the finished case {report_of} on stdout")
    return problems


def expect_gone_after_kill(outcome: Outcome) -> list[str]:
    problems = []
    if outcome.rc != -signal.SIGKILL:
        problems.append(f"exit {outcome.rc}: adcheck was not the one killed (wanted -9)")
    return problems


PROJECT_HEAD = """[tool.adcheck]
backends = ["autograd"]
"""


def case(target: str, extra: str = 'input = [0.5, 1.0, 1.5]') -> str:
    return f'\n[[tool.adcheck.case]]\ntarget = "{target}"\n{extra}\n'


# 1. Processes -------------------------------------------------------------------------------------

@situation("processes", "sigterm-run-hanging", "kill -TERM of `run` while autograd hangs")
def _(sb):
    o = proc_run(sb, "hangs", action=signal_after_flag(signal.SIGTERM))
    return expect_interrupted(o)


@situation("processes", "sigint-run-hanging", "Ctrl-C (SIGINT to the process group) of `run` while autograd hangs")
def _(sb):
    o = proc_run(sb, "hangs", action=signal_after_flag(signal.SIGINT, group=True))
    return expect_interrupted(o, sigint=True)


@situation("processes", "sigterm-check-hanging", "kill -TERM of `check` -j 2: one case done, one hanging")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good") + case("procs.py:hangs"))
    o = sb.run(["check", "-j", "2"], action=signal_after_flag(signal.SIGTERM, also_progress="[1/2]"))
    return expect_interrupted(o, report_of="funcs.py:good")


def impatient_ctrl_c(process, sb: Sandbox, err: _Reader):
    """Ctrl-C, then Ctrl-C again a tenth of a second later, while adcheck is cleaning up."""
    if not sb.wait_flag("hanging", 60):
        sb.problems.append("the hanging function never started (no flag within 60 s)")
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    sent = time.monotonic()
    time.sleep(0.1)
    try:
        os.killpg(process.pid, signal.SIGINT)
    except OSError:  # already gone: fine
        pass
    return sent


def early_ctrl_c(process, sb: Sandbox, err: _Reader):
    """Ctrl-C 0.3 s after the start: adcheck is still importing its own modules."""
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    return time.monotonic()


@situation("processes", "double-ctrl-c-check", "Ctrl-C twice in quick succession on a `check` with a hanging case")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:hangs_with_child") + case("funcs.py:good"))
    o = sb.run(["check", "-j", "2"], action=impatient_ctrl_c)
    return expect_interrupted(o, sigint=True)


@situation("processes", "early-ctrl-c", "Ctrl-C 0.3 s after `adcheck check` starts (while it imports)")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:hangs_with_child") + case("funcs.py:good"))
    o = sb.run(["check", "-j", "2"], action=early_ctrl_c)
    return expect_rc(o, 130, -signal.SIGINT)


@situation("processes", "sigint-check-hanging", "Ctrl-C of `check` -j 2: one case done, one hanging")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good") + case("procs.py:hangs"))
    o = sb.run(["check", "-j", "2", "--format", "json"],
               action=signal_after_flag(signal.SIGINT, group=True, also_progress="[1/2]"))
    problems = expect_interrupted(o, report_of="funcs.py:good", sigint=True)
    if o.stdout.strip():
        problems += parse_json(o)[1]
    return problems


@situation("processes", "sigterm-check-queued", "kill -TERM of `check` -j 1 with a hanging case and two queued")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:hangs") + case("funcs.py:good") * 2)
    o = sb.run(["check", "-j", "1"], action=signal_after_flag(signal.SIGTERM))
    return expect_interrupted(o)


@situation("processes", "sigterm-check-hanging-with-child", "kill -TERM of `check` whose hanging case started a child")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:hangs_with_child"))
    o = sb.run(["check"], action=signal_after_flag(signal.SIGTERM))
    return expect_interrupted(o)


@situation("processes", "sigterm-run-function-ignores-signals", "kill -TERM of `run` whose function ignores SIGTERM/SIGINT/SIGHUP")
def _(sb):
    o = proc_run(sb, "hangs_ignoring_signals", action=signal_after_flag(signal.SIGTERM))
    return expect_interrupted(o)


@situation("processes", "sigint-run-hanging-in-c", "Ctrl-C of `run` while autograd sleeps inside C (libc sleep)")
def _(sb):
    o = proc_run(sb, "hangs_in_c", action=signal_after_flag(signal.SIGINT, group=True))
    return expect_interrupted(o, sigint=True)


@situation("processes", "sigterm-run-hanging-at-import", "kill -TERM of `run` while the user's module hangs at import")
def _(sb):
    o = sb.run(["run", "hangs_at_import.py:f", *X, *AG], action=signal_after_flag(signal.SIGTERM))
    return expect_interrupted(o)


@situation("processes", "sigkill-run", "kill -KILL of `run` whose hanging function started a child: nothing left in 5 s")
def _(sb):
    o = proc_run(sb, "hangs_with_child", action=signal_after_flag(signal.SIGKILL))
    return expect_gone_after_kill(o)


@situation("processes", "sigkill-check", "kill -KILL of `check` -j 2 (a hanging case with a child, a good one): nothing left in 5 s")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:hangs_with_child") + case("funcs.py:good"))
    o = sb.run(["check", "-j", "2"], action=signal_after_flag(signal.SIGKILL))
    return expect_gone_after_kill(o)


@situation("processes", "sighup-run", "SIGHUP to `run` (the terminal closed) while autograd hangs: nothing left")
def _(sb):
    proc_run(sb, "hangs_with_child", action=signal_after_flag(signal.SIGHUP))
    return []


@situation("processes", "timeout-hang-with-child", "--timeout 3 on a function that hangs after starting a child")
def _(sb):
    o = proc_run(sb, "hangs_with_child", "--timeout", "3")
    problems = expect_row(o, "autograd", "error", ("timed out", "timeout"))
    if o.seconds > 45:
        problems.append(f"took {o.seconds:.0f} s with --timeout 3")
    return problems


@situation("processes", "spawns-child", "the function starts a child process (subprocess.Popen) and returns")
def _(sb):
    return expect_row(proc_run(sb, "spawns_child"), "autograd", "agree", rc=(0,))


@situation("processes", "spawns-setsid-child", "the function starts a child in a session of its own (start_new_session)")
def _(sb):
    return expect_row(proc_run(sb, "spawns_setsid_child"), "autograd", "agree", rc=(0,))


@situation("processes", "spawns-daemon", "the function starts a daemon (fork, setsid, fork: an orphan in its own session)")
def _(sb):
    return expect_row(proc_run(sb, "spawns_daemon"), "autograd", "agree", rc=(0,))


@situation("processes", "child-holds-stderr", "the function's child keeps adcheck's stdout/stderr open")
def _(sb):
    return expect_row(proc_run(sb, "child_holds_stderr"), "autograd", "agree", rc=(0,))


@situation("processes", "setsid-child-holds-stderr", "a child in its own session keeps adcheck's stderr open")
def _(sb):
    return expect_row(proc_run(sb, "setsid_child_holds_stderr"), "autograd", "agree", rc=(0,))


@situation("processes", "killpg-sigterm", "the function calls os.killpg(0, SIGTERM)")
def _(sb):
    return expect_row(proc_run(sb, "killpg_term"), "autograd", "error", "SIGTERM")


@situation("processes", "killpg-sigkill", "the function calls os.killpg(0, SIGKILL)")
def _(sb):
    return expect_row(proc_run(sb, "killpg_kill"), "autograd", "error", "SIGKILL")


@situation("processes", "kills-parent", "the function calls os.kill(os.getppid(), SIGTERM) while fd still computes")
def _(sb):
    return expect_row(proc_run(sb, "kills_parent"), "autograd", ("agree", "error"), rc=(0, 1))


@situation("processes", "kills-parent-in-check", "`check` -j 1: a case kills its parent process, the next case must still run")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:kills_parent") + case("funcs.py:good"))
    o = sb.run(["check", "-j", "1", "--format", "json"])
    problems = expect_rc(o, 0, 1)
    report, bad = parse_json(o)
    if report is None:
        return problems + bad
    cases = report.get("cases") or []
    if len(cases) != 2:
        problems.append(f"{len(cases)} case reports, wanted 2")
    elif statuses(cases[1]).get("autograd") != "agree":
        problems.append(f"the case after it: {statuses(cases[1])}")
    return problems


@situation("processes", "os-exit", "the function calls os._exit(0)")
def _(sb):
    return expect_row(proc_run(sb, "hard_exit"), "autograd", "error")


@situation("processes", "sys-exit-zero", "the function calls sys.exit(0)")
def _(sb):
    return expect_row(proc_run(sb, "exits_zero"), "autograd", "error")


@situation("processes", "segfault", "the function dereferences a null pointer (SIGSEGV)")
def _(sb):
    return expect_row(proc_run(sb, "segfault"), "autograd", "error", "SIGSEGV")


@situation("processes", "abort", "the function calls os.abort() (SIGABRT)")
def _(sb):
    return expect_row(proc_run(sb, "aborts"), "autograd", "error", "SIGABRT")


@situation("processes", "infinite-recursion", "infinite recursion (RecursionError)")
def _(sb):
    return expect_row(proc_run(sb, "recursion"), "autograd", "error", "recursion")


@situation("processes", "c-stack-overflow", "recursion with sys.setrecursionlimit(10**8): the C stack overflows")
def _(sb):
    return expect_row(proc_run(sb, "c_stack_overflow"), "autograd", "error")


@situation("processes", "memory-hog", "a function that allocates without end, under --memory-limit 1G")
def _(sb):
    o = proc_run(sb, "hogs_memory", "--memory-limit", "1G")
    problems = expect_row(o, "autograd", "error", "memory")
    if o.seconds > 60:
        problems.append(f"took {o.seconds:.0f} s")
    return problems


@situation("processes", "fork-bomb", "a small fork bomb: 39 forked copies of the worker, each sleeping")
def _(sb):
    return expect_row(proc_run(sb, "fork_bomb"), "autograd", "agree", rc=(0,))


@situation("processes", "fork-without-exec", "os.fork() in the function: both copies carry on with the worker's code")
def _(sb):
    return expect_row(proc_run(sb, "fork_no_exec"), "autograd", ("agree", "error"), rc=(0, 1))


@situation("processes", "threads-left-running", "the function leaves a non-daemon sleeping thread and a spinning thread")
def _(sb):
    o = proc_run(sb, "threads_left")
    problems = expect_row(o, "autograd", "agree", rc=(0,))
    if o.seconds > 45:
        problems.append(f"took {o.seconds:.0f} s")
    return problems


@situation("processes", "closes-fd-1", "the function closes fd 1")
def _(sb):
    return expect_row(proc_run(sb, "closes_stdout"), "autograd", "agree", rc=(0,))


@situation("processes", "closes-fd-2", "the function closes fd 2")
def _(sb):
    return expect_row(proc_run(sb, "closes_stderr"), "autograd", "agree", rc=(0,))


@situation("processes", "closes-every-fd", "the function closes every file descriptor (os.closerange)")
def _(sb):
    return expect_row(proc_run(sb, "closes_every_fd"), "autograd", "error")


@situation("processes", "stops-itself", "the function sends itself SIGSTOP, under --timeout 4")
def _(sb):
    return expect_row(proc_run(sb, "stops_itself", "--timeout", "4"), "autograd", "error")


@situation("processes", "reads-stdin", "the function reads stdin, which the caller holds open and never writes")
def _(sb):
    o = proc_run(sb, "reads_stdin", "--timeout", "20", stdin=subprocess.PIPE)
    problems = expect_row(o, "autograd", ("agree", "error"), rc=(0, 1))
    if o.seconds > 30:
        problems.append(f"took {o.seconds:.0f} s")
    return problems


@situation("processes", "sighup-self", "the function sends itself SIGHUP")
def _(sb):
    return expect_row(proc_run(sb, "sighup_self"), "autograd", "error", "SIGHUP")


@situation("processes", "print-flood-json", "the function prints megabytes to stdout and writes to fd 1; --format json")
def _(sb):
    o = sb.run(["run", "procs.py:prints_a_flood_everywhere", *X, *AG, *JSON])
    problems = expect_row(o, "autograd", "agree", rc=(0,))
    if "hostile" in o.stdout:
        problems.append("the function's output reached stdout")
    return problems


@situation("processes", "report-into-closed-pipe", "`adcheck run ... | true`: the reader is gone before the report")
def _(sb):
    sb.run(["run", "funcs.py:good", *X, *AG], stdout_limit=0)
    return []


@situation("processes", "killpg-in-check", "`check` -j 2: one case kills its process group, the other is good")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("procs.py:killpg_kill") + case("funcs.py:good"))
    o = sb.run(["check", "-j", "2", "--format", "json"])
    problems = expect_rc(o, 1)
    report, bad = parse_json(o)
    if report is None:
        return problems + bad
    rows = [statuses(c) for c in report.get("cases") or []]
    if len(rows) != 2 or rows[0].get("autograd") != "error" or rows[1].get("autograd") != "agree":
        problems.append(f"case rows: {rows}")
    return problems


# Two adcheck commands at once; the exit status is 0 only when both exit 0.
BOTH = "$ADCHECK {a} & first=$!; $ADCHECK {b} & second=$!; wait $first; a=$?; wait $second; b=$?; exit $((a | b))"


# 2. Data -----------------------------------------------------------------------------------------

LONG_DIR = "a_directory_name_long_enough_that_the_baseline_outgrows_one_kilobyte_" * 2
OLD_BASELINE = json.dumps({"failures": {"funcs.py:gone": {"autograd": "disagree"}}, "version": 1},
                          indent=2, sort_keys=True) + "\n"


def failing_project(sb: Sandbox, cases: int = 1, long_paths: bool = False) -> None:
    target = "funcs.py:wrong"
    if long_paths:
        (sb.work / LONG_DIR).mkdir()
        shutil.copy(sb.work / "funcs.py", sb.work / LONG_DIR / "funcs_with_a_wrong_derivative.py")
        target = f"{LONG_DIR}/funcs_with_a_wrong_derivative.py:wrong"
    sb.write("pyproject.toml", PROJECT_HEAD + case(target) * cases)


@situation("data", "baseline-full-disk", "--update-baseline under `ulimit -f 1`: the old baseline stays intact")
def _(sb):
    failing_project(sb, cases=6, long_paths=True)
    baseline = sb.write(".adcheck-baseline.json", OLD_BASELINE + " " * 1200)  # bigger than 1 KB, valid
    before = baseline.read_bytes()
    listing = set(os.listdir(sb.work))
    o = sb.run(["check", "-q", "--update-baseline", "--no-lint"], file_size_limit=1024)
    problems = expect_rc(o, 2) + expect_file(baseline, before) + stray_temporaries(sb.work, listing)
    if len(nonempty_lines(o.stderr)) != 1:
        problems.append(f"{len(nonempty_lines(o.stderr))} lines on stderr, wanted one")
    return problems


@situation("data", "output-full-disk", "--output over an existing report under `ulimit -f 1`: the old report stays intact")
def _(sb):
    report = sb.write("report.json", json.dumps({"old": "x" * 2000}))
    before = report.read_bytes()
    listing = set(os.listdir(sb.work))
    o = sb.run(["run", "funcs.py:good", "--random", "8", *AG, *JSON, "--output", "report.json"],
               file_size_limit=1024)
    problems = expect_usage_error(o, "report.json", stdout_empty=False) + expect_file(report, before)
    return problems + stray_temporaries(sb.work, listing)


@situation("data", "baseline-readonly-directory", "--update-baseline in a read-only project directory")
def _(sb):
    failing_project(sb)
    baseline = sb.write(".adcheck-baseline.json", OLD_BASELINE)
    before = baseline.read_bytes()
    sb.make_read_only(sb.work)
    o = sb.run(["check", "-q", "--update-baseline", "--no-lint"])
    problems = expect_rc(o, 2) + expect_file(baseline, before)
    if len(nonempty_lines(o.stderr)) != 1:
        problems.append(f"{len(nonempty_lines(o.stderr))} lines on stderr, wanted one: {first_line(o.stderr)}")
    return problems


@situation("data", "output-is-input", "--output names the @input file")
def _(sb):
    data = sb.write("x.json", "[0.5, 1.0, 1.5]")
    o = sb.run(["run", "funcs.py:good", "--input", "@x.json", *AG, *JSON, "--output", "x.json"])
    return expect_usage_error(o, "x.json") + expect_file(data, b"[0.5, 1.0, 1.5]")


@situation("data", "output-is-input-hard-link", "--output names a hard link to the @input .npy")
def _(sb):
    import numpy as np

    np.save(sb.path("x.npy"), np.array([0.5, 1.0, 1.5]))
    os.link(sb.path("x.npy"), sb.path("same.npy"))
    before = sb.path("x.npy").read_bytes()
    o = sb.run(["run", "funcs.py:good", "--input", "@x.npy", *AG, *JSON, "--output", "same.npy"])
    return expect_usage_error(o, "same.npy") + expect_file(sb.path("x.npy"), before)


@situation("data", "output-is-input-symlink", "--output names a symbolic link to the @input file")
def _(sb):
    data = sb.write("x.json", "[0.5, 1.0, 1.5]")
    os.symlink("x.json", sb.path("link.json"))
    o = sb.run(["run", "funcs.py:good", "--input", "@x.json", *AG, "--output", "link.json"])
    return expect_usage_error(o, "link.json") + expect_file(data, b"[0.5, 1.0, 1.5]")


@situation("data", "output-is-user-module", "`run --output` names the user's own module")
def _(sb):
    before = sb.path("funcs.py").read_bytes()
    o = sb.run(["run", "funcs.py:good", *X, *AG, "--format", "sarif", "--output", "funcs.py"])
    return expect_usage_error(o, "funcs.py") + expect_file(sb.path("funcs.py"), before)


@situation("data", "check-output-is-pyproject", "`check --output pyproject.toml`")
def _(sb):
    failing_project(sb)
    before = sb.path("pyproject.toml").read_bytes()
    o = sb.run(["check", "--format", "junit", "--output", "pyproject.toml"])
    return expect_usage_error(o, "pyproject.toml") + expect_file(sb.path("pyproject.toml"), before)


@situation("data", "check-output-is-case-module", "`check --output` names a module one of the cases checks")
def _(sb):
    failing_project(sb)
    before = sb.path("funcs.py").read_bytes()
    o = sb.run(["check", "--format", "markdown", "--output", "./funcs.py"])
    return expect_usage_error(o, "funcs.py") + expect_file(sb.path("funcs.py"), before)


@situation("data", "check-output-is-baseline", "`check --output` names the baseline file")
def _(sb):
    failing_project(sb)
    baseline = sb.write(".adcheck-baseline.json", OLD_BASELINE)
    o = sb.run(["check", "--format", "json", "--output", ".adcheck-baseline.json"])
    return expect_usage_error(o, ".adcheck-baseline.json") + expect_file(baseline, OLD_BASELINE.encode())


@situation("data", "output-missing-directory", "--output into a directory that does not exist")
def _(sb):
    o = sb.run(["run", "funcs.py:good", *X, *AG, *JSON, "--output", "no/such/dir/report.json"])
    return expect_usage_error(o, "no/such/dir", stdout_empty=False)


@situation("data", "output-is-directory", "--output names an existing directory")
def _(sb):
    (sb.work / "reports").mkdir()
    o = sb.run(["run", "funcs.py:good", *X, *AG, *JSON, "--output", "reports"])
    return expect_usage_error(o, "reports", stdout_empty=False)


@situation("data", "output-parent-is-file", "--output under a path whose parent is a file (funcs.py/report.json)")
def _(sb):
    before = sb.path("funcs.py").read_bytes()
    o = sb.run(["run", "funcs.py:good", *X, *AG, *JSON, "--output", "funcs.py/report.json"])
    return expect_usage_error(o, "report.json", stdout_empty=False) + expect_file(sb.path("funcs.py"), before)


@situation("data", "output-dev-stdout", "--format json --output /dev/stdout (a CI habit)")
def _(sb):
    o = sb.run(["run", "funcs.py:good", *X, *AG, *JSON, "--output", "/dev/stdout"])
    return expect_ok_or_usage_error(o, 0)


@situation("data", "symlinked-baseline-update", "--update-baseline where the baseline is a symbolic link into another directory")
def _(sb):
    failing_project(sb)
    shared = sb.root / "shared"
    shared.mkdir()
    (shared / "baseline.json").write_text(OLD_BASELINE)
    os.symlink(shared / "baseline.json", sb.path(".adcheck-baseline.json"))
    o = sb.run(["check", "-q", "--update-baseline", "--no-lint"])
    problems = expect_rc(o, 0)
    link = sb.path(".adcheck-baseline.json")
    if not link.is_symlink():
        problems.append("the baseline symlink was replaced by a plain file")
    try:
        data = json.loads((shared / "baseline.json").read_text())
        if "funcs.py:wrong" not in data.get("failures", {}):
            problems.append(f"the linked baseline does not record the failure: {data}")
    except ValueError as exc:
        problems.append(f"the linked baseline is not JSON: {exc}")
    return problems


@situation("data", "symlinked-baseline-read", "`check` accepts a failure recorded in a symlinked baseline")
def _(sb):
    failing_project(sb)
    shared = sb.root / "shared"
    shared.mkdir()
    text = json.dumps({"failures": {"funcs.py:wrong": {"autograd": "disagree"}}, "version": 1}, indent=2,
                      sort_keys=True) + "\n"
    (shared / "baseline.json").write_text(text)
    os.symlink(shared / "baseline.json", sb.path(".adcheck-baseline.json"))
    o = sb.run(["check", "-q", "--no-lint"])
    return expect_rc(o, 0) + expect_file(shared / "baseline.json", text.encode())


@situation("data", "malformed-baseline", "`check` with a baseline that is not JSON (a merge conflict)")
def _(sb):
    failing_project(sb)
    text = "<<<<<<< HEAD\n{}\n=======\n{\"failures\": {}}\n>>>>>>> branch\n"
    baseline = sb.write(".adcheck-baseline.json", text)
    o = sb.run(["check", "-q", "--no-lint"])
    return expect_usage_error(o, ".adcheck-baseline.json", stdout_empty=False) + expect_file(baseline, text.encode())


@situation("data", "baseline-is-directory", "`check --update-baseline` where the baseline path is a directory")
def _(sb):
    failing_project(sb)
    (sb.work / ".adcheck-baseline.json").mkdir()
    o = sb.run(["check", "-q", "--update-baseline", "--no-lint"])
    return expect_usage_error(o, ".adcheck-baseline.json", stdout_empty=False)


@situation("data", "concurrent-baseline-updates", "two `check --update-baseline` at once in one checkout (a CI matrix)")
def _(sb):
    failing_project(sb)
    listing = set(os.listdir(sb.work))
    o = sb.run([], shell=BOTH.format(a="check -q --update-baseline --no-lint", b="check -q --update-baseline --no-lint"))
    problems = expect_rc(o, 0)
    try:
        data = json.loads(sb.path(".adcheck-baseline.json").read_text())
        if "funcs.py:wrong" not in data.get("failures", {}):
            problems.append(f"the baseline does not record the failure: {data}")
    except (OSError, ValueError) as exc:
        problems.append(f"the baseline is not JSON: {exc}")
    return problems + stray_temporaries(sb.work, listing | {".adcheck-baseline.json", "__pycache__"})


# 3. Loading --------------------------------------------------------------------------------------

def load_ok(sb, target, *, cwd=None, env=None, extra=()):
    return expect_rc(sb.run(["run", target, *X, *AG, *extra], cwd=cwd, env=env), 0)


@situation("loading", "file-in-package-relative-imports", "a file target inside a package, using `from .helpers import g`")
def _(sb):
    return load_ok(sb, "loading/relpkg/core.py:f")


@situation("loading", "file-in-subpackage-parent-import", "a file two levels down using `from ..helpers import g`")
def _(sb):
    return load_ok(sb, "loading/relpkg/sub/deep.py:f")


@situation("loading", "module-target-pythonpath", "`relpkg.core:f` with PYTHONPATH=.")
def _(sb):
    return load_ok(sb, "relpkg.core:f", cwd=sb.work / "loading", env={"PYTHONPATH": "."})


@situation("loading", "module-target-namespace-package", "`nspkg.mod:f` in a namespace package, with PYTHONPATH=.")
def _(sb):
    return load_ok(sb, "nspkg.mod:f", cwd=sb.work / "loading" / "nsroot", env={"PYTHONPATH": "."})


@situation("loading", "file-in-namespace-package", "a file target in a namespace package that imports relatively")
def _(sb):
    o = sb.run(["run", "loading/nsroot/nspkg/mod.py:f", *X, *AG])
    return expect_ok_or_usage_error(o, 0)


@situation("loading", "module-target-from-cwd", "`cwdpkg.mod:f` run from the directory holding the package, no PYTHONPATH")
def _(sb):
    o = sb.run(["run", "cwdpkg.mod:f", *X, *AG], cwd=sb.work / "loading")
    return expect_ok_or_usage_error(o, 0)


@situation("loading", "non-identifier-file-name", "a file named my-funcs.v2.py")
def _(sb):
    return load_ok(sb, "loading/my-funcs.v2.py:f")


@situation("loading", "target-in-init", "a function defined in a package's __init__.py, as a file")
def _(sb):
    return load_ok(sb, "loading/initpkg/__init__.py:f")


@situation("loading", "package-module-target", "`initpkg:f` (the package itself) with PYTHONPATH=.")
def _(sb):
    return load_ok(sb, "initpkg:f", cwd=sb.work / "loading", env={"PYTHONPATH": "."})


@situation("loading", "module-imports-itself", "a module that imports itself by name")
def _(sb):
    return load_ok(sb, "loading/selfimport.py:f")


@situation("loading", "sibling-import-and-chdir", "a module importing a sibling by plain name and chdir-ing at import")
def _(sb):
    return load_ok(sb, "loading/chdir_at_import.py:f")


@situation("loading", "stdlib-named-file", "a user file named random.py")
def _(sb):
    return expect_ok_or_usage_error(sb.run(["run", "loading/stdlib_named/random.py:f", *X, *AG]), 0)


@situation("loading", "latin1-coding-declaration", "a latin-1 file with a `# -*- coding: latin-1 -*-` line")
def _(sb):
    return load_ok(sb, "loading/latin1.py:f")


@situation("loading", "crlf-bom-file", "a file saved with a UTF-8 BOM and CRLF line endings")
def _(sb):
    sb.write("windows.py", b"\xef\xbb\xbfimport numpy as np\r\n\r\n\r\ndef f(x):\r\n    return np.sin(x) * 3.0\r\n")
    return load_ok(sb, "windows.py:f")


@situation("loading", "symlinked-target-file", "a target file that is a symbolic link to a file in another directory")
def _(sb):
    elsewhere = sb.root / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(sb.path("funcs.py"), elsewhere / "real_funcs.py")
    os.symlink(elsewhere / "real_funcs.py", sb.path("linked.py"))
    return load_ok(sb, "linked.py:good")


@situation("loading", "path-with-spaces-and-unicode", "a target under `my dir/fünc.py`, with LC_ALL=C")
def _(sb):
    sb.write("my dir/fünc.py", "import numpy as np\n\n\ndef f(x):\n    return np.sin(x)\n")
    return load_ok(sb, "my dir/fünc.py:f", env={"LC_ALL": "C"})


@situation("loading", "syntax-error", "a file with a syntax error")
def _(sb):
    return expect_usage_error(sb.run(["run", "loading/syntax_error.py:f", *X, *AG]), "syntax_error.py")


@situation("loading", "raises-at-import", "a module that raises at import")
def _(sb):
    return expect_usage_error(sb.run(["run", "loading/raises_at_import.py:f", *X, *AG]),
                              ("RuntimeError", "refuses to be imported"))


@situation("loading", "exits-at-import", "a module that calls sys.exit(0) at import")
def _(sb):
    return expect_usage_error(sb.run(["run", "loading/exits_at_import.py:f", *X, *AG]), "exits_at_import")


@situation("loading", "relative-import-outside-package", "a relative import in a file that is not in a package")
def _(sb):
    return expect_usage_error(sb.run(["run", "loading/relative_outside.py:f", *X, *AG]), "relative_outside")


@situation("loading", "target-is-a-class", "the target is a class (calling it builds an instance)")
def _(sb):
    return expect_usage_error(sb.run(["run", "shapes.py:Model", *X, *AG]), "Model")


@situation("loading", "target-is-an-instance", "the target is a callable instance")
def _(sb):
    return load_ok(sb, "shapes.py:scaled")


@situation("loading", "target-is-a-staticmethod", "`shapes.py:Scale.static`")
def _(sb):
    return load_ok(sb, "shapes.py:Scale.static")


@situation("loading", "target-is-a-lambda", "the target is a module-level lambda")
def _(sb):
    return load_ok(sb, "shapes.py:squared")


@situation("loading", "target-is-a-partial", "the target is a functools.partial")
def _(sb):
    return load_ok(sb, "shapes.py:cubed")


@situation("loading", "target-is-async", "the target is an `async def`")
def _(sb):
    o = sb.run(["run", "shapes.py:coroutine", *X, *AG])
    problems = expect_usage_error(o, "coroutine")
    if "never awaited" in o.stderr or "Warning" in o.stderr:
        problems.append("warnings on stderr")
    return problems


@situation("loading", "target-is-a-generator", "the target is a generator function")
def _(sb):
    return expect_usage_error(sb.run(["run", "shapes.py:generator", *X, *AG]), "generator")


@situation("loading", "target-is-not-callable", "the target is a module-level float")
def _(sb):
    return expect_usage_error(sb.run(["run", "shapes.py:CONSTANT", *X, *AG]), "CONSTANT")


@situation("loading", "target-missing-attribute", "the target names a function the file does not have")
def _(sb):
    return expect_usage_error(sb.run(["run", "shapes.py:nope", *X, *AG]), "nope")


@situation("loading", "target-missing-file", "the target's file does not exist")
def _(sb):
    return expect_usage_error(sb.run(["run", "nowhere.py:f", *X, *AG]), "nowhere.py")


@situation("loading", "target-missing-module", "a module target whose module does not exist")
def _(sb):
    return expect_usage_error(sb.run(["run", "relpkg.nope:f", *X, *AG], cwd=sb.work / "loading",
                                     env={"PYTHONPATH": "."}), "relpkg.nope")


@situation("loading", "target-without-function", "the target is a file with no `:func`")
def _(sb):
    return expect_usage_error(sb.run(["run", "funcs.py", *X, *AG]), "funcs.py")


@situation("loading", "builtin-numpy-sin", "`numpy:sin`, a builtin ufunc of an installed package")
def _(sb):
    o = sb.run(["run", "numpy:sin", *X])
    return expect_ok_or_usage_error(o, 0)


@situation("loading", "installed-package-target", "`scipy.optimize:rosen`: code in an installed package, nothing to check")
def _(sb):
    o = sb.run(["run", "scipy.optimize:rosen", *X])
    return expect_nothing_checked(o, "installed package")


@situation("loading", "builtin-math-sin", "`math:sin` on a scalar")
def _(sb):
    return expect_ok_or_usage_error(sb.run(["run", "math:sin", "--input", "0.5"]), 0)


# 4. Input ------------------------------------------------------------------------------------------

BASE = ["run", "funcs.py:good", *X, *AG]
BAD_OPTIONS = [
    ("seed-negative", ["run", "funcs.py:good", "--random", "3", "--seed", "-1"], "--seed"),
    ("seed-fraction", ["run", "funcs.py:good", "--random", "3", "--seed", "1.5"], "--seed"),
    ("timeout-nan", [*BASE, "--timeout", "nan"], "--timeout"),
    ("timeout-zero", [*BASE, "--timeout", "0"], "--timeout"),
    ("timeout-negative", [*BASE, "--timeout", "-1"], "--timeout"),
    ("timeout-inf", [*BASE, "--timeout", "inf"], "--timeout"),
    ("timeout-1e12", [*BASE, "--timeout", "1e12"], "--timeout"),
    ("memory-limit-negative", [*BASE, "--memory-limit", "-1G"], "--memory-limit"),
    ("memory-limit-zero", [*BASE, "--memory-limit", "0"], "--memory-limit"),
    ("memory-limit-word", [*BASE, "--memory-limit", "abc"], "--memory-limit"),
    ("memory-limit-tiny", [*BASE, "--memory-limit", "1K"], "--memory-limit"),
    ("rtol-nan", [*BASE, "--rtol", "nan"], "--rtol"),
    ("rtol-negative", [*BASE, "--rtol", "-1e-6"], "--rtol"),
    ("atol-inf", [*BASE, "--atol", "inf"], "--atol"),
    ("order-3", [*BASE, "--order", "3"], "--order"),
    ("mode-slow", [*BASE, "--mode", "slow"], "--mode"),
    ("format-yaml", [*BASE, "--format", "yaml"], "--format"),
    ("backend-unknown", [*BASE, "--backend", "nope"], ("--backend", "nope")),
    ("wrt-out-of-range", [*BASE, "--wrt", "5"], "--wrt"),
    ("wrt-unknown-name", [*BASE, "--wrt", "nosuch"], "--wrt"),
    ("unknown-option", [*BASE, "--tolerance", "1e-6"], "--tolerance"),
    ("input-malformed-json", ["run", "funcs.py:good", "--input", "[1, 2", *AG], "--input"),
    ("input-ragged", ["run", "funcs.py:good", "--input", "[[1, 2], [3]]", *AG], "--input"),
    ("input-strings", ["run", "funcs.py:good", "--input", '["a", "b"]', *AG], "--input"),
    ("input-nan-literal", ["run", "funcs.py:good", "--input", "[NaN, 1.0]", *AG], "--input"),
    ("input-overflow-to-inf", ["run", "funcs.py:good", "--input", "[1e400, 1.0]", *AG], "--input"),
    ("input-missing-file", ["run", "funcs.py:good", "--input", "@missing.npy", *AG], "missing.npy"),
    ("input-unknown-extension", ["run", "funcs.py:good", "--input", "@pyproject.toml", *AG], "pyproject.toml"),
    ("input-empty-list", ["run", "funcs.py:good", "--input", "[]", *AG], "--input"),
    ("too-many-inputs", ["run", "funcs.py:good", *X, *X, *AG], ("argument", "--input")),
    ("too-few-inputs", ["run", "funcs.py:two_args", *X, *AG], ("argument", "--input")),
    ("random-huge", ["run", "funcs.py:good", "--random", "100000x100000", *AG], "--random"),
    ("random-zero", ["run", "funcs.py:good", "--random", "0", *AG], "--random"),
    ("random-malformed", ["run", "funcs.py:good", "--random", "3x", *AG], "--random"),
    ("random-and-input", ["run", "funcs.py:good", "--random", "3", *X, *AG], ("--random", "--input", "argument")),
    ("jobs-zero", ["check", "-j", "0"], ("--jobs", "-j")),
    ("check-no-cases", ["check"], ("no cases", "case")),
    ("check-missing-path", ["check", "no_such_dir"], "no_such_dir"),
]


def _bad_option(args, mention):
    def body(sb):
        if args[0] == "check" and args != ["check"]:
            sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good"))
        return expect_usage_error(sb.run(list(args)), mention)

    return body


for _name, _args, _mention in BAD_OPTIONS:
    situation("input", _name, "adcheck " + " ".join(_args))(_bad_option(_args, _mention))


@situation("input", "input-npy-nan", "--input @x.npy whose array holds NaN")
def _(sb):
    import numpy as np

    np.save(sb.path("x.npy"), np.array([0.5, np.nan, 1.5]))
    return expect_usage_error(sb.run(["run", "funcs.py:good", "--input", "@x.npy", *AG]), ("--input", "x.npy"))


@situation("input", "input-npz-empty", "--input @empty.npz holding no arrays")
def _(sb):
    import numpy as np

    np.savez(sb.path("empty.npz"))
    return expect_usage_error(sb.run(["run", "funcs.py:good", "--input", "@empty.npz", *AG]), "empty.npz")


@situation("input", "input-npy-pickle", "--input @x.npy holding a pickled object that runs code when loaded")
def _(sb):
    import numpy as np

    class Boom:
        def __reduce__(self):
            return (open, (str(sb.path("PWNED")), "w"))

    array = np.empty(1, dtype=object)
    array[0] = Boom()
    np.save(sb.path("x.npy"), array, allow_pickle=True)
    o = sb.run(["run", "funcs.py:good", "--input", "@x.npy", *AG])
    return expect_usage_error(o, ("--input", "x.npy")) + expect_file(sb.path("PWNED"), None)


@situation("input", "input-npy-complex", "--input @z.npy holding complex numbers")
def _(sb):
    import numpy as np

    np.save(sb.path("z.npy"), np.array([0.5 + 1j, 1.0]))
    o = sb.run(["run", "funcs.py:good", "--input", "@z.npy", *AG])
    return expect_ok_or_usage_error(o, 0, 1)


@situation("input", "input-json-file-malformed", "--input @x.json that is not JSON")
def _(sb):
    sb.write("x.json", "0.5, 1.0\n")
    return expect_usage_error(sb.run(["run", "funcs.py:good", "--input", "@x.json", *AG]), "x.json")


def output_shape_situation(function: str, what: str, *, ok: tuple = ()):
    def body(sb):
        problems = []
        results = {}
        for fmt in ("table", "json"):
            o = sb.run(["run", f"shapes.py:{function}", *X, *AG, "--format", fmt])
            results[fmt] = o.rc
            problems += [f"--format {fmt}: {p}" for p in expect_ok_or_usage_error(o, *ok)]
            if any(w in o.stderr for w in ("Warning", "warning:")):
                problems.append(f"--format {fmt}: a warning on stderr: {first_line(o.stderr)}")
            if fmt == "json" and o.rc in (0, 1):
                problems += parse_json(o)[1]
        if len(set(results.values())) > 1:
            problems.append(f"the formats disagree on the exit code: {results}")
        return problems

    situation("input", f"output-{function.replace('_', '-')}", what)(body)


output_shape_situation("zero_size", "the function returns a 0-size array", ok=(0,))
output_shape_situation("complex_output", "the function returns complex values (checked as its real and imaginary parts)",
                       ok=(0,))
output_shape_situation("dict_output", "the function returns a dict of arrays", ok=(0,))
output_shape_situation("string_output", "the function returns a string")
output_shape_situation("none_output", "the function returns None (a forgotten return)")

CONFIG_MISTAKES = [
    ("config-timeout-string", 'timeout = "fast"\n', "", "timeout"),
    ("config-timeout-negative", "timeout = -5\n", "", "timeout"),
    ("config-rtol-nan", "rtol = nan\n", "", "rtol"),
    ("config-backends-number", "", "", "backends", "backends = 3\n"),
    ("config-backends-unknown", "", "", "backends", 'backends = ["autograd", "nope"]\n'),
    ("config-jobs-zero", "jobs = 0\n", "", "jobs"),
    ("config-fail-on-unknown", 'fail-on = "sometimes"\n', "", "fail-on"),
    ("config-memory-limit-negative", "memory-limit = -1\n", "", "memory-limit"),
    ("config-lint-string", 'lint = "yes"\n', "", "lint"),
    ("config-order-3", "order = 3\n", "", "order"),
    ("config-unknown-key", "timout = 5\n", "", "timout"),
    ("config-case-seed-negative", "", 'random = [3]\nseed = -1', "seed"),
    ("config-case-random-zero", "", "random = [0]", "random"),
    ("config-case-wrt-out-of-range", "", "input = [0.5]\nwrt = [5]", "wrt"),
    ("config-case-timeout-inf", "", "input = [0.5]\ntimeout = inf", "timeout"),
    ("config-case-input-string", "", 'input = "abc"', "input"),
    ("config-case-input-and-random", "", "input = [0.5]\nrandom = [3]", ("random", "input")),
]


def _config_mistake(global_text, case_text, mention, backends='backends = ["autograd"]\n'):
    def body(sb):
        text = "[tool.adcheck]\n" + backends + global_text
        text += case("funcs.py:good", case_text or "input = [0.5, 1.0]")
        sb.write("pyproject.toml", text)
        return expect_usage_error(sb.run(["check"]), "pyproject.toml", mention)

    return body


for _name, _global, _case, _mention, *_backends in CONFIG_MISTAKES:
    situation("input", _name, f"[tool.adcheck] {(_global or _case or _backends[0]).strip()!r}")(
        _config_mistake(_global, _case, _mention, *_backends))


@situation("input", "config-case-target-number", "[[tool.adcheck.case]] target = 5")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + "\n[[tool.adcheck.case]]\ntarget = 5\ninput = [1.0]\n")
    return expect_usage_error(sb.run(["check"]), "pyproject.toml", "target")


@situation("input", "config-malformed-toml", "a pyproject.toml that is not TOML")
def _(sb):
    sb.write("pyproject.toml", "[tool.adcheck]\nbackends = [\"autograd\"\n")
    return expect_usage_error(sb.run(["check"]), "pyproject.toml")


@situation("input", "decorator-bad-seed", "@adcheck.case(random=[3], seed=-1) in a checked file")
def _(sb):
    sb.write("deco.py", "import adcheck\nimport numpy as np\n\n\n@adcheck.case(random=[3], seed=-1)\n"
                        "def f(x):\n    return np.sin(x)\n")
    return expect_usage_error(sb.run(["check", "deco.py"]), "deco.py", "seed")


@situation("input", "check-one-case-too-big", "`check` where one case's random input is 10^10 values")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good")
             + case("funcs.py:good", "random = [[100000, 100000]]"))
    o = sb.run(["check"])
    problems = expect_rc(o, 2)
    said = o.stdout + o.stderr
    if "--random" in said:
        problems.append("the message names the command-line flag --random for a pyproject key")
    if not ("case[2]" in said and "random" in said):
        problems.append(f"nothing names tool.adcheck.case[2] and its random key: {first_line(o.stderr)}")
    if "funcs.py:good" not in o.stdout:
        problems.append("the other case's report is missing from stdout")
    return problems


# 5. The environment a CI job gives ----------------------------------------------------------------

@situation("environment", "env-i", "env -i PATH=/usr/bin:/bin (no HOME, no LANG, no TMPDIR)")
def _(sb):
    return expect_rc(sb.run(["run", "funcs.py:good", *X, *AG], clean_env=True, env={"PATH": "/usr/bin:/bin"}), 0)


@situation("environment", "tmpdir-missing", "TMPDIR names a directory that does not exist")
def _(sb):
    return expect_ok_or_usage_error(sb.run(["run", "funcs.py:good", *X, *AG], env={"TMPDIR": str(sb.root / "gone")}), 0)


@situation("environment", "tmpdir-long", "TMPDIR is a 150-character path (too long for a Unix socket name)")
def _(sb):
    deep = sb.root / ("t" * 70) / ("u" * 70)
    deep.mkdir(parents=True)
    return expect_ok_or_usage_error(sb.run(["run", "funcs.py:good", *X, *AG], env={"TMPDIR": str(deep)}), 0)


@situation("environment", "home-unwritable", "HOME and XDG_CACHE_HOME point at a path that does not exist")
def _(sb):
    return expect_rc(sb.run(["run", "funcs.py:good", *X, *AG],
                            env={"HOME": "/nonexistent", "XDG_CACHE_HOME": "/nonexistent/cache"}), 0)


@situation("environment", "stdin-closed", "adcheck started with fd 0 closed (<&-)")
def _(sb):
    return expect_rc(sb.run(["run", "funcs.py:good", *X, *AG, *JSON], close_fds=(0,)), 0)


@situation("environment", "readonly-working-directory", "run from a read-only checkout (no __pycache__ can be written)")
def _(sb):
    sb.make_read_only(sb.work)
    return expect_rc(sb.run(["run", "funcs.py:good", *X, *AG]), 0)


@situation("environment", "two-runs-at-once", "two `adcheck run` at once in one directory")
def _(sb):
    o = sb.run([], shell=BOTH.format(a="run funcs.py:good --input '[0.5]' --backend autograd",
                                     b="run funcs.py:good --input '[1.5]' --backend autograd"))
    return expect_rc(o, 0)


@situation("environment", "python-m-adcheck", "`python -m adcheck` with a bad flag: the same one-line error")
def _(sb):
    o = sb.run([], shell=f"{shlex.quote(sys.executable)} -m adcheck run funcs.py:good --input '[1]' --timeout nan")
    return expect_usage_error(o, "--timeout")


# 6. Round two: options, files, streams, reports and caches -----------------------------------------
# Each class of mistake in several spellings: the fix is for the class, not for one example.

MORE_BAD_OPTIONS = [
    ("memory-limit-1e30", [*BASE, "--memory-limit", "1e30"], "--memory-limit"),
    ("memory-limit-huge-unit", [*BASE, "--memory-limit", "99999999T"], "--memory-limit"),
    ("shard-superscript", ["check", "--shard", "¹/²"], "--shard"),
    ("shard-arabic-indic", ["check", "--shard", "١/٢"], "--shard"),
    ("shard-empty", ["check", "--shard", ""], "--shard"),
    ("shard-blank", ["check", "--shard", " "], "--shard"),
    ("shard-zero", ["check", "--shard", "0/2"], "--shard"),
    ("shard-k-over-n", ["check", "--shard", "3/2"], "--shard"),
    ("shard-three-parts", ["check", "--shard", "1/2/3"], "--shard"),
]
for _name, _args, _mention in MORE_BAD_OPTIONS:
    situation("input", _name, "adcheck " + " ".join(shlex.quote(a) for a in _args))(_bad_option(_args, _mention))


def nested(depth: int, leaf: str = "") -> str:
    return "[" * depth + leaf + "]" * depth


DEEP = 100_000  # far past Python's recursion limit
BAD_BASELINES = [
    ("baseline-nested-deep", '{"version": 1, "failures": ' + nested(DEEP) + "}", "nested"),
    ("baseline-nested-100", '{"version": 1, "failures": ' + nested(100) + "}", "nested"),
    ("baseline-version-99", '{"version": 99, "failures": {}}', "version"),
    ("baseline-version-string", '{"version": "1", "failures": {}}', "version"),
    ("baseline-unknown-key", '{"version": 1, "failures": {}, "falures": {}}', "falures"),
    ("baseline-status-number", '{"version": 1, "failures": {"funcs.py:good": {"autograd": 3}}}', "autograd"),
    ("baseline-case-list", '{"version": 1, "failures": {"funcs.py:good": ["autograd"]}}', "funcs.py:good"),
]


def _bad_baseline(text, mention):
    def body(sb):
        sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good"))
        baseline = sb.write(".adcheck-baseline.json", text)
        o = sb.run(["check", "-q"])
        return expect_usage_error(o, ".adcheck-baseline.json", mention) + expect_file(baseline, text.encode())

    return body


for _name, _text, _mention in BAD_BASELINES:
    situation("data", _name, f"`check` with a baseline: {_text[:60]!r}")(_bad_baseline(_text, _mention))


@situation("data", "update-baseline-symlink-to-notes", "--update-baseline where the baseline is a symlink to a file "
           "that is not a baseline")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:wrong"))
    notes = sb.write("notes.md", "# my notes\n\nnot a baseline\n")
    os.symlink("notes.md", sb.path(".adcheck-baseline.json"))
    o = sb.run(["check", "-q", "--update-baseline", "--no-lint"])
    return expect_usage_error(o, ".adcheck-baseline.json", "baseline") + expect_file(notes, b"# my notes\n\nnot a baseline\n")


@situation("data", "update-baseline-onto-pyproject", "--update-baseline --baseline pyproject.toml")
def _(sb):
    text = PROJECT_HEAD + case("funcs.py:wrong")
    pyproject = sb.write("pyproject.toml", text)
    o = sb.run(["check", "-q", "--update-baseline", "--baseline", "pyproject.toml", "--no-lint"])
    return expect_usage_error(o, "pyproject.toml") + expect_file(pyproject, text.encode())


BAD_SHARD_REPORTS = [
    ("merge-json-cases-number", "shard.json", '{"schema": 2, "fail_on": "disagree", "cases": 5}', "cases"),
    ("merge-json-case-without-target", "shard.json", '{"schema": 2, "fail_on": "disagree", "cases": [{"x": 1}], '
     '"failures": [], "broken": [], "baseline": {"path": null, "no_longer_failing": []}}', "target"),
    ("merge-json-no-baseline", "shard.json", '{"schema": 2, "fail_on": "disagree", "cases": [], "failures": [], '
     '"broken": []}', "baseline"),
    ("merge-json-nested-deep", "shard.json", '{"cases": ' + nested(DEEP) + "}", "nested"),
    ("merge-sarif-runs-number", "shard.sarif", '{"version": "2.1.0", "runs": 3}', "runs"),
    ("merge-sarif-results-string", "shard.sarif", '{"version": "2.1.0", "runs": [{"tool": {"driver": {"rules": []}}, '
     '"results": "none"}]}', "results"),
    ("merge-junit-time-word", "shard.xml", '<testsuites><testcase name="a" time="abc"/></testsuites>', "time"),
    ("merge-junit-other-xml", "shard.xml", "<html><body>" + "<div>" * 2000 + "</div>" * 2000 + "</body></html>",
     "junit"),
]


def _bad_shard_report(file, text, mention):
    def body(sb):
        sb.write(file, text)
        return expect_usage_error(sb.run(["merge-reports", file]), file, mention)

    return body


for _name, _file, _text, _mention in BAD_SHARD_REPORTS:
    situation("data", _name, f"merge-reports of {_text[:60]!r}")(_bad_shard_report(_file, _text, _mention))


@situation("input", "config-nested-deep", "[[tool.adcheck.case]] input nested 10^5 deep")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good", f"input = {nested(DEEP, '0.5')}"))
    return expect_usage_error(sb.run(["check"]), "pyproject.toml")


@situation("input", "config-input-nested-40", "[[tool.adcheck.case]] input nested 40 deep (parses, too deep for an array)")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good", f"input = {nested(40, '0.5')}"))
    return expect_usage_error(sb.run(["check"]), "pyproject.toml", "nested")


@situation("input", "input-file-nested-deep", "--input @deep.json nested 10^5 deep")
def _(sb):
    sb.write("deep.json", nested(DEEP, "0.5"))
    return expect_usage_error(sb.run(["run", "funcs.py:good", "--input", "@deep.json", *AG]), "deep.json")


GENERATED_SUM = "import autograd.numpy as np\n\n\ndef f(x):\n    return {}\n\n\ndef g(x):\n    return np.sin(x)\n"


@situation("input", "lint-generated-sum", "`lint` and `run` of a generated 1200-term sum (deeper than the lint's stack)")
def _(sb):
    terms = " + ".join(f"np.sin(x * {i % 7 + 1}.0)" for i in range(1200))
    sb.write("generated.py", GENERATED_SUM.format(terms))
    problems = []
    o = sb.run(["lint", "generated.py"])
    problems += expect_rc(o, 0, 1)
    if "generated.py:f" not in o.stderr or "generated.py:g" in o.stderr:
        problems.append(f"stderr does not say exactly that f was not fully linted: {first_line(o.stderr)}")
    o = sb.run(["run", "generated.py:f", *X, *AG])
    problems += expect_rc(o, 0, 1)
    return problems


@situation("input", "lint-generated-sum-huge", "`run` of a generated 6000-term sum (deeper than Python's parser)")
def _(sb):
    terms = " + ".join(f"np.sin(x * {i % 7 + 1}.0)" for i in range(6000))
    sb.write("generated.py", GENERATED_SUM.format(terms))
    return expect_ok_or_usage_error(sb.run(["run", "generated.py:f", *X, *AG]), 0, 1)


@situation("input", "pytest-misspelt-config-key", "`pytest --adcheck` with a misspelt [tool.adcheck] key")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + "timout = 5\n" + case("funcs.py:good"))
    o = sb.run([], shell=f"{shlex.quote(sys.executable)} -m pytest --adcheck -p no:cacheprovider -p no:randomly -q")
    problems = expect_rc(o, 4)  # pytest's usage error
    said = o.stdout + o.stderr
    if "INTERNALERROR" in said:
        problems.append("an INTERNALERROR")
    if "timout" not in o.stderr:
        problems.append(f"stderr does not name the key: {first_line(o.stderr)}")
    return problems


@situation("input", "pytest-unknown-backend", "`pytest --adcheck --adcheck-backend nope`")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good"))
    o = sb.run([], shell=f"{shlex.quote(sys.executable)} -m pytest --adcheck --adcheck-backend nope "
                         "-p no:cacheprovider -p no:randomly -q")
    problems = expect_rc(o, 4)
    if "INTERNALERROR" in o.stdout + o.stderr or "nope" not in o.stderr:
        problems.append(f"not a usage error naming the backend: {first_line(o.stdout + o.stderr)}")
    return problems


# Resource limits at start.

@situation("environment", "ulimit-n-low", "`ulimit -n 20` (soft and hard) before `run` and `check`")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good"))
    problems = []
    for command in ("run funcs.py:good --input '[0.5]' --backend autograd", "check"):
        o = sb.run([], shell=f"ulimit -n 20; $ADCHECK {command}")
        problems += expect_usage_error(o, "ulimit -n")
    return problems


@situation("environment", "ulimit-n-low-soft", "`ulimit -Sn 20` (a hard limit above): adcheck raises its soft limit")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good") + case("funcs.py:good", "input = [1.5]"))
    problems = expect_rc(sb.run([], shell="ulimit -Sn 20; $ADCHECK run funcs.py:good --input '[0.5]' --backend autograd"), 0)
    return problems + expect_rc(sb.run([], shell="ulimit -Sn 20; $ADCHECK check -j 2 -q"), 0)


# Closed streams and names that are not UTF-8.

CLOSED = {"stdout-closed": (1,), "stderr-closed": (2,), "stdout-and-stderr-closed": (1, 2)}
for _name, _fds in CLOSED.items():
    def _closed(sb, fds=_fds):
        problems = []
        o = sb.run(["run", "funcs.py:good", *X, *AG, *JSON, "--output", "report.json"], close_fds=fds)
        problems += expect_rc(o, 0)
        sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good"))
        o = sb.run(["check", "--format", "junit", "--output", "report.xml"], close_fds=fds)
        problems += expect_rc(o, 0)
        for report in ("report.json", "report.xml"):
            if not sb.path(report).exists():
                problems.append(f"--output {report} was not written")
        return problems

    situation("environment", _name, f"`run` and `check` with fd {' and '.join(map(str, _fds))} closed and --output")(_closed)


NON_UTF8_NAME = os.fsdecode(b"caf\xe9\xff.py")  # latin-1 bytes: not UTF-8


def parse_report(fmt: str, data: bytes) -> list[str]:
    """Whether a report of ``fmt`` is valid: UTF-8, parses, and has no raw control character."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"--format {fmt}: not UTF-8 ({exc})"]
    problems = []
    raw = sorted({repr(c) for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0})
    if raw:
        problems.append(f"--format {fmt}: raw control characters {', '.join(raw)}")
    try:
        if fmt == "junit":
            import xml.etree.ElementTree as ET

            ET.fromstring(text)
        elif fmt in ("json", "sarif"):
            document = json.loads(text)
            if fmt == "sarif":
                for run in document["runs"]:
                    for result in run["results"]:
                        for location in result["locations"]:
                            uri = location["physicalLocation"]["artifactLocation"]["uri"]
                            if not uri.isascii() or "\\" in uri or " " in uri:
                                problems.append(f"--format sarif: {uri!r} is not a URI reference")
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"--format {fmt}: does not parse ({type(exc).__name__}: {exc})")
    return problems


FORMATS = ("table", "json", "junit", "markdown", "sarif", "github")


@situation("reports", "non-utf8-file-name", "a target file whose name is not UTF-8, in every format (stdout and --output)",
           timeout=240)
def _(sb):
    shutil.copy(sb.path("funcs.py"), sb.work / NON_UTF8_NAME)
    problems = []
    for fmt in FORMATS:
        o = sb.run(["run", f"{NON_UTF8_NAME}:wrong", *X, *AG, "--no-lint", "--format", fmt, "--output", f"r.{fmt}"])
        problems += [f"--format {fmt}: {p}" for p in expect_rc(o, 1)]
        if sb.path(f"r.{fmt}").exists():
            problems += parse_report(fmt, sb.path(f"r.{fmt}").read_bytes())
        else:
            problems.append(f"--format {fmt}: --output not written")
    return problems


HOSTILE_TEXT = "nul\x00 esc\x1b[31m osc\x1b]0;owned\x07 cdata]]> c1\x9b bidi\u202e byte\udcff"
HOSTILE_MODULE = f'''\
import autograd.numpy as np

import adcheck


@adcheck.case(input=[0.5, 1.0, 1.5], backends=["autograd"])
def f(x):
    if type(x).__name__ == "ArrayBox":
        raise ValueError({HOSTILE_TEXT!r})
    return {{"key\\x1b]8;;http://x\\x07": np.sin(x)}}
'''


@situation("reports", "hostile-text-every-format", "exception text and names holding NUL, ESC, OSC, ]]>, a lone "
           "surrogate, in a file with ESC in its name: every format valid, on stdout and in --output", timeout=300)
def _(sb):
    name = os.fsdecode(b"hostile\x1b[7m\xff.py")
    sb.write(name, HOSTILE_MODULE)  # a decorated case: TOML cannot spell a name that is not UTF-8
    problems = []
    for fmt in FORMATS:
        o = sb.run(["run", f"{name}:f", *X, *AG, "--no-lint", "--format", fmt])
        problems += [f"run --format {fmt}: {p}" for p in expect_rc(o, 1)]
        problems += ["run " + p for p in parse_report(fmt, o.stdout.encode("utf-8", "surrogateescape"))]
        o = sb.run(["check", name, "-q", "--no-lint", "--format", fmt, "--output", f"r.{fmt}"])
        problems += [f"check --format {fmt}: {p}" for p in expect_rc(o, 1)]
        if fmt != "json" and "\x1b" in o.stdout + o.stderr:
            problems.append(f"check --format {fmt}: a raw ESC reached the terminal")
        if sb.path(f"r.{fmt}").exists():
            problems += ["check " + p for p in parse_report(fmt, sb.path(f"r.{fmt}").read_bytes())]
        else:
            problems.append(f"check --format {fmt}: --output not written")
    return problems


# An interrupted check says so in every format.

INTERRUPTED_SAYS = {
    "junit": lambda text: 'type="interrupted"' in text,
    "markdown": lambda text: "interrupted after 1 of 2 cases" in text,
    "github": lambda text: "interrupted after 1 of 2 cases" in text,
    "sarif": lambda text: '"executionSuccessful": false' in text,
    "json": lambda text: '"verdict": "interrupted"' in text and "procs.py:hangs" in text,
    "table": lambda text: "interrupted after 1 of 2 cases" in text,
}
for _fmt, _says in INTERRUPTED_SAYS.items():
    def _interrupted(sb, fmt=_fmt, says=_says, sig=signal.SIGTERM):
        sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good") + case("procs.py:hangs"))
        o = sb.run(["check", "-j", "2", "--format", fmt, "--output", f"r.{fmt}"],
                   action=signal_after_flag(sig, also_progress="[1/2]"))
        problems = expect_interrupted(o)
        report = sb.path(f"r.{fmt}")
        if not report.exists():
            return problems + ["no report written"]
        text = report.read_text()
        problems += parse_report(fmt, text.encode())
        if not says(text):
            problems.append(f"the {fmt} report does not say it was interrupted")
        return problems

    situation("processes", f"interrupted-check-{_fmt}", f"kill -TERM of `check --format {_fmt} --output`: the report "
              "says the check was interrupted")(_interrupted)


@situation("processes", "sighup-check", "SIGHUP to `check` -j 2 (one case done, one hanging): the finished case's "
           "report is kept, exit 130")
def _(sb):
    sb.write("pyproject.toml", PROJECT_HEAD + case("funcs.py:good") + case("procs.py:hangs"))
    o = sb.run(["check", "-j", "2"], action=signal_after_flag(signal.SIGHUP, also_progress="[1/2]"))
    return expect_interrupted(o, report_of="funcs.py:good")


# The JAX compilation cache heals.

JAX_MODULE = "import jax.numpy as jnp\n\n\ndef f(x):\n    return jnp.sin(x) * jnp.cos(x) + jnp.exp(x).sum()\n"
JAX_RUN = ["run", "jaxf.py:f", *X, "--backend", "jax-rev", "--no-lint"]


def cache_warnings(outcome: Outcome) -> list[str]:
    lines = [line for line in nonempty_lines(outcome.stderr) if "cache" in line.lower()]
    return [f"{len(lines)} lines about the cache on stderr: {lines[0][:120]}"] if len(lines) > 1 else []


def cache_entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*-cache")) if directory.is_dir() else []


@situation("environment", "cache-empty-entries", "JAX cache entries left empty or truncated (a full disk earlier): "
           "no flood of warnings, and they are written again", timeout=300)
def _(sb):
    sb.write("jaxf.py", JAX_MODULE)
    cache = sb.root / "cache"
    env = {"ADCHECK_CACHE_DIR": str(cache)}
    problems = expect_rc(sb.run(JAX_RUN, env=env), 0)
    entries = cache_entries(cache)
    if not entries:
        return problems + ["the first run wrote no cache entries"]
    for i, entry in enumerate(entries):
        data = entry.read_bytes()
        entry.write_bytes(b"" if i % 2 else data[: len(data) // 2])
    o = sb.run(JAX_RUN, env=env)
    problems += expect_rc(o, 0) + cache_warnings(o)
    broken = [e.name for e in cache_entries(cache) if e.stat().st_size == 0]
    if broken:
        problems.append(f"{len(broken)} empty entries still there after a run")
    return problems


@situation("environment", "cache-read-only", "the JAX cache directory is read-only: one line, the run goes on",
           timeout=300)
def _(sb):
    sb.write("jaxf.py", JAX_MODULE)
    cache = sb.root / "cache"
    cache.mkdir()
    sb.make_read_only(cache)
    o = sb.run(JAX_RUN, env={"ADCHECK_CACHE_DIR": str(cache)})
    return expect_rc(o, 0) + cache_warnings(o)


@situation("environment", "cache-disk-fills", "the disk fills while the JAX cache is written (`ulimit -f 4`): no flood, "
           "and the next run heals the cache", timeout=300)
def _(sb):
    sb.write("jaxf.py", JAX_MODULE)
    cache = sb.root / "cache"
    env = {"ADCHECK_CACHE_DIR": str(cache)}
    o = sb.run(JAX_RUN, env=env, file_size_limit=4096)
    problems = expect_rc(o, 0) + cache_warnings(o)
    o = sb.run(JAX_RUN, env=env)
    problems += expect_rc(o, 0) + cache_warnings(o)
    return problems


# --- driver ------------------------------------------------------------------------------------------


def replay(chosen: list[Situation], verbose: bool) -> int:
    kept = 0
    started = time.monotonic()
    width = max(len(s.name) for s in chosen) + 2
    for index, item in enumerate(chosen, 1):
        sb = Sandbox(item.name, item.timeout)
        try:
            try:
                problems = list(item.body(sb) or [])
            except Exception as exc:  # noqa: BLE001 - the replay's own failure is a broken situation too
                problems = [f"the replay itself failed: {type(exc).__name__}: {exc}"]
            problems = sb.problems + problems
        finally:
            sb.cleanup()
        label = f"[{index:3}/{len(chosen)}] {item.group:<11} {item.name:<{width}}"
        if problems:
            print(f"{label} BROKEN: {'; '.join(dict.fromkeys(problems))}", flush=True)
            if verbose:
                print(f"    situation: {item.what}")
                for outcome in sb.outcomes:
                    print("    " + outcome.describe().replace("\n", "\n    "), flush=True)
        else:
            kept += 1
            print(f"{label} ok", flush=True)
    minutes = (time.monotonic() - started) / 60
    print(f"{kept} of {len(chosen)} situations kept the promises ({minutes:.1f} min)")
    return 0 if kept == len(chosen) else 1


def main(argv=None) -> int:
    # The Ctrl-C situations need adcheck to get SIGINT as a terminal's foreground job does. A shell
    # starts a background job with SIGINT ignored, and an ignored signal stays ignored across exec
    # (adcheck, like any program, then rightly ignores Ctrl-C); a handler here is reset to the
    # default in every process this script starts.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only situations whose name or class contains this (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the situations and exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="for each broken situation: its commands, exit codes, stderr and leftovers")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        print("replay.py finds leftover processes through /proc: Linux only", file=sys.stderr)
        return 2
    chosen = [s for s in SITUATIONS if not args.patterns or any(p in s.name or p == s.group for p in args.patterns)]
    if not chosen:
        print("no situation matches", file=sys.stderr)
        return 2
    if args.list:
        for s in chosen:
            print(f"{s.group:<11} {s.name:<40} {s.what}")
        counts = {}
        for s in chosen:
            counts[s.group] = counts.get(s.group, 0) + 1
        print(f"{len(chosen)} situations: " + ", ".join(f"{n} {g}" for g, n in counts.items()))
        return 0
    return replay(chosen, args.verbose)


if __name__ == "__main__":
    sys.exit(main())
