"""Worker processes: adcheck owns every process it starts, and only those.

Each test runs the real CLI in a subprocess with a marker in its environment; every process
adcheck starts (the fork server, the resource tracker, the workers, and whatever the user's
function spawns) inherits the marker, so "nothing is left" is checked by looking for it in
/proc. Whatever happens, a test kills what it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from adcheck.errors import ExitCode
from conftest import REPO

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                reason="finds leftover processes through /proc (Linux)")

USER_CODE = textwrap.dedent('''\
    import os
    import signal
    import subprocess
    import sys
    import time

    import autograd.numpy as np


    def hangs_under_autograd(x):
        if type(x).__module__.startswith("autograd"):
            open(os.path.join(os.path.dirname(__file__), "hanging"), "w").close()
            while True:
                pass
        return np.sin(x)


    def spawns_a_child(x):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        return np.sin(x)


    def spawns_and_hangs(x):
        if type(x).__module__.startswith("autograd"):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            while True:
                time.sleep(0.01)
        return np.sin(x)


    def signals_its_group(x):
        if type(x).__module__.startswith("autograd"):
            os.killpg(0, signal.SIGTERM)
        return np.sin(x)


    def good(x):
        return np.sin(x)


    def uses_a_pool(x):
        import multiprocessing

        pool = multiprocessing.Pool(2)  # left open: its processes must end with the task
        scale = sum(pool.map(abs, [-1.0, 1.0])) / 2.0
        return np.sin(x) * scale
    ''')

PROJECT = textwrap.dedent('''\
    [tool.adcheck]
    backends = ["autograd"]
    lint = false

    [[tool.adcheck.case]]
    target = "user.py:hangs_under_autograd"
    input = [0.5, 1.5]

    [[tool.adcheck.case]]
    target = "user.py:good"
    input = [0.5, 1.5]
    ''')


@pytest.fixture
def project(tmp_path):
    (tmp_path / "user.py").write_text(USER_CODE)
    (tmp_path / "pyproject.toml").write_text(PROJECT)
    return tmp_path


class Adcheck:
    """``python -m adcheck ARGS`` in ``cwd``, marked so that everything it starts can be found."""

    def __init__(self, cwd: Path, *args: str):
        self.marker = f"ADCHECK_TEST_{uuid.uuid4().hex}"
        env = {**os.environ, self.marker: "1", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen([sys.executable, "-m", "adcheck", *args], cwd=cwd, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def processes(self) -> list[tuple[int, str]]:
        """Every live process that carries the marker, adcheck itself included."""
        found = []
        needle = self.marker.encode() + b"="
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if needle not in handle.read():
                        continue
                with open(f"/proc/{entry}/stat") as handle:
                    if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue  # a zombie waiting for its parent is not running
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    found.append((int(entry), handle.read().replace(b"\0", b" ").decode(errors="replace")[:100]))
            except OSError:
                continue
        return found

    def wait_for(self, condition, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}: {self.processes()}")

    def workers_running(self, count: int = 1) -> bool:
        """The fork server's children: adcheck, the fork server, the tracker, and ``count`` more."""
        return len(self.processes()) >= 3 + count

    def leftovers_after(self, seconds: float) -> list:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            left = [p for p in self.processes() if p[0] != self.proc.pid]
            if not left:
                return []
            time.sleep(0.1)
        return [p for p in self.processes() if p[0] != self.proc.pid]

    def cleanup(self):
        for pid, _ in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.communicate()


@pytest.fixture
def started():
    runs = []

    def start(cwd, *args):
        run = Adcheck(cwd, *args)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.cleanup()


def test_sigterm_ends_a_check_with_a_hanging_case_at_once_with_what_finished(project, started):
    run = started(project, "check", "--no-timings", "-j", "2")
    run.wait_for(lambda: (project / "hanging").exists(), 60, "the hanging case")
    time.sleep(0.5)
    began = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    stdout, stderr = run.proc.communicate(timeout=30)
    assert time.monotonic() - began < 5
    assert run.proc.returncode == ExitCode.INTERRUPTED
    assert "INTERRUPTED user.py:hangs_under_autograd" in stdout
    assert "adcheck: interrupted" in stderr
    assert run.leftovers_after(5) == []


def test_sigkill_of_adcheck_leaves_nothing_running(project, started):
    run = started(project, "check", "--no-timings", "-j", "2")
    run.wait_for(lambda: run.workers_running(1), 60, "a worker")
    run.proc.send_signal(signal.SIGKILL)
    run.proc.communicate(timeout=30)
    assert run.leftovers_after(5) == []


@pytest.mark.parametrize("function", ["spawns_a_child", "signals_its_group", "uses_a_pool"])
def test_what_the_users_function_starts_ends_with_its_task(project, started, function):
    run = started(project, "run", f"user.py:{function}", "--input", "[0.5, 1.5]", "--backend", "autograd", "--no-lint")
    _, stderr = run.proc.communicate(timeout=120)
    assert "Traceback" not in stderr
    # Signalling its own process group reaches only its worker (an error row), never adcheck.
    expected = ExitCode.FAILED if function == "signals_its_group" else ExitCode.OK
    assert run.proc.returncode == expected, stderr
    assert run.leftovers_after(5) == []


def test_a_child_of_a_task_that_times_out_ends_with_it(project, started):
    run = started(project, "run", "user.py:spawns_and_hangs", "--input", "[0.5, 1.5]", "--backend", "autograd",
                  "--timeout", "5", "--no-lint", "--format", "json")
    stdout, stderr = run.proc.communicate(timeout=120)
    assert run.proc.returncode == ExitCode.FAILED, stderr
    assert '"message": "timed out after 5 s (--timeout)"' in stdout
    assert run.leftovers_after(5) == []


def test_a_group_signal_from_the_function_is_reported_on_its_row(project, started):
    run = started(project, "run", "user.py:signals_its_group", "--input", "[0.5, 1.5]", "--backend", "autograd",
                  "--no-lint", "--format", "json")
    stdout, _ = run.proc.communicate(timeout=120)
    assert run.proc.returncode == ExitCode.FAILED
    assert "the worker was ended by SIGTERM (did the function signal its own process group?)" in stdout


LEAKY = textwrap.dedent('''\
    import os
    import sys

    import numpy as np

    import adcheck


    @adcheck.case(input=[1.0, 2.0])
    def changes_the_process(x):
        os.environ["ADCHECK_TEST_LEAK"] = "1"
        sys.path.insert(0, "/nonexistent-adcheck-leak")
        np.seterr(all="raise")
        return x


    @adcheck.case(input=[1.0, 2.0])
    @adcheck.case(input=[3.0, 4.0])
    def reads_the_process(x):
        leaked = os.environ.get("ADCHECK_TEST_LEAK") or "/nonexistent-adcheck-leak" in sys.path
        leaked = leaked or np.geterr()["over"] == "raise"
        return x * (2.0 if leaked else 1.0)
    ''')


def test_warm_workers_pass_no_state_from_one_case_to_the_next(tmp_path):
    """adcheck check reuses its workers; what one case's function changes in the process (the
    environment, sys.path, numpy's error state) is put back before the next case runs."""
    import json

    from conftest import invoke

    (tmp_path / "leaky.py").write_text(LEAKY)
    (tmp_path / "pyproject.toml").write_text("[tool.adcheck]\nlint = false\n")
    from contextlib import chdir

    with chdir(tmp_path):
        result = invoke("check", "leaky.py", "-j", "1", "--backend", "autograd", "--format", "json", "-q")
    assert result.exit_code == ExitCode.OK, result.stdout[-2000:]
    cases = {case["target"]: case for case in json.loads(result.stdout)["cases"]}
    for name in ("leaky.py:reads_the_process", "leaky.py:reads_the_process[2]"):
        for backend in ("fd", "autograd"):
            # A leak would double it: the function reads what the previous case's function changed.
            jacobian = [value for row in cases[name]["jacobians"][backend] for value in row]
            assert jacobian == pytest.approx([1.0, 0.0, 0.0, 1.0], abs=1e-6), (name, backend)


# The cases of fixtures/leaks/reads.py, each run after a case that changed the process it relies on,
# and the diagonal of its true Jacobian at its input [0.5, 1.5] (every Jacobian there is diagonal).
READS_DIAGONALS = {
    "jax_sin": np.cos([0.5, 1.5]), "numpy_sin": np.cos([0.5, 1.5]), "autograd_sin": np.cos([0.5, 1.5]),
    "math_cos": [1.0, 1.0], "jax_config": [1.0, 1.0], "signal_handler": [1.0, 1.0], "alarm": [1.0, 1.0],
    "error_state": [1.0, 1.0],
}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_no_case_changes_what_a_later_case_computes(jobs):
    """Each case of fixtures/leaks changes its process at import (a framework's function, a
    derivative rule, sys.modules, JAX's configuration, a signal handler, an alarm, numpy's error
    state) before a case that would compute something else in a process so changed: each later
    case gets its true Jacobian from every backend, as it does alone."""
    import json
    from contextlib import chdir

    from conftest import FIXTURES, invoke

    with chdir(FIXTURES / "leaks"):
        result = invoke("check", "-j", jobs, "--format", "json", "-q")
    assert result.exit_code == ExitCode.OK, result.stdout[-3000:] + result.stderr[-2000:]
    cases = {case["target"]: case for case in json.loads(result.stdout)["cases"]}
    assert {name.removeprefix("reads.py:") for name in cases if name.startswith("reads.py:")} == set(READS_DIAGONALS)
    for name, diagonal in READS_DIAGONALS.items():
        jacobians = cases[f"reads.py:{name}"]["jacobians"]
        assert "fd" in jacobians and len(jacobians) >= 3, (name, list(jacobians))
        for backend, rows in jacobians.items():
            assert np.diag(rows) == pytest.approx(diagonal, rel=1e-6), (name, backend)


def test_a_modules_numpy_error_state_makes_its_own_calls_raise_and_never_adchecks():
    """np.seterr(all="raise") at import: the reference's arithmetic (overflowing differences at
    700) goes on under adcheck's own error state; the run passes, as it does without it."""
    from conftest import FIXTURES, invoke

    result = invoke("run", f"{FIXTURES / 'leaks' / 'patches_error_state.py'}:f", "--input", "[0.5, 700.0]",
                    "--backend", "autograd")
    assert result.exit_code == ExitCode.OK, result.stdout[-2000:] + result.stderr[-2000:]


LANE = textwrap.dedent('''
    import os
    import pathlib

    import numpy as np

    CALLS = []


    def f(x):
        pathlib.Path(PIDS, str(os.getpid())).touch()
        CALLS.append(1)  # a module imported afresh for every task starts with none
        return x * len(CALLS)


    def dies(x):
        pathlib.Path(PIDS, str(os.getpid())).touch()
        os._exit(3)
''')


@pytest.mark.parametrize("first", ["f", "dies"])
def test_tasks_of_one_lane_share_a_worker_and_a_dead_worker_leaves_the_rest_to_a_fresh_one(tmp_path, first):
    import numpy as np

    from adcheck.inputs import promote
    from adcheck.loader import parse_target
    from adcheck.model import Mode, Status
    from adcheck.task import Task
    from adcheck.workers import run_tasks

    pids = tmp_path / "pids"  # each worker that runs the function leaves its pid here
    pids.mkdir()
    (tmp_path / "lane.py").write_text(f"PIDS = {str(pids)!r}\n" + LANE)
    arguments = promote([np.asarray([0.5, 2.0])], (0,))
    tasks = [Task("fd", parse_target(f"{tmp_path / 'lane.py'}:{name}"), arguments, "numpy", mode=Mode.FULL)
             for name in (first, "f", "f")]
    results = run_tasks(tasks, timeout=60, lane=lambda task: "one")
    assert [r.status for r in results[1:]] == [Status.REFERENCE, Status.REFERENCE]
    for result in results[1:]:
        assert result.value.tolist() == [0.5, 2.0]  # the module's state did not carry over
    if first == "f":
        assert results[0].status == Status.REFERENCE
        assert len(list(pids.iterdir())) == 1  # one worker served the lane
    else:
        assert results[0].status == Status.ERROR and "exited with code 3" in results[0].message
        assert len(list(pids.iterdir())) == 2  # the rest of the lane ran in a fresh worker


SPAWNS = textwrap.dedent('''
    import os
    import pathlib
    import subprocess
    import sys
    import time

    import numpy as np

    SLEEPER = "import os, pathlib, sys, time; pathlib.Path(sys.argv[1], str(os.getpid())).touch(); time.sleep(600)"
    # A child that starts a grandchild in a session of its own and exits at once: the grandchild
    # is an orphan, re-parented to the worker (a subreaper).
    DAEMON = ("import subprocess, sys; subprocess.Popen([sys.executable, '-c', sys.argv[2], sys.argv[1]], "
              "start_new_session=True)")


    def f(x):
        if not list(pathlib.Path(PIDS).iterdir()):
            subprocess.Popen([sys.executable, "-c", SLEEPER, PIDS])
            subprocess.run([sys.executable, "-c", DAEMON, PIDS, SLEEPER])
            deadline = time.monotonic() + 30
            while len(list(pathlib.Path(PIDS).iterdir())) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)  # both are running before the task ends
        return x * 2
''')


def test_a_warm_worker_ends_what_a_task_started_before_it_serves_the_next(tmp_path):
    import numpy as np

    from adcheck.inputs import promote
    from adcheck.loader import parse_target
    from adcheck.model import Mode, Status
    from adcheck.task import Task
    from adcheck.workers import WorkerPool, run_tasks

    pids = tmp_path / "pids"  # each process the function starts leaves its pid here
    pids.mkdir()
    (tmp_path / "spawns.py").write_text(f"PIDS = {str(pids)!r}\n" + SPAWNS)
    task = Task("fd", parse_target(f"{tmp_path / 'spawns.py'}:f"), promote([np.asarray([0.5, 2.0])], (0,)), "numpy",
                mode=Mode.FULL, probes=False)
    pool = WorkerPool()
    try:
        (result,) = run_tasks([task], timeout=60, pool=pool)
        assert result.status == Status.REFERENCE, result.message
        started = [int(p.name) for p in pids.iterdir()]
        assert len(started) == 2
        (warm,) = [w for ws in pool.idle.values() for w in ws]
        assert warm.process.is_alive()  # the worker serves on ...
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in started)  # ... and what its task started has ended
    finally:
        pool.close()


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_result_that_cannot_be_sent_becomes_an_error_row_that_names_why():
    from adcheck.loader import parse_target
    from adcheck.model import BackendRun, Status
    from adcheck.task import Task
    from adcheck.workers import _Reply, _send

    class RefusesTheFirst:
        def __init__(self):
            self.sent = []

        def send(self, reply):
            if not self.sent:
                self.sent.append(None)
                raise TypeError("cannot pickle 'generator' object")
            self.sent.append(reply)

    connection = RefusesTheFirst()
    task = Task(backend="jax-rev", target=parse_target("os.path:join"), arguments=None, framework="jax")
    _send(connection, task, _Reply(run=BackendRun("jax-rev", Status.COMPUTED, 0.5)))
    run = connection.sent[-1].run
    assert run.status == Status.ERROR
    assert run.message == "cannot send result: TypeError: cannot pickle 'generator' object"


def test_starting_workers_from_many_case_threads_never_writes_the_process_environment(monkeypatch):
    """``check -j`` starts workers from every case thread: only the call that starts the fork
    server may set the BLAS thread counts, and it puts the environment back."""
    import threading

    from adcheck.workers import start_workers

    before = dict(os.environ)
    start_workers(2)  # starts the server, or finds it running
    assert dict(os.environ) == before

    writes = []

    class Recording(type(os.environ)):
        def __setitem__(self, key, value):
            writes.append(key)
            super().__setitem__(key, value)

        def __delitem__(self, key):
            writes.append(key)
            super().__delitem__(key)

    recording = Recording(os.environ._data, os.environ.encodekey, os.environ.decodekey,
                          os.environ.encodevalue, os.environ.decodevalue)
    monkeypatch.setattr(os, "environ", recording)
    threads = [threading.Thread(target=start_workers, args=(n, ("jax",))) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert writes == []
