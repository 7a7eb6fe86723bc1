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
    if task.backend in ("jax-fwd", "jax-rev"):
        batched = _jax_vmapped(task)
        if batched is not None:
            return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start, batch=batched)
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


def _jax_vmapped(task) -> tuple[BackendRun, ...] | None:
    """JAX's runs at every input of the batch in one ``vmap`` over the inputs: one pass of JAX's
    eager dispatch for the whole batch instead of one per input. None where the function cannot
    be vmapped (Python control flow on its values, a tracer reaching numpy): the caller then
    computes input by input, as an ordinary run does, which also reports each input's failure."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..backends.jax_backend import build_flat_function
    from ..fast import probe_vectors
    from ..frameworks import configure_jax
    from ..model import Mode, Products

    start = time.perf_counter()
    configure_jax(task.device, ())
    points = np.stack([np.asarray(flat, dtype=task.arguments.dtype) for flat in task.batch])
    n_inputs = points.shape[1]
    try:
        flat_function = build_flat_function(task)
        n_outputs = int(np.prod(jax.eval_shape(flat_function, jnp.asarray(points[0])).shape))
        vectors = probe_vectors(n_inputs, n_outputs)
        fast = task.mode == Mode.FAST
        if task.backend == "jax-fwd":
            tangents = jnp.asarray((vectors.directions.T if fast else np.eye(n_inputs)), dtype=points.dtype)

            def derivative(x):
                return jax.vmap(lambda t: jax.jvp(flat_function, (x,), (t,)), out_axes=(None, 1))(tangents)
        else:
            cotangents = jnp.asarray(vectors.cotangents.T if fast else np.eye(n_outputs), dtype=points.dtype)

            def derivative(x):
                value, pullback = jax.vjp(flat_function, x)
                return value, jax.vmap(lambda u: pullback(u)[0])(cotangents)

        values, derivatives = jax.device_get(jax.vmap(derivative)(jnp.asarray(points)))
    except Exception:  # noqa: BLE001 - not vmappable here: the input-by-input path computes (and reports) it
        return None
    seconds = (time.perf_counter() - start) / len(task.batch)
    runs = []
    for value, derivative in zip(np.asarray(values, dtype=np.float64), np.asarray(derivatives, dtype=np.float64)):
        value = value.ravel()
        if not fast:
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value,
                             jacobian=derivative.reshape(value.size, n_inputs), rebound=task.rebound)
        elif task.backend == "jax-fwd":
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value, products=Products(jv=derivative),
                             rebound=task.rebound)
        else:
            run = BackendRun(task.backend, Status.COMPUTED, seconds, value=value, products=Products(ujt=derivative),
                             rebound=task.rebound)
        runs.append(run)
    return tuple(runs)
