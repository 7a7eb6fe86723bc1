"""JAX: ``jax-fwd`` (jvp along each input basis vector) and ``jax-rev`` (vjp along each output).

The forward pass (the vmapped ``jax.jvp``, or ``jax.vjp``: the function's value under JAX's
tracing) is where numpy or autograd code that JAX cannot run fails: a tracer reaching real numpy or
scipy, an in-place write into an array. Under adcheck's rebinding that makes the row
``not-applicable``; code written for JAX that fails there, and any failure after the forward
pass, is an error. See ``adcheck.frameworks.configure_jax`` for why everything runs op by op.

With ``--contexts`` the same derivative is then computed again in each extra context (under
``jax.jit``, in float32/bfloat16/float16, on the other device), from a fresh import of the
user's module each time; ``adcheck.contexts`` compares them with this eager float64 one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from ..frameworks import DeviceUnavailable, configure_jax
from ..model import BackendRun, ContextResult, Mode, NearbyResult, Products, SecondOrder, Status
from .calling import (
    CONTEXT_DTYPES,
    NotApplicable,
    check_shapes,
    context_eps,
    in_context,
    load_user_function,
    nearby_run,
    output_parts,
    real_values,
    rebinding_can_fail,
    user_compilation_off,
)


def compute(task) -> BackendRun:
    import jax

    configure_jax(task.device, task.contexts)
    # JAX trims its own frames from a traceback at each API boundary; the reverse pass's frame
    # holds the equation that cannot be transposed, and with it the user's line
    # (missing_modes._traced_location). Errors are one line in the report either way.
    jax.config.update("jax_traceback_filtering", "off")
    with user_compilation_off(task):
        run = _eager(task)
    if task.contexts and run.status == Status.COMPUTED:
        run = dataclasses.replace(run, contexts=tuple(_in_context(task, name) for name in task.contexts))
    return run


def _eager(task) -> BackendRun:
    start = time.perf_counter()
    direction = "fwd" if task.backend == "jax-fwd" else "rev"
    x0 = task.arguments.flat().copy()
    with rebinding_can_fail(task, "import"):
        flat_function = build_flat_function(task)
    finished = {"name": task.backend, "status": Status.COMPUTED, "rebound": task.rebound}
    if task.mode == Mode.FAST:
        value, products = _products(task, flat_function, x0, direction)
        second = _fast_second_order(task, x0, direction, value.size) if task.order == 2 else None
        return BackendRun(seconds=time.perf_counter() - start, value=value, products=products, second_order=second,
                          **finished)
    value, jac = _first_order(task, flat_function, x0, direction)
    check_shapes(value, jac, x0.size)
    second = _second_order(task, x0, direction, value.size) if task.order == 2 else None
    return BackendRun(seconds=time.perf_counter() - start, value=value, jacobian=jac, second_order=second, **finished)


def nearby(task) -> NearbyResult:
    """The function's values near the input under JAX's rebinding."""
    configure_jax(task.device, task.contexts)
    with user_compilation_off(task):
        return nearby_run(task, build_flat_function)


def build_flat_function(task):
    """The user's function, freshly imported, as ``x_flat -> concatenated flat outputs`` in jax."""
    import jax.numpy as jnp

    func = load_user_function(task)
    arguments = task.arguments

    def flat_function(x):
        if task.framework == "array-api":  # array-API code learns its namespace from its arguments
            args = arguments.build(x, xp=jnp, fixed=jnp.asarray)
        else:
            args = arguments.build(x, xp=jnp)
        parts = [_flat_part(p) for p in output_parts(func(*args))]
        return parts[0] if len(parts) == 1 else jnp.concatenate(parts)

    return flat_function


def _flat_part(part):
    """One output leaf as a flat jax array, converting and reshaping only what needs it: under
    differentiation each conversion is one more traced operation, a real share of a small
    function's cost."""
    import jax
    import jax.numpy as jnp

    if not isinstance(part, jax.Array):
        part = jnp.asarray(part)
    if jnp.iscomplexobj(part):  # its real and imaginary parts, side by side (adcheck.complex_numbers)
        from ..complex_numbers import split

        return split(part, jnp)
    return part if part.ndim == 1 else jnp.ravel(part)


def _forward(task, flat_function, x0, direction):
    """(value, pullback): the forward pass, where code JAX cannot run fails."""
    import jax
    import jax.numpy as jnp

    with rebinding_can_fail(task, "run"):
        return jax.vjp(flat_function, jnp.asarray(x0))


def _pushforward(flat_function, x, tangents):
    """(value, J @ tangents[k] stacked as columns) from one pass of ``flat_function``."""
    import jax

    return jax.vmap(lambda t: jax.jvp(flat_function, (x,), (t,)), out_axes=(None, 1))(tangents)


def _pull_back(pullback, cotangents):
    """``cotangents[k]^T J`` stacked as rows. (The pullback is wrapped in a plain function: JAX
    names what it maps by ``str()``, and a pullback's string prints every residual array.)"""
    import jax

    return jax.vmap(lambda u: pullback(u)[0])(cotangents)


def _first_order(task, flat_function, x0, direction):
    import jax
    import jax.numpy as jnp

    if direction == "fwd":
        # One forward pass carrying every basis tangent at once (the vmap of jvp), in the primal's
        # dtype (float32 inputs): building a linearised program first costs more than the
        # derivative itself on a small function.
        with rebinding_can_fail(task, "run"):
            value, jac = _pushforward(flat_function, jnp.asarray(x0), np.eye(x0.size, dtype=x0.dtype))
    else:
        value, pullback = _forward(task, flat_function, x0, direction)
        jac = _pull_back(pullback, np.eye(value.size, dtype=value.dtype))
    value = real_values(jax.device_get(value))
    return value, np.asarray(jax.device_get(jac), dtype=np.float64).reshape(value.size, x0.size)


def _products(task, flat_function, x0, direction):
    """Fast mode: ``J V`` (forward) or ``U^T J`` (reverse) for the shared probe vectors."""
    import jax
    import jax.numpy as jnp

    from ..fast import probe_vectors

    if direction == "fwd":
        directions = probe_vectors(x0.size, 1, complex_columns=task.arguments.complex_columns).directions  # (inputs only)
        with rebinding_can_fail(task, "run"):
            value, result = _pushforward(flat_function, jnp.asarray(x0), jnp.asarray(directions.T, dtype=x0.dtype))
        products = Products(jv=np.asarray(jax.device_get(result), dtype=np.float64))
    else:
        value, pullback = _forward(task, flat_function, x0, direction)
        vectors = probe_vectors(x0.size, int(np.size(value)))
        result = _pull_back(pullback, jnp.asarray(vectors.cotangents.T, dtype=value.dtype))
        products = Products(ujt=np.asarray(jax.device_get(result), dtype=np.float64))
    return real_values(jax.device_get(value)), products


def _second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    import jax
    import jax.numpy as jnp

    from .second_order import direction as second_direction
    from .second_order import second_order_failure, second_order_result

    differentiate = jax.jacfwd if direction == "fwd" else jax.jacrev
    v = jnp.asarray(second_direction(x0.size))

    def first_derivative_of(flat_function):
        if n_outputs == 1:
            return lambda x: differentiate(flat_function)(x)[0]
        if direction == "fwd":
            return lambda x: jax.jvp(flat_function, (x,), (v,))[1]
        return lambda x: differentiate(flat_function)(x) @ v

    try:
        second = jax.device_get(differentiate(first_derivative_of(build_flat_function(task)))(jnp.asarray(x0)))
        first = first_derivative_of(build_flat_function(task))
        return second_order_result(lambda x: jax.device_get(first(jnp.asarray(x))), second, x0)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return second_order_failure(exc, task)


def _fast_second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    """Fast mode: forward over forward (jax-fwd) or reverse over reverse (jax-rev) along the shared
    random directions (``fast_second_order``)."""
    import jax
    import jax.numpy as jnp

    from ..fast_second_order import directional_second_order, second_order_vectors
    from .second_order import second_order_failure

    vectors = second_order_vectors(x0.size, n_outputs)
    try:
        flat_function = build_flat_function(task)
        if direction == "fwd":
            u = jnp.asarray(vectors.tangent, dtype=x0.dtype)

            def first(x):
                return jax.jvp(flat_function, (x,), (u,))[1]

            products = jax.vmap(lambda v: jax.jvp(first, (jnp.asarray(x0),), (v,))[1], out_axes=1)(
                jnp.asarray(vectors.directions.T, dtype=x0.dtype))
        else:
            w = jnp.asarray(vectors.cotangent)

            def first(x):
                value, pullback = jax.vjp(flat_function, x)
                return pullback(w.astype(value.dtype).reshape(value.shape))[0]

            _, pullback = jax.vjp(first, jnp.asarray(x0))
            products = jax.vmap(lambda v: pullback(v)[0], out_axes=1)(jnp.asarray(vectors.directions.T, dtype=x0.dtype))
        return directional_second_order(lambda x: jax.device_get(first(jnp.asarray(x))), jax.device_get(products),
                                        x0, vectors.directions)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return second_order_failure(exc, task)


# --- the same derivative in other contexts (--contexts) -------------------------------------------

CONTEXT_WORDS = {"jit": "under jax.jit", "float32": "in float32", "bfloat16": "in bfloat16", "float16": "in float16",
                 "gpu": "on the GPU", "cpu": "on the CPU", "compile": "under torch.compile"}


def _in_context(task, name: str) -> ContextResult:
    """The backend's derivative (the same mode, the same probe vectors) in context ``name``,
    or why it could not be computed there: not-applicable (this backend has no such context,
    no GPU) or error (the user's code failed there, with its line)."""
    import jax

    direction = "fwd" if task.backend == "jax-fwd" else "rev"
    x0 = task.arguments.flat().copy()
    # Each context changes one thing from eager: only the jit context compiles the user's own
    # jitted functions as written.
    as_written = contextlib.nullcontext() if name == "jit" else user_compilation_off(task)

    def derivative():
        with as_written, _context_settings(name, task.device) as dtype, \
                rebinding_can_fail(task, f"run {CONTEXT_WORDS[name]}"):
            flat_function = build_flat_function(task)  # a fresh import: module-level arrays get the context's dtype
            function = _derivative_function(flat_function, x0.size, direction, task.mode, task.arguments.complex_columns)
            if name == "jit":
                function = jax.jit(function)
            return jax.device_get(function(_context_input(x0, dtype)))

    return in_context(name, task, x0.size, direction, context_eps(name, x0), derivative)


@contextlib.contextmanager
def _context_settings(name: str, device: str):
    """Inside: JAX set up for context ``name``; yields the dtype the inputs take there (None: their own)."""
    import jax
    import jax.numpy as jnp

    if name == "compile":
        raise NotApplicable("compile is torch.compile, PyTorch's; JAX's compiled context is jit")
    if name in CONTEXT_DTYPES:
        # x64 off for the duration: constants the code creates (jnp.array(0.1), jnp.zeros(n))
        # take the context's precision too, as they would in the user's float32 program.
        with jax.enable_x64(False):
            yield getattr(jnp, name)
        return
    if name == device:
        raise NotApplicable(f"the eager derivative already runs on the {device.upper()} (--device {device})")
    # Elsewhere the inputs keep their dtype (float64, or the user's float32), as eagerly.
    if name == "gpu":
        try:
            target = _gpu_for_context()
        except DeviceUnavailable as exc:
            raise NotApplicable(str(exc)) from None
    elif name == "cpu":
        target = jax.devices("cpu")[0]
    else:  # "jit": the computation itself changes, not its setting
        yield None
        return
    with jax.default_device(target):
        yield None


def _gpu_for_context():
    from ..devices import gpu_visible
    from ..frameworks import jax_gpu

    if not gpu_visible():
        raise DeviceUnavailable("no GPU on this machine")
    return jax_gpu()


def _context_input(x0: np.ndarray, dtype):
    import jax.numpy as jnp

    return jnp.asarray(x0, dtype=dtype)


def _derivative_function(flat_function, n_inputs: int, direction: str, mode: Mode, complex_columns=()):
    """``x -> derivative``: the whole Jacobian, or fast mode's products along the shared probe
    vectors, computed as the eager path does, in ``x``'s dtype; jit-compilable (every shape is
    static)."""
    import jax
    import jax.numpy as jnp

    from ..fast import probe_vectors

    def derivative(x):
        if direction == "fwd":
            value, linear = jax.linearize(flat_function, x)
            if mode == Mode.FAST:
                directions = probe_vectors(n_inputs, value.size, complex_columns=complex_columns).directions
                return jax.vmap(linear, in_axes=1, out_axes=1)(jnp.asarray(directions, dtype=x.dtype))
            return jax.vmap(linear, out_axes=1)(np.eye(n_inputs, dtype=x.dtype))
        value, pullback = jax.vjp(flat_function, x)
        if mode == Mode.FAST:
            cotangents = probe_vectors(n_inputs, value.size).cotangents
            return jax.vmap(pullback)(jnp.asarray(cotangents.T, dtype=value.dtype))[0]
        return jax.vmap(pullback)(np.eye(value.size, dtype=value.dtype))[0]

    def as_float(x):
        return derivative(x).astype(jnp.float32 if x.dtype != jnp.float64 else jnp.float64)

    return as_float

