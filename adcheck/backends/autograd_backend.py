"""autograd: reverse mode, one vector-Jacobian product per output row from a single forward pass.

The forward pass is the function's value under autograd's tracing; when numpy code cannot run
there (it writes into arrays, calls numpy outside the rebinding), autograd cannot check it: the
row is ``not-applicable``, not an error. A failure after the forward pass (a custom rule's VJP
raising) is the derivative failing: an error.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..model import BackendRun, Mode, NearbyResult, Products, SecondOrder, Status
from .calling import check_shapes, load_user_function, nearby_run, output_parts, real_values, rebinding_can_fail


def compute(task) -> BackendRun:
    from autograd import make_vjp

    start = time.perf_counter()
    with rebinding_can_fail(task, "import"):
        flat_function = build_flat_function(task)
    x0 = task.arguments.flat().copy()
    with rebinding_can_fail(task, "run"), warnings.catch_warnings():
        # A constant function has a zero Jacobian; autograd's warning about it is not news to the user.
        warnings.filterwarnings("ignore", message="Output seems independent of input")
        vjp, value = make_vjp(flat_function)(x0)
    value = real_values(value)
    finished = {"name": task.backend, "status": Status.COMPUTED, "value": value, "rebound": task.rebound}
    if task.mode == Mode.FAST:
        from ..fast import probe_vectors

        cotangents = probe_vectors(x0.size, value.size).cotangents
        rows = np.stack([np.asarray(vjp(u), dtype=np.float64) for u in cotangents.T])
        second = _fast_second_order(flat_function, x0, value.size) if task.order == 2 else None
        return BackendRun(seconds=time.perf_counter() - start, products=Products(ujt=rows), second_order=second,
                          **finished)
    basis = np.eye(value.size)
    jac = np.stack([np.asarray(vjp(row), dtype=np.float64) for row in basis]) if value.size else np.zeros((0, x0.size))
    check_shapes(value, jac, x0.size)
    second = _second_order(flat_function, x0, value.size) if task.order == 2 else None
    return BackendRun(seconds=time.perf_counter() - start, jacobian=jac, second_order=second, **finished)


def nearby(task) -> NearbyResult:
    """The function's values near the input under autograd's rebinding."""
    return nearby_run(task, build_flat_function)


def build_flat_function(task):
    """The user's function, freshly imported, as ``x_flat -> concatenated flat outputs`` under autograd."""
    import autograd.numpy as anp

    from ..complex_numbers import split

    func = load_user_function(task)
    arguments = task.arguments

    def flat_part(part):
        part = anp.array(part) if isinstance(part, (list, tuple)) else part
        # A complex output: its real and imaginary parts, side by side (adcheck.complex_numbers).
        return split(part, anp) if anp.iscomplexobj(part) else anp.ravel(part)

    def flat_function(x):
        parts = output_parts(func(*arguments.build(x, xp=anp)))
        return anp.concatenate([flat_part(p) for p in parts])

    return flat_function


def _second_order(flat_function, x0: np.ndarray, n_outputs: int) -> SecondOrder:
    import autograd.numpy as anp
    from autograd import grad, jacobian

    from .second_order import direction, second_order_result

    if n_outputs == 1:
        def first_derivative(x):
            return grad(lambda z: flat_function(z)[0])(x)
    else:
        v = direction(x0.size)

        def first_derivative(x):
            return anp.dot(jacobian(flat_function)(x), v)

    try:
        second = jacobian(first_derivative)(x0)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        from .calling import describe_exception

        return SecondOrder(Status.ERROR, f"second derivative failed: {describe_exception(exc)}")
    return second_order_result(first_derivative, second, x0)


def _fast_second_order(flat_function, x0: np.ndarray, n_outputs: int) -> SecondOrder:
    """Fast mode: reverse over reverse along the shared random directions (``fast_second_order``):
    the gradient of ``w^T f``, and its vector-Jacobian products with each direction."""
    from autograd import make_vjp

    from ..fast_second_order import directional_second_order, second_order_vectors
    from .calling import describe_exception

    vectors = second_order_vectors(x0.size, n_outputs)

    def first(x):
        return make_vjp(flat_function)(x)[0](vectors.cotangent)

    try:
        pullback, _ = make_vjp(first)(x0)
        products = np.stack([np.asarray(pullback(v), dtype=np.float64) for v in vectors.directions.T], axis=1)
        return directional_second_order(first, products, x0, vectors.directions)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return SecondOrder(Status.ERROR, f"second derivative failed: {describe_exception(exc)}")
