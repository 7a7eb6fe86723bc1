"""The process's resource limits, checked once at start: a limit too low to run is one line naming it.

adcheck runs every backend in a worker process, each with a few pipes, behind a fork server: a
shell's ``ulimit -n 20`` or a container's small process limit would otherwise fail half-way, as a
fork server's traceback or an ``EOFError`` that looks like an interrupt. The soft limits are first
raised towards the hard ones (as any process may); only what the hard limit forbids is an error.
"""

from __future__ import annotations

import os

from .errors import AdcheckError

# One worker holds about four descriptors (its two pipes, /dev/null, the fork server's socket) and
# the parent a dozen of its own: 64 runs `adcheck run` and a `check -j 4` with room to spare.
MIN_OPEN_FILES = 64
WANTED_OPEN_FILES = 4096  # what the soft limit is raised to, where the hard one allows
# The fork server, a few workers and their resource tracker.
MIN_FREE_PROCESSES = 16


class ResourceLimitError(AdcheckError):
    """A resource limit of the environment (``ulimit``) is too low for adcheck to run."""


def ensure_resource_limits() -> None:
    """Raise the soft open-file and process limits where allowed; ``ResourceLimitError`` (exit 2)
    when the hard limits leave too little. Costs a few system calls (and, under a finite process
    limit, one look at /proc)."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits to check
        return
    soft = _raise_soft(resource, resource.RLIMIT_NOFILE, WANTED_OPEN_FILES)
    if soft != resource.RLIM_INFINITY and soft < MIN_OPEN_FILES:
        raise ResourceLimitError(f"the open-file limit (ulimit -n) is {soft}; adcheck needs at least {MIN_OPEN_FILES}",
                                 hint=f"raise it with ulimit -n {MIN_OPEN_FILES * 16}")
    if not hasattr(resource, "RLIMIT_NPROC") or os.geteuid() == 0:  # root is not held to it
        return
    soft = _raise_soft(resource, resource.RLIMIT_NPROC, None)
    if soft == resource.RLIM_INFINITY:
        return
    running = _processes_of(os.getuid())
    if running is not None and soft - running < MIN_FREE_PROCESSES:
        raise ResourceLimitError(
            f"the process limit (ulimit -u) is {soft} and {running} processes of this user are running; "
            f"adcheck needs {MIN_FREE_PROCESSES} more", hint="raise the limit or end some processes")


def _raise_soft(resource, which: int, wanted: int | None) -> int:
    """The soft limit after raising it to ``wanted`` (None: the hard limit), as far as the hard one allows."""
    try:
        soft, hard = resource.getrlimit(which)
    except (OSError, ValueError):
        return resource.RLIM_INFINITY
    target = hard if wanted is None or (hard != resource.RLIM_INFINITY and hard < wanted) else wanted
    if soft != resource.RLIM_INFINITY and (target == resource.RLIM_INFINITY or soft < target):
        try:
            resource.setrlimit(which, (target, hard))
            return target
        except (OSError, ValueError):  # some systems refuse RLIM_INFINITY as a soft limit
            return soft
    return soft


def _processes_of(uid: int) -> int | None:
    """How many processes (threads count against the limit too, but rarely matter) ``uid`` runs;
    None where /proc cannot tell."""
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    count = 0
    for entry in entries:
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                count += 1
        except OSError:  # gone meanwhile
            continue
    return count


def worker_start_failure() -> ResourceLimitError:
    """What to say when a worker could not be started (the fork server hung up: its fork failed)."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
        limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    except (ImportError, OSError, ValueError, AttributeError):
        limit = "unknown"
    return ResourceLimitError(f"a worker process could not be started (the process limit, ulimit -u, is {limit}; "
                              "memory may be short too)", hint="raise the limit or end some processes")
