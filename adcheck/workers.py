"""Worker processes: each backend computes in a process of its own, and nothing of it outlives its task.

Why a process per backend: a fresh import of the user's module means state one backend leaves
behind (a mutated global, a leaked tracer) cannot reach the next; a hang is killed at the
timeout; a segfault, ``sys.exit`` or memory exhaustion stays in the worker and becomes a row.
The workers start together, so a multi-core machine computes backends side by side.

Ownership: each worker starts a session of its own, so the processes the user's function
starts (a ``subprocess.Popen``, a server) are in its process group, and a function that signals
its group (``os.killpg(0, SIGTERM)``) reaches only its worker. On Linux a worker is also a child
subreaper: a process that leaves the group (``setsid``, a daemon's double fork) is still one of
its descendants. When a task ends — a result, a timeout, a crash, adcheck interrupted — every
descendant and the whole group are killed. A worker also dies with adcheck: it watches a pipe
whose other end only adcheck holds, and kills its descendants and group when the pipe closes
(adcheck killed with SIGKILL closes it too). Not tied to its parent process: that is the fork
server, which the user's function can signal too (``os.kill(os.getppid(), ...)``), and the
other workers must not die with it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time

from .backends.calling import NotApplicable, describe_exception, error_location
from .model import BackendRun, Mode, Status
from .task import Task

# --- inside the worker ------------------------------------------------------------------------------


def _worker_main(task: Task, connection, watch) -> None:
    """Compute one backend and send back a ``BackendRun``, whatever the user's code does.

    Nothing may escape from here: an uncaught exception would make multiprocessing print a
    traceback and send nothing.
    """
    start = time.perf_counter()
    try:
        _own_session(watch)
        # The user's prints must never reach our stdout (it may carry the JSON report).
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        if task.memory_limit:
            _limit_memory(task.memory_limit)
        result = execute(task)
    except BaseException as exc:  # noqa: BLE001 - even adcheck's own failure must become a row
        result = _failure_run(task, exc, start)
    kill_descendants(os.getpid())  # what the function started ends with its task
    _send(connection, task, result)


def execute(task: Task) -> BackendRun:
    """The backend's computation, then (for the reference) the runtime probes as their own step."""
    from .backends import REGISTRY

    start = time.perf_counter()
    if task.describe:
        return describe(task)
    if task.blame:
        from .explain.blame import blame

        try:
            return blame(task)
        except BaseException as exc:  # noqa: BLE001 - blame explains; it must never cost the report
            return error_run(task, exc, time.perf_counter() - start)
    try:
        result = REGISTRY[task.backend].compute(task)
    except NotApplicable as exc:
        return BackendRun(task.backend, Status.NOT_APPLICABLE, time.perf_counter() - start, exc.message, exc.location)
    except MemoryError as exc:
        return _failure_run(task, exc, start)
    except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
        return error_run(task, exc, time.perf_counter() - start)
    if task.probes and result.status == Status.REFERENCE and task.mode == Mode.FULL and not task.localise:
        from .explain.probes import probe

        try:
            result = dataclasses.replace(result, probes=probe(task, result.value))
        except Exception:  # noqa: BLE001 - the probes explain; they must never cost the row
            pass
    return result


def describe(task: Task) -> BackendRun:
    """What the target is, as far as the parent must know before it can build the arguments:
    the parameters of a torch.nn.Module target."""
    from .backends.calling import as_module, module_parameters
    from .frameworks import configure_for
    from .loader import UserCodeLoader

    start = time.perf_counter()
    try:
        configure_for(task.framework)
        module = as_module(UserCodeLoader(task.target, "numpy").load())
        described = module_parameters(module) if module is not None else None
    except BaseException as exc:  # noqa: BLE001 - the real run reports the problem with its row
        return error_run(task, exc, time.perf_counter() - start)
    return BackendRun(task.backend, Status.REFERENCE, time.perf_counter() - start, module=described)


def error_run(task: Task, exc: BaseException, seconds: float) -> BackendRun:
    return BackendRun(task.backend, Status.ERROR, seconds, describe_exception(exc),
                      error_location(exc, _safe_root(task)))


def _safe_root(task: Task):
    try:
        return task.target.root
    except Exception:  # noqa: BLE001 - e.g. the module vanished
        return None


def _failure_run(task: Task, exc: BaseException, start: float) -> BackendRun:
    seconds = time.perf_counter() - start
    if isinstance(exc, MemoryError):
        return BackendRun(task.backend, Status.ERROR, seconds,
                          "out of memory (raise --memory-limit if the function needs more)",
                          error_location(exc, _safe_root(task)))
    if isinstance(exc, KeyboardInterrupt):
        return BackendRun(task.backend, Status.ERROR, seconds, "interrupted")
    try:
        return error_run(task, exc, seconds)
    except BaseException:  # noqa: BLE001
        return BackendRun(task.backend, Status.ERROR, seconds, f"the worker failed: {type(exc).__name__}")


def _send(connection, task: Task, result: BackendRun) -> None:
    try:
        try:
            connection.send(result)
        except Exception as exc:  # noqa: BLE001 - an unpicklable value must still produce a row
            connection.send(BackendRun(task.backend, Status.ERROR, result.seconds,
                                       f"cannot send result: {describe_exception(exc)}"))
        connection.close()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - the parent is gone or the pipe broke: nothing left to tell
        pass


def _own_session(watch) -> None:
    """A session of our own, the user's processes kept as descendants, dying with adcheck: see
    the module docstring."""
    try:
        os.setsid()
    except OSError:  # already a session leader
        pass
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)  # the fork server's handlers are not ours
    _become_subreaper()

    def watchdog():
        try:
            watch.recv()
        except BaseException:  # noqa: BLE001 - EOF: adcheck closed the pipe or died
            pass
        kill_descendants(os.getpid())
        try:
            os.killpg(0, signal.SIGKILL)
        except OSError:
            os._exit(1)

    threading.Thread(target=watchdog, name="adcheck-watchdog", daemon=True).start()


PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def _become_subreaper() -> None:
    """Linux: orphaned descendants are re-parented to this worker, not to init, so a process that
    left the session (setsid, a daemon) can still be found and ended."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except Exception:  # noqa: BLE001 - the process group still covers the common case
        pass


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux: from /proc; elsewhere: none known)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as handle:
                    children = [int(c) for c in handle.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            frontier.extend(children)
    return found


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of ``pid``, leaves first is not needed: SIGKILL cannot be refused."""
    for child in descendants(pid):
        try:
            os.kill(child, signal.SIGKILL)
        except OSError:
            pass


def _limit_memory(limit: int) -> None:
    import resource

    # RLIMIT_DATA bounds heap growth without counting the large virtual reservations that
    # jax and torch make up front (RLIMIT_AS would break them).
    try:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    except (ValueError, OSError):
        pass


# --- in adcheck ------------------------------------------------------------------------------------


def _death_message(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker did not finish"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return f"the worker was killed ({name}); out of memory?"
        return f"the worker was ended by {name} (did the function signal its own process group?)" \
            if -exitcode in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) else f"the worker crashed with {name}"
    return f"the worker exited with code {exitcode} before returning a result (os._exit or a fatal error)"


class _Context:
    """The start method: a fork server, unless one cannot start here (a socket path longer than
    the system allows, under a long TMPDIR), then plain spawning."""

    forkserver_failed = False


# Imported once by the fork server and shared, copy-on-write, by every worker forked from it.
# Never jax or torch (not fork-safe once initialised) and never the user's code.
_PRELOAD = ["numpy", "scipy.differentiate", "scipy.special", "adcheck.workers", "adcheck.backends.calling",
            "adcheck.backends.fd", "adcheck.finite_differences", "adcheck.compare", "adcheck.explain.probes"]


def _worker_context():
    """Workers come from a fork server that has numpy, scipy and adcheck already imported.

    A spawned worker spends about half a second importing them before it can start; a fork
    server pays that once per adcheck process (and ``adcheck check`` or a test session runs
    many). Each worker is still a fresh process that has imported no user code: the server
    never runs any. Where there is no fork server (not POSIX), workers are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods() or _Context.forkserver_failed:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def start_fork_server() -> None:
    """Start the fork server now (with the environment the caller has set); spawn if it cannot."""
    if "forkserver" not in multiprocessing.get_all_start_methods() or _Context.forkserver_failed:
        return
    from multiprocessing import forkserver

    _worker_context()
    try:
        forkserver.ensure_running()
    except OSError:  # e.g. "AF_UNIX path too long" under a long TMPDIR
        _Context.forkserver_failed = True


class _Running:
    """Every worker adcheck has running, so that an interruption can end them all at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.processes: set = set()
        self.stopping = threading.Event()

    def add(self, process) -> None:
        with self.lock:
            self.processes.add(process)

    def discard(self, process) -> None:
        with self.lock:
            self.processes.discard(process)

    def stop_all(self) -> None:
        """Kill every running worker and its group (Ctrl-C, SIGTERM): their tasks end at once."""
        self.stopping.set()
        with self.lock:
            processes = list(self.processes)
        for process in processes:
            end(process)


RUNNING = _Running()


def end(process) -> None:
    """Kill a worker, its descendants and everything in its process group."""
    pid = process.pid
    if pid is not None:
        kill_descendants(pid)  # while the worker lives, they are still its descendants
        try:
            os.killpg(pid, signal.SIGKILL)  # the worker's session: pgid == its pid
        except (ProcessLookupError, PermissionError, OSError):
            pass
    try:
        process.kill()
    except Exception:  # noqa: BLE001 - already gone
        pass


def run_tasks(tasks: list[Task], timeout: float, jobs: int | None = None, on_done=None) -> list[BackendRun]:
    """Run every task in its own process, at most ``jobs`` at once; results in task order."""
    context = _worker_context()
    jobs = jobs or len(tasks)
    results: dict[int, BackendRun] = {}
    pending = list(enumerate(tasks))
    running: dict = {}  # connection -> (index, process, started, watch)

    def start_next():
        index, task = pending.pop(0)
        receive, send = context.Pipe(duplex=False)
        watch_receive, watch_send = context.Pipe(duplex=False)
        process = context.Process(target=_worker_main, args=(task, send, watch_receive), daemon=True)
        process.start()
        RUNNING.add(process)
        send.close()
        watch_receive.close()
        running[receive] = (index, process, time.perf_counter(), watch_send)

    def finish(connection, result):
        index, process, _, watch = running.pop(connection)
        connection.close()
        watch.close()  # the worker's watchdog ends its group, whatever the user left running
        process.join(2)
        end(process)
        process.join(1)
        RUNNING.discard(process)
        results[index] = result
        if on_done:
            on_done(result)

    try:
        while pending or running:
            if RUNNING.stopping.is_set():
                raise KeyboardInterrupt
            while pending and len(running) < jobs:
                start_next()
            now = time.perf_counter()
            deadline = min(started + timeout for _, _, started, _ in running.values())
            ready = multiprocessing.connection.wait(list(running), timeout=max(0.0, min(deadline - now, 0.5)))
            for connection in ready:
                index, process, started, _ = running[connection]
                try:
                    result = connection.recv()
                except (EOFError, OSError):
                    process.join(5)
                    message = "interrupted" if RUNNING.stopping.is_set() else _death_message(process.exitcode)
                    result = BackendRun(tasks[index].backend, Status.ERROR, time.perf_counter() - started, message)
                finish(connection, result)
            now = time.perf_counter()
            for connection, (index, process, started, _) in list(running.items()):
                if now - started >= timeout:
                    end(process)
                    finish(connection, BackendRun(tasks[index].backend, Status.ERROR, now - started,
                                                  f"timed out after {timeout:g} s (--timeout)"))
    finally:
        # Interrupted (Ctrl-C, SIGTERM, an error of ours): no worker may outlive adcheck.
        for connection, (_, process, _, watch) in list(running.items()):
            end(process)
            watch.close()
            RUNNING.discard(process)
    if RUNNING.stopping.is_set():
        raise KeyboardInterrupt  # the rows of killed workers say nothing about the function
    return [results[i] for i in range(len(tasks))]
