"""autograd: reverse mode, one vector-Jacobian product per output row from a single forward pass."""

from __future__ import annotations

import time

import numpy as np

from ..model import BackendRun, Status
from .worker import Task, check_shapes, load_user_function, output_parts


def compute(task: Task) -> BackendRun:
    import autograd.numpy as anp
    from autograd import make_vjp

    start = time.perf_counter()
    func = load_user_function(task)
    arguments = task.arguments

    def flat_function(x):
        pieces = arguments.unflatten(x, xp=anp)
        args = [pieces[i] if i in arguments.wrt else np.array(pieces[i], copy=True) for i in range(len(pieces))]
        parts = output_parts(func(*args))
        return anp.concatenate([anp.ravel(anp.array(p) if isinstance(p, (list, tuple)) else p) for p in parts])

    x0 = arguments.flat().copy()
    vjp, value = make_vjp(flat_function)(x0)
    value = np.asarray(value, dtype=np.float64).ravel()
    if task.options.get("mode") == "fast":
        from ..fast import probe_vectors

        cotangents = probe_vectors(x0.size, value.size).cotangents
        rows = np.stack([np.asarray(vjp(u), dtype=np.float64) for u in cotangents.T])
        return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start, value=value,
                          extra={"ujt": rows})
    basis = np.eye(value.size)
    jac = np.stack([np.asarray(vjp(row), dtype=np.float64) for row in basis]) if value.size else np.zeros((0, x0.size))
    check_shapes(value, jac, x0.size)
    extra = {}
    if task.options.get("order") == 2:
        extra["order2"] = _second_order(flat_function, x0, value.size)
    return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start, value=value, jacobian=jac,
                      extra=extra)


def _second_order(flat_function, x0: np.ndarray, n_outputs: int) -> dict:
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

    return second_order_result(first_derivative, jacobian(first_derivative)(x0), x0)
