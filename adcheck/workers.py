"""Worker processes: each backend computes in a worker process, and nothing of it outlives its task.

Why worker processes: a fresh import of the user's module means state one backend leaves
behind (a mutated global, a leaked tracer) cannot reach the next; a hang is killed at the
timeout; a segfault, ``sys.exit`` or memory exhaustion stays in the worker and becomes a row.
The workers start together, so a multi-core machine computes backends side by side; tasks of
one lane (``run_tasks``) run one after another in one worker, which puts back what each task
changed, the user's modules included, before the next, and then compares itself with its
fingerprint from before any user code ran in it (``pristine``): a worker that a task left
changed in any other way (a framework's function replaced, a signal handler set) serves no
further task.

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

import atexit
import contextlib
import dataclasses
import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Mapping

from .backends.calling import describe_exception, safe_root
from .jobs import execute, failure_run
from .model import JobResult, Status
from .task import Task

# --- inside the worker ------------------------------------------------------------------------------


def _serve(tasks, results, watch, serves_many: bool = False) -> None:
    """A worker's life: run each task sent, send back a ``_Reply`` for each, whatever the
    user's code does; stop when adcheck closes the task pipe.

    Nothing may escape from here: an uncaught exception would make multiprocessing print a
    traceback and send nothing. Between tasks the worker forgets the user's modules and puts
    back the process-wide state a function can change (``_ProcessState``); a worker that may
    serve another task (``serves_many``) then compares itself with its fingerprint from before
    any user code ran (``pristine.Watch``), and one that differs retires: the next task gets a
    fresh worker, so a worker that serves several cases of ``adcheck check`` passes nothing from
    one to the next.
    """
    try:
        _own_session(watch)
        _may_have_children()
        # The user's prints must never reach our stdout (it may carry the JSON report).
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    except BaseException:  # noqa: BLE001 - a worker that cannot even start ends; adcheck reports it
        os._exit(1)
    # What the fork server imported (JAX: a hundred thousand objects) lives as long as the worker:
    # kept out of the collector's full passes, which otherwise took a tenth of a JAX task's time.
    gc.freeze()
    cleanliness = None
    if serves_many:
        from . import loader
        from .pristine import Watch

        cleanliness = Watch()
        loader.before_user_code = cleanliness.user_code_starts
    state = None
    while True:
        try:
            task = tasks.recv()
        except BaseException:  # noqa: BLE001 - EOF: adcheck has no more work for us
            return
        start = time.perf_counter()
        state = _ProcessState(state)
        try:
            if task.memory_limit:
                _limit_memory(task.memory_limit)
            # The user's numpy warnings ("invalid value encountered in log") would print once per
            # worker and point, above the report: FD and AD evaluate where the function misbehaves
            # on purpose, and the report says what came of it (a value that is not finite, a NaN
            # derivative with its primitive).
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                result = execute(task)
        except BaseException as exc:  # noqa: BLE001 - even adcheck's own failure must become a row
            result = failure_run(task, exc, start)
        kill_descendants(os.getpid())  # what the function started ends with its task
        try:
            # Compared before what _ProcessState puts back: it puts back the state from before
            # adcheck's set-up (torch's default dtype), the fingerprint is from after it.
            changed = cleanliness.task_ends() if cleanliness is not None else []
            state.restore(task, cleanliness.fingerprinted_modules() if cleanliness is not None else {})
        except BaseException:  # noqa: BLE001 - a worker that cannot clean up or look must not serve again
            changed = ["the worker could not put back or compare its state"]
        _send(results, task, _Reply(result, tuple(changed)))
        if changed:
            os._exit(0)


@dataclasses.dataclass(frozen=True)
class _Reply:
    """A task's result, and what the task left changed in its worker (``pristine``): a worker that
    reports a change serves no further task."""

    run: JobResult
    changed: tuple[str, ...] = ()


def _may_have_children() -> None:
    """Let the user's function start processes of its own (``multiprocessing.Pool``).

    adcheck starts its workers as daemonic processes, so that multiprocessing ends any that
    adcheck's exit would leave behind, and multiprocessing refuses children to a daemonic
    process. In the worker itself the flag means nothing else: what the function starts ends
    with its task anyway (``kill_descendants``), and with the worker (``_own_session``).
    """
    try:
        multiprocessing.current_process().daemon = False
    except (AssertionError, AttributeError):  # another Python's internals: the function may not fork
        pass


class _ProcessState:
    """What a task may change that outlives it in a worker: restored before the next task."""

    def __init__(self, before: _ProcessState | None = None):
        import random

        import numpy as np

        self.modules = set(sys.modules)
        # The top-level packages of the modules loaded before the task. A warm worker's modules
        # only grow from one task to the next (the user's are forgotten), so the previous task's
        # set needs only the newcomers' added: JAX alone brings a few thousand modules.
        if before is None:
            self.packages = {name.partition(".")[0] for name in self.modules}
        else:
            self.packages = before.packages | {name.partition(".")[0] for name in self.modules - before.modules}
        self.environ = _environment()
        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.recursion_limit = sys.getrecursionlimit()
        self.numpy_random = np.random.get_state()
        self.numpy_errors = np.geterr()
        self.numpy_print = np.get_printoptions()
        self.random = random.getstate()
        import warnings

        self.warnings = list(warnings.filters)
        self.torch = _torch_state()

    def restore(self, task: Task, fingerprinted: Mapping[str, object]) -> None:
        """Put back what the task changed; a module the worker's fingerprint holds
        (``pristine.Watch.fingerprinted_modules``) stays, whatever its name: it was there when the
        worker became pristine, or adcheck's own set-up made it (the Cython runtime's file-less
        ``cython_runtime`` and ``_cython_3_2_4``, which any extension's import registers once per
        process: taken out, the next import would make new ones and the worker would retire)."""
        import random
        import warnings

        import numpy as np

        root = safe_root(task)
        # A new submodule of a package that was already loaded is the library's, made on first use
        # (torch._C._functorch): it stays, for it cannot be imported again. So does a library's
        # own module, even in a virtualenv under the user's project.
        packages = self.packages
        own = getattr(getattr(task, "target", None), "module", "").partition(".")[0]  # installed or not, the user's
        for name in set(sys.modules) - self.modules:
            if name in fingerprinted and fingerprinted[name] is sys.modules[name]:
                continue
            package = name.partition(".")[0]
            if package in packages or (package != own and _installed(getattr(sys.modules.get(package), "__file__", None))):
                continue
            origin = getattr(sys.modules.get(name), "__file__", None)
            if origin is None or root is None or _under(origin, root):
                sys.modules.pop(name, None)  # the user's modules: imported afresh by the next task
        if _environment() != self.environ:  # putting it back sets every variable again: only when it changed
            os.environ.clear()
            os.environ.update({os.fsdecode(name): os.fsdecode(value) for name, value in self.environ.items()})
        os.chdir(self.cwd)
        sys.path[:] = self.path
        sys.setrecursionlimit(self.recursion_limit)
        np.random.set_state(self.numpy_random)
        if np.geterr() != self.numpy_errors:
            np.seterr(**self.numpy_errors)
        if np.get_printoptions() != self.numpy_print:
            np.set_printoptions(**self.numpy_print)
        random.setstate(self.random)
        warnings.filters[:] = self.warnings
        sys.stdout, sys.stderr = sys.__stderr__, sys.__stderr__
        if self.torch is not None:
            import torch

            torch.set_rng_state(self.torch[0])
            torch.set_default_dtype(self.torch[1])


def _environment() -> dict:
    """The environment as ``os.environ`` holds it (encoded): copied and compared in C, where going
    through the mapping decodes every variable, a real share of a small task's cost."""
    return dict(getattr(os.environ, "_data", os.environ))


def _torch_state():
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    return torch.get_rng_state(), torch.get_default_dtype()


def _installed(path: str | None) -> bool:
    """Whether ``path`` is an installed library's file (under site-packages)."""
    return path is not None and not {"site-packages", "dist-packages"}.isdisjoint(os.path.normpath(path).split(os.sep))


def _under(path: str, root) -> bool:
    from .loader import resolved

    try:
        return resolved(path).is_relative_to(root)
    except (OSError, ValueError):
        return False


def _send(connection, task: Task, reply: _Reply) -> None:
    try:
        try:
            connection.send(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable value must still produce a row
            connection.send(dataclasses.replace(reply, run=task.failed(
                Status.ERROR, reply.run.seconds, f"cannot send result: {describe_exception(exc)}")))
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


def _has_children() -> bool:
    """Whether this process has a child, running or not yet reaped, in any of its threads: one
    system call. With none, it has no descendants either: an orphaned grandchild is re-parented
    to this process (a subreaper), and a child that died unreaped still counts."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    except (AttributeError, OSError):  # no waitid here: look
        return True
    return True


def kill_descendants(pid: int) -> None:
    """SIGKILL every descendant of ``pid``, leaves first is not needed: SIGKILL cannot be refused."""
    if pid == os.getpid() and not _has_children():
        return  # nothing to find: the walk reads a file per thread (JAX's worker has sixteen)
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
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        soft = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))  # the soft limit: the next task may set another
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
    stopped_at_exit = False  # whether the server is ended at exit (registered once)
    server_started = False  # start_fork_server has started it: later calls change nothing


# Imported once by the fork server and shared, copy-on-write, by every worker forked from it:
# what every worker needs, and (start_fork_server) the frameworks a run's workers use. No worker
# starts before the server has imported all of it, so what only one backend needs (scipy and the
# probes for fd, 0.15 s) that backend's worker imports itself, beside the others: the seed
# workload and mlp_loss ran 7-8% faster than with all of it here. Never the user's code.
_PRELOAD = ["adcheck.quiet_server", "numpy", "adcheck.workers", "adcheck.jobs", "adcheck.backends.calling",
            "adcheck.compare"]


def _worker_context():
    """Workers come from a fork server that has numpy and adcheck's worker modules (and, when a
    run needs them, jax or torch) already imported.

    A spawned worker spends about half a second importing them before it can start; a fork
    server pays that once per adcheck process (and ``adcheck check`` or a test session runs
    many). Each worker is still a fresh process that has imported no user code: the server
    never runs any. Where there is no fork server (not POSIX), workers are spawned.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods() or _Context.forkserver_failed:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    if not _Context.stopped_at_exit:
        _Context.stopped_at_exit = True
        atexit.register(_stop_fork_server)
    return context


def _stop_fork_server() -> None:
    """At exit, end the fork server and multiprocessing's resource tracker with adcheck.

    Left alone, each ends on its own moments after adcheck (when it sees its pipe close): adcheck
    would exit with its processes still running, and a caller reading adcheck's stderr, which
    they share, would wait for them. The server is killed (it may still be importing JAX); the
    tracker is asked to stop, so that it still cleans up after the workers.
    """
    from multiprocessing import forkserver, resource_tracker

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    try:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            server._stop()  # reaps it and removes its socket
        tracker = getattr(resource_tracker, "_resource_tracker", None)
        if getattr(tracker, "_pid", None) is not None:
            tracker._stop()
    except (AttributeError, OSError):  # another Python's internals, or already gone: they end on their own
        pass


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_START = threading.Lock()


def start_fork_server(preload: tuple[str, ...] = (), blas_threads: int | None = None) -> None:
    """Start the fork server now, with ``preload`` (jax, torch) imported along with numpy and
    adcheck's worker modules when they are installed, and ``blas_threads`` BLAS threads per
    worker unless the user's environment sets them; spawn if it cannot.

    The first start decides: a running server keeps what it imported, and a later call changes
    nothing, the process's environment least of all (``adcheck check -j`` calls this from every
    case thread; only the call that starts the server, under a lock, sets the thread counts for
    the server to inherit and puts the environment back before returning)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    with _START:
        if _Context.forkserver_failed or _Context.server_started:
            return
        import importlib.util
        from multiprocessing import forkserver

        context = _worker_context()
        extra = [name for name in preload if importlib.util.find_spec(name) is not None]
        context.set_forkserver_preload([*_PRELOAD, *extra])
        with _thread_counts(blas_threads):
            try:
                forkserver.ensure_running()
                _Context.server_started = True
            except OSError:  # e.g. "AF_UNIX path too long" under a long TMPDIR
                _Context.forkserver_failed = True


def available_cores() -> int:
    """The CPUs this process may run on (a container's or ``taskset``'s share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def start_workers(n_workers: int, preload: tuple[str, ...] = ()) -> None:
    """Start the workers' fork server, importing ``preload``, with each worker's share of the
    cores for BLAS threads.

    The workers run side by side; each BLAS library defaults to one thread per core, so four
    workers on two cores would run eight busy threads and a linear solve would slow fourfold.
    The fork server loads numpy (and the BLAS with it) once, so the share goes into its
    environment when it starts (``workers.start_fork_server``). A server already running keeps
    what it has, and this call then touches nothing.
    """
    start_fork_server(preload, blas_threads=max(1, available_cores() // max(1, n_workers)))


@contextlib.contextmanager
def _thread_counts(threads: int | None):
    """The BLAS thread counts in the environment while the fork server starts (it loads numpy,
    and the BLAS reads them then), the user's own settings kept; put back afterwards."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    try:
        if threads is not None:
            for name in _THREAD_VARIABLES:
                os.environ.setdefault(name, str(threads))
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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


_MAIN_LOCK = threading.Lock()


@contextlib.contextmanager
def _main_script_hidden():
    """Start a worker without it running the caller's script: multiprocessing would import
    ``__main__``'s file into each new worker (as ``__mp_main__``), which runs a script without a
    ``__name__`` guard again, in every worker (``adcheck.check`` called from a script). Workers
    never need it: the user's function reaches them by file or by value."""
    main = sys.modules.get("__main__")
    with _MAIN_LOCK:
        path = getattr(main, "__file__", None) if getattr(main, "__spec__", None) is None else None
        if path is not None:
            del main.__file__
        try:
            yield
        finally:
            if path is not None:
                main.__file__ = path


class Worker:
    """One worker process and the pipes to it: tasks go in, results come out, and a watch pipe
    whose closing (adcheck done with it, or dead) ends the worker and all it started."""

    def __init__(self, context, backend: str, serves_many: bool = True):
        self.backend = backend
        # Pipe(duplex=False) is (the reading end, the writing end).
        task_reader, self.tasks = context.Pipe(duplex=False)  # adcheck writes tasks, the worker reads them
        self.results, result_writer = context.Pipe(duplex=False)  # the worker writes results, adcheck reads
        watch_reader, self.watch = context.Pipe(duplex=False)  # only adcheck holds the writing end
        self.process = context.Process(target=_serve, args=(task_reader, result_writer, watch_reader, serves_many),
                                       daemon=True)
        with _main_script_hidden():
            self.process.start()
        RUNNING.add(self.process)
        for end_of_the_worker in (task_reader, result_writer, watch_reader):
            end_of_the_worker.close()
        self.started = 0.0
        self.task: Task | None = None
        self.last_target = ""  # the target of the last task it ran: a pool prefers it for the next
        self.retired = False  # a task left the worker changed (``_Reply.changed``): it serves no other

    @property
    def reusable(self) -> bool:
        return not self.retired and self.process.is_alive()

    def submit(self, task: Task) -> None:
        self.task, self.started = task, time.perf_counter()
        self.last_target = task.target.text
        self.tasks.send(task)

    def receive(self) -> JobResult:
        try:
            reply = self.results.recv()
            self.retired = bool(reply.changed)
            return reply.run
        except (EOFError, OSError):
            self.retired = True
            self.process.join(5)
            message = "interrupted" if RUNNING.stopping.is_set() else _death_message(self.process.exitcode)
            return self.task.failed(Status.ERROR, time.perf_counter() - self.started, message)

    def close(self) -> None:
        """End the worker and everything it started."""
        for connection in (self.tasks, self.results, self.watch):
            try:
                connection.close()
            except OSError:
                pass
        end(self.process)
        self.process.join(1)
        RUNNING.discard(self.process)


class WorkerPool:
    """Warm workers that serve task after task (``adcheck check``): JAX and torch are imported
    once per worker and their compiled operations reused, not once per case. Each task still
    imports the user's module afresh, and the worker puts back what the task changed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle: dict[str, list[Worker]] = {}
        self.closed = False

    def acquire(self, context, backend: str, target: str = "") -> Worker:
        """An idle worker of ``backend`` (the one that last ran ``target``, if any), else a new one."""
        with self.lock:
            workers = self.idle.get(backend, [])
            workers.sort(key=lambda w: w.last_target == target)  # that one last: popped first
            while workers:
                worker = workers.pop()
                if worker.reusable:
                    return worker
                worker.close()
        return Worker(context, backend)

    def release(self, worker: Worker) -> None:
        with self.lock:
            if not self.closed and worker.reusable:
                self.idle.setdefault(worker.backend, []).append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            workers = [w for ws in self.idle.values() for w in ws]
            self.idle.clear()
        for worker in workers:
            worker.close()


def run_tasks(tasks: list[Task], timeout: float, jobs: int | None = None, on_done=None,
              pool: WorkerPool | None = None, lane=None) -> list[JobResult]:
    """Run every task in a worker process, at most ``jobs`` workers at once; results in task order.

    ``lane(task)``: tasks of the same lane run one after another in one worker (the backends of
    one framework, on a machine with fewer cores than backends: JAX is then imported and warmed
    once, not once per mode); by default every task has a worker of its own. Each task still
    imports the user's module afresh, and the worker puts back what a task changed before the
    next (``_serve``). Without a pool a worker ends with its lane; with one, a worker that
    finished goes back to the pool for the next task of its lane. A worker that timed out or
    died is never reused: the lane's next task gets a fresh one.
    """
    if getattr(pool, "in_process", False):  # adcheck.check(isolation="none"): no worker at all
        return pool.run(tasks, on_done)
    lanes: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        lanes.setdefault(lane(task) if lane is not None else f"{task.backend}#{index}", []).append(index)
    waiting = [(key.split("#")[0], queue) for key, queue in lanes.items()]  # (worker kind, task indices)
    scheduler = _Scheduler(tasks, waiting, on_done, pool)
    try:
        scheduler.run(jobs or len(waiting), timeout)
    finally:
        # Interrupted (Ctrl-C, SIGTERM, an error of ours): no worker may outlive adcheck.
        for _, worker, _ in list(scheduler.running.values()):
            worker.close()
    if RUNNING.stopping.is_set():
        raise KeyboardInterrupt  # the rows of killed workers say nothing about the function
    return [scheduler.results[i] for i in range(len(tasks))]


class _Scheduler:
    """``run_tasks``' bookkeeping: the lanes still waiting, the workers running, the results."""

    def __init__(self, tasks: list[Task], waiting: list, on_done, pool: WorkerPool | None):
        self.tasks, self.waiting, self.on_done, self.pool = tasks, waiting, on_done, pool
        self.context = _worker_context()
        self.results: dict[int, JobResult] = {}
        self.running: dict = {}  # results connection -> (index, worker, the lane's remaining indices)

    def run(self, jobs: int, timeout: float) -> None:
        while self.waiting or self.running:
            if RUNNING.stopping.is_set():
                raise KeyboardInterrupt
            while self.waiting and len(self.running) < jobs:
                self.start_next()
            now = time.perf_counter()
            deadline = min(worker.started + timeout for _, worker, _ in self.running.values())
            ready = multiprocessing.connection.wait(list(self.running), timeout=max(0.0, min(deadline - now, 0.5)))
            for connection in ready:
                _, worker, _ = self.running[connection]
                result = worker.receive()
                self.finish(connection, result, reusable=worker.reusable)
            now = time.perf_counter()
            for connection, (index, worker, _) in list(self.running.items()):
                if now - worker.started >= timeout:
                    self.finish(connection, self.tasks[index].failed(Status.ERROR, now - worker.started,
                                                                     f"timed out after {timeout:g} s (--timeout)"),
                                reusable=False)

    def submit(self, worker: Worker, queue: list[int]) -> None:
        index = queue.pop(0)
        worker.submit(self.tasks[index])
        self.running[worker.results] = (index, worker, queue)

    def start_next(self) -> None:
        kind, queue = self.waiting.pop(0)
        first = self.tasks[queue[0]]
        self.submit(self.pool.acquire(self.context, kind, first.target.text) if self.pool is not None
                    else Worker(self.context, kind, serves_many=len(queue) > 1), queue)

    def finish(self, connection, result: JobResult, reusable: bool) -> None:
        index, worker, queue = self.running.pop(connection)
        self.results[index] = result
        if self.on_done:
            self.on_done(result)
        if queue and reusable:
            self.submit(worker, queue)  # the lane's next task, in the same warm worker
            return
        if self.pool is not None and reusable:
            self.pool.release(worker)
        else:
            worker.close()
        if queue:
            self.waiting.insert(0, (worker.backend, queue))  # a fresh worker for the rest of the lane
