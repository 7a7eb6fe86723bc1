"""JAX: ``jax-fwd`` (jvp along each input basis vector) and ``jax-rev`` (vjp along each output).

Where the time goes, measured on a Python loop over a 100-element array (the motivating
cumulative product): JAX iterates a traced array with one ``slice`` per element, each with its
own static start, so op-by-op execution compiles 100 tiny XLA programs, and ``jax.jit`` of the
whole Jacobian compiles one program with the loop unrolled, which is slower still (about 10 s
against 3 s). So the derivative runs op by op, as ``jax.jacfwd``/``jacrev`` do un-jitted, and
in this worker iteration over an array is a single ``lax.unstack``: one compiled op whatever
the length, the same elements, the same derivative. XLA's backend optimisation is turned down
(``--xla_backend_optimization_level=0``) because each of the remaining programs runs once and
compiling is most of its cost; the user's own ``jax.jit`` functions are compiled the same way.
Op by op also keeps Python control flow on input values working, as it does for users.
"""

from __future__ import annotations

import time

import numpy as np

from ..model import BackendRun, Status
from .worker import Task, check_shapes, load_user_function, output_parts

_FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"


def configure_jax():
    """float64, the CPU, quick compiles, and one-op iteration (see the module docstring)."""
    import os

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_FAST_COMPILE_FLAG}".strip()  # read when jax starts its backend
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    _iterate_with_one_unstack()


def _iterate_with_one_unstack():
    import jax
    from jax._src import core

    original = getattr(core.ShapedArray, "_iter", None)
    if original is None or getattr(original, "__adcheck__", False):
        return

    def iterate(tracer):
        if tracer.ndim == 0 or any(isinstance(d, core.Tracer) for d in tracer.shape):
            return original(tracer)  # the 0-d error and dynamic shapes stay JAX's own
        return iter(jax.lax.unstack(tracer))

    iterate.__adcheck__ = True
    core.ShapedArray._iter = staticmethod(iterate)


def compute(task: Task) -> BackendRun:
    configure_jax()
    start = time.perf_counter()
    mode = "fwd" if task.backend == "jax-fwd" else "rev"
    x0 = task.arguments.flat().copy()
    if task.options.get("mode") == "fast":
        return _products(task, x0, mode, start)
    try:
        value, jac = _traced(task, x0, lambda f: _first_order(f, mode))
    except TypeError as exc:
        if mode == "fwd" and "custom_vjp" in str(exc):
            return BackendRun(task.backend, Status.NOT_APPLICABLE, time.perf_counter() - start,
                              "the function uses jax.custom_vjp, which JAX differentiates in reverse mode only")
        raise
    value = np.asarray(value, dtype=np.float64).ravel()
    jac = np.asarray(jac, dtype=np.float64).reshape(value.size, x0.size)
    check_shapes(value, jac, x0.size)
    extra = {}
    if task.options.get("order") == 2:
        extra["order2"] = _second_order(task, x0, mode, value.size)
    return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start, value=value, jacobian=jac,
                      extra=extra)


def _flat_function(task: Task):
    """The user's function, freshly imported, as ``x_flat -> concatenated flat outputs`` in jax."""
    import jax.numpy as jnp

    func = load_user_function(task)
    arguments = task.arguments

    def flat_function(x):
        pieces = arguments.unflatten(x, xp=jnp)
        args = [pieces[i] if i in arguments.wrt else np.array(pieces[i], copy=True) for i in range(len(pieces))]
        if task.framework == "array-api":
            args = [jnp.asarray(a) for a in args]
        parts = output_parts(func(*args))
        return jnp.concatenate([jnp.ravel(jnp.asarray(p)) for p in parts])

    return flat_function


def _traced(task: Task, x0: np.ndarray, build):
    """``build(flat_function)(x0)`` op by op, on a fresh import of the user's module."""
    import jax
    import jax.numpy as jnp

    return jax.device_get(build(_flat_function(task))(jnp.asarray(x0)))


def _first_order(flat_function, mode: str):
    import jax
    import jax.numpy as jnp

    def forward(x):
        value, pushforward = jax.linearize(flat_function, x)
        return value, jax.vmap(pushforward, out_axes=1)(jnp.eye(x.size, dtype=x.dtype))

    def reverse(x):
        value, pullback = jax.vjp(flat_function, x)
        return value, jax.vmap(pullback)(jnp.eye(value.size, dtype=value.dtype))[0]

    return forward if mode == "fwd" else reverse


def _products(task: Task, x0: np.ndarray, mode: str, start: float) -> BackendRun:
    """Fast mode: ``J V`` (forward) or ``U^T J`` (reverse) for the shared probe vectors."""
    import jax
    import jax.numpy as jnp

    from ..fast import probe_vectors

    n_outputs = int(np.size(_traced(task, x0, lambda f: f)))
    vectors = probe_vectors(x0.size, n_outputs)

    def build(flat_function):
        if mode == "fwd":
            def products(x):
                value, pushforward = jax.linearize(flat_function, x)
                return value, jax.vmap(pushforward, in_axes=1, out_axes=1)(jnp.asarray(vectors.directions))
        else:
            def products(x):
                value, pullback = jax.vjp(flat_function, x)
                return value, jax.vmap(pullback)(jnp.asarray(vectors.cotangents.T))[0]
        return products

    value, result = _traced(task, x0, build)
    key = "jv" if mode == "fwd" else "ujt"
    return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start,
                      value=np.asarray(value, dtype=np.float64).ravel(),
                      extra={key: np.asarray(result, dtype=np.float64)})


def _second_order(task: Task, x0: np.ndarray, mode: str, n_outputs: int) -> dict:
    import jax
    import jax.numpy as jnp

    from .second_order import direction, second_order_result

    differentiate = jax.jacfwd if mode == "fwd" else jax.jacrev
    v = jnp.asarray(direction(x0.size))

    def first_derivative_of(flat_function):
        if n_outputs == 1:
            return lambda x: differentiate(flat_function)(x)[0]
        if mode == "fwd":
            return lambda x: jax.jvp(flat_function, (x,), (v,))[1]
        return lambda x: differentiate(flat_function)(x) @ v

    second = _traced(task, x0, lambda f: differentiate(first_derivative_of(f)))
    first = first_derivative_of(_flat_function(task))
    return second_order_result(lambda x: jax.device_get(first(jnp.asarray(x))), second, x0)
