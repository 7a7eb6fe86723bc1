"""JAX: ``jax-fwd`` (jvp along each input basis vector) and ``jax-rev`` (vjp along each output).

The forward pass (``jax.linearize`` or ``jax.vjp``: the function's value under JAX's tracing)
is where numpy or autograd code that JAX cannot run fails: a tracer reaching real numpy or
scipy, an in-place write into an array. Under adcheck's rebinding that makes the row
``not-applicable``; code written for JAX that fails there, and any failure after the forward
pass, is an error. See ``adcheck.frameworks.configure_jax`` for why everything runs op by op.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from ..frameworks import configure_jax
from ..model import BackendRun, Mode, Products, SecondOrder, Status
from .calling import NotApplicable, check_shapes, load_user_function, output_parts, real_values, rebinding_can_fail


def compute(task) -> BackendRun:
    configure_jax()
    start = time.perf_counter()
    direction = "fwd" if task.backend == "jax-fwd" else "rev"
    x0 = task.arguments.flat().copy()
    with rebinding_can_fail(task, "import"):
        flat_function = _flat_function(task)
    finished = {"name": task.backend, "status": Status.COMPUTED, "rebound": task.rebound}
    with _reverse_only_rules(direction):
        if task.mode == Mode.FAST:
            value, products = _products(task, flat_function, x0, direction)
            return BackendRun(seconds=time.perf_counter() - start, value=value, products=products, **finished)
        value, jac = _first_order(task, flat_function, x0, direction)
    check_shapes(value, jac, x0.size)
    second = _second_order(task, x0, direction, value.size) if task.order == 2 else None
    return BackendRun(seconds=time.perf_counter() - start, value=value, jacobian=jac, second_order=second, **finished)


def _flat_function(task):
    """The user's function, freshly imported, as ``x_flat -> concatenated flat outputs`` in jax."""
    import jax.numpy as jnp

    func = load_user_function(task)
    arguments = task.arguments

    def flat_function(x):
        if task.framework == "array-api":  # array-API code learns its namespace from its arguments
            args = arguments.build(x, xp=jnp, fixed=jnp.asarray)
        else:
            args = arguments.build(x, xp=jnp)
        parts = output_parts(func(*args))
        return jnp.concatenate([jnp.ravel(jnp.asarray(p)) for p in parts])

    return flat_function


@contextlib.contextmanager
def _reverse_only_rules(direction: str):
    """A ``jax.custom_vjp`` rule in forward mode: JAX cannot, so jax-fwd does not apply (JAX
    says so when the linear map is first applied, not when it is built)."""
    try:
        yield
    except TypeError as exc:
        if direction == "fwd" and "custom_vjp" in str(exc):
            raise NotApplicable("the function uses jax.custom_vjp, which JAX differentiates in reverse mode only") \
                from None
        raise


def _forward(task, flat_function, x0, direction):
    """(value, linear map): the forward pass, where code JAX cannot run fails."""
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x0)
    with rebinding_can_fail(task, "run"):
        if direction == "fwd":
            return jax.linearize(flat_function, x)
        return jax.vjp(flat_function, x)


def _first_order(task, flat_function, x0, direction):
    import jax
    import jax.numpy as jnp

    value, linear = _forward(task, flat_function, x0, direction)
    if direction == "fwd":
        jac = jax.vmap(linear, out_axes=1)(jnp.eye(x0.size, dtype=jnp.float64))
    else:
        jac = jax.vmap(linear)(jnp.eye(value.size, dtype=value.dtype))[0]
    value = real_values(jax.device_get(value))
    return value, np.asarray(jax.device_get(jac), dtype=np.float64).reshape(value.size, x0.size)


def _products(task, flat_function, x0, direction):
    """Fast mode: ``J V`` (forward) or ``U^T J`` (reverse) for the shared probe vectors."""
    import jax
    import jax.numpy as jnp

    from ..fast import probe_vectors

    value, linear = _forward(task, flat_function, x0, direction)
    vectors = probe_vectors(x0.size, int(np.size(value)))
    if direction == "fwd":
        result = jax.vmap(linear, in_axes=1, out_axes=1)(jnp.asarray(vectors.directions))
        products = Products(jv=np.asarray(jax.device_get(result), dtype=np.float64))
    else:
        result = jax.vmap(linear)(jnp.asarray(vectors.cotangents.T, dtype=value.dtype))[0]
        products = Products(ujt=np.asarray(jax.device_get(result), dtype=np.float64))
    return real_values(jax.device_get(value)), products


def _second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    import jax
    import jax.numpy as jnp

    from .calling import describe_exception
    from .second_order import direction as second_direction
    from .second_order import second_order_result

    differentiate = jax.jacfwd if direction == "fwd" else jax.jacrev
    v = jnp.asarray(second_direction(x0.size))

    def first_derivative_of(flat_function):
        if n_outputs == 1:
            return lambda x: differentiate(flat_function)(x)[0]
        if direction == "fwd":
            return lambda x: jax.jvp(flat_function, (x,), (v,))[1]
        return lambda x: differentiate(flat_function)(x) @ v

    try:
        second = jax.device_get(differentiate(first_derivative_of(_flat_function(task)))(jnp.asarray(x0)))
        first = first_derivative_of(_flat_function(task))
        return second_order_result(lambda x: jax.device_get(first(jnp.asarray(x))), second, x0)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return SecondOrder(Status.ERROR, f"second derivative failed: {describe_exception(exc)}")
