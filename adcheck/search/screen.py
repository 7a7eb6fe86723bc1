"""The worker side of ``--search``: one backend's run at many inputs, in one task.

A search checks hundreds of inputs; a task per input would pay a task's round trip, and its
bookkeeping in the worker, hundreds of times per backend. So the parent sends each backend's
warm worker a batch of flat inputs, and the worker computes the backend's ordinary run
(``Backend.compute``) at each of them in turn, without probes, and sends every run back in one
``BackendRun.batch``. Each input still gets a fresh import of the user's module, as any task does.
A failure at one input (the function raises there, the backend cannot run it) is that input's
row and never costs the others.
"""

from __future__ import annotations

import dataclasses
import time

from ..backends import REGISTRY
from ..backends.calling import NotApplicable
from ..model import BackendRun, Status


def compute_batch(task) -> BackendRun:
    """The backend's run at each of ``task.batch``'s inputs (``BackendRun.batch``, in order)."""
    from ..workers import error_run

    start = time.perf_counter()
    backend = REGISTRY[task.backend]
    runs = []
    for flat in task.batch:
        one = dataclasses.replace(task, arguments=task.arguments.at(flat), batch=(), probes=False)
        began = time.perf_counter()
        try:
            run = backend.compute(one)
        except NotApplicable as exc:
            run = BackendRun(task.backend, Status.NOT_APPLICABLE, time.perf_counter() - began, exc.message,
                             exc.location)
        except MemoryError:
            raise  # the worker's own failure row says so, for the whole batch
        except BaseException as exc:  # noqa: BLE001 - the user's code at this input may raise anything
            run = error_run(one, exc, time.perf_counter() - began)
        runs.append(run)
    status = Status.REFERENCE if backend.reference else Status.COMPUTED
    return BackendRun(task.backend, status, time.perf_counter() - start, batch=tuple(runs))
