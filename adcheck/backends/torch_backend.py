"""PyTorch: ``torch-fwd`` (forward mode) and ``torch-rev`` (reverse mode), on the CPU.

First choice is ``torch.func`` (``jacfwd``/``jacrev`` for whole Jacobians, ``jvp``/``vjp`` under
``vmap`` for fast mode's products). ``torch.func`` refuses some code that classic autograd runs
fine: an old-style ``torch.autograd.Function`` (``forward(ctx, ...)`` without ``setup_context``),
a Function without a vmap rule, random numbers under ``vmap``. On any refusal the products are
computed the classic way, from a fresh import of the user's module (the failed attempt may have
mutated module state):

- reverse: one forward pass with ``requires_grad``, then ``torch.autograd.grad`` per cotangent;
- forward: ``torch.autograd.forward_ad`` dual tensors, one tangent per pass.

So user-defined Functions are still checked — which is where a hand-written ``backward`` or
``jvp`` goes wrong. A Function without a ``jvp`` cannot be differentiated in forward mode at all:
``torch-fwd`` is ``not-applicable`` there, naming the Function.
"""

from __future__ import annotations

import time

import numpy as np

from ..frameworks import configure_torch
from ..model import BackendRun, Mode, Products, SecondOrder, Status
from .calling import NotApplicable, UserCodeError, check_shapes, describe_exception, error_location, \
    load_user_function, output_parts, to_numpy

TORCH_FUNC = {"fwd": "torch.func.jacfwd", "rev": "torch.func.jacrev"}
CLASSIC = {"fwd": "torch.autograd.forward_ad (one dual pass per tangent)",
           "rev": "torch.autograd.grad (one backward pass per cotangent)"}
NO_JVP = "defines no jvp, so forward mode cannot differentiate it"


def compute(task) -> BackendRun:
    x0 = task.arguments.flat().copy()
    configure_torch(x0.dtype)
    import torch

    start = time.perf_counter()
    direction = "fwd" if task.backend == "torch-fwd" else "rev"
    vectors = _vectors(task, x0.size)
    method = TORCH_FUNC[direction] if task.mode == Mode.FULL else f"torch.func.{'jvp' if direction == 'fwd' else 'vjp'}"
    try:
        value, result = _torch_func(task, torch.from_numpy(x0.copy()), direction, vectors)
    except UserCodeError:
        raise  # the function's own output is wrong; classic mode would say the same
    except Exception as exc:  # noqa: BLE001 - any torch.func refusal: retry the classic way
        method = f"{CLASSIC[direction]}; torch.func refused: {_first_line(exc)}"
        try:
            value, result = _classic(task, torch.from_numpy(x0.copy()), direction, vectors)
        except NotImplementedError as missing:
            reason = _missing_jvp_reason(missing) if direction == "fwd" else None
            if reason is None:
                raise
            raise NotApplicable(reason, error_location(missing, task.target.root)) from None
    value = np.asarray(value, dtype=np.float64).ravel()
    result = np.asarray(result, dtype=np.float64)
    finished = {"name": task.backend, "status": Status.COMPUTED, "value": value, "method": method}
    if task.mode == Mode.FAST:
        products = Products(jv=result) if direction == "fwd" else Products(ujt=result)
        return BackendRun(seconds=time.perf_counter() - start, products=products, **finished)
    jac = result.reshape(value.size, x0.size)
    check_shapes(value, jac, x0.size)
    second = _second_order(task, x0, direction, value.size) if task.order == 2 else None
    return BackendRun(seconds=time.perf_counter() - start, jacobian=jac, second_order=second, **finished)


def _vectors(task, n_inputs):
    """``vectors(n_outputs) -> (n, k)``: tangents (forward) or cotangents (reverse); None: a basis."""
    if task.mode == Mode.FULL:
        return None
    from ..fast import probe_vectors

    if task.backend == "torch-fwd":
        return lambda n_outputs: probe_vectors(n_inputs, n_outputs).directions
    return lambda n_outputs: probe_vectors(n_inputs, n_outputs).cotangents


def _flat_function(task):
    """``x_flat -> concatenated flat outputs`` with torch tensors in and out, float64 outputs."""
    import torch

    func = load_user_function(task)  # a fresh import for each attempt
    arguments = task.arguments

    def flat_function(x):
        # Every argument is a fresh tensor: the differentiated ones are clones, not views of the
        # flat input (an in-place update of a view of a leaf is an error in torch, and one of a
        # clone is differentiable, as numpy code mutating its copy is); the fixed ones keep their
        # dtype (integers stay integers) and are copies, so a mutation cannot reach the next pass.
        args = arguments.build(x, xp=torch, wrap=lambda t: t.clone(),
                               fixed=lambda a: torch.from_numpy(np.array(a, copy=True)))
        parts = [_as_flat_tensor(part) for part in output_parts(func(*args))]
        return torch.cat(parts)

    return flat_function


def _as_flat_tensor(part):
    """One output part as a 1-d float64 tensor; numbers and numpy arrays become constants."""
    import torch

    if not isinstance(part, torch.Tensor):
        return torch.from_numpy(to_numpy(part).astype(np.float64).ravel())
    if part.is_complex():
        raise UserCodeError("the function returned complex values; adcheck checks real-valued functions")
    return part.reshape(-1).to(torch.float64)


def _torch_func(task, x0, direction: str, vectors):
    import torch

    flat_function = _flat_function(task)
    if vectors is None:
        def with_value(x):
            out = flat_function(x)
            return out, out  # has_aux: the primal comes back from the same pass, undifferentiated

        transform = torch.func.jacfwd if direction == "fwd" else torch.func.jacrev
        jac, value = transform(with_value, has_aux=True)(x0)
        return value.detach().numpy(), jac.detach().numpy()
    if direction == "fwd":
        value = flat_function(x0).detach()
        tangents = torch.from_numpy(np.ascontiguousarray(vectors(value.numel()).T))

        def push(t):
            return torch.func.jvp(flat_function, (x0,), (t,))[1]

        return value.numpy(), torch.func.vmap(push)(tangents).detach().numpy().T
    value, pullback = torch.func.vjp(flat_function, x0)
    cotangents = torch.from_numpy(np.ascontiguousarray(vectors(value.numel()).T))
    return value.detach().numpy(), torch.func.vmap(pullback)(cotangents)[0].detach().numpy()


def _classic(task, x0, direction: str, vectors):
    import torch

    flat_function = _flat_function(task)
    n_inputs = x0.numel()
    if direction == "rev":
        x = x0.clone().requires_grad_(True)
        out = flat_function(x)
        value = out.detach().clone()
        seeds = np.eye(out.numel()) if vectors is None else vectors(out.numel())
        rows = torch.zeros(seeds.shape[1], n_inputs, dtype=torch.float64)
        if out.requires_grad:  # otherwise the output does not depend on x: the products are zero
            for k in range(seeds.shape[1]):
                seed = torch.from_numpy(np.ascontiguousarray(seeds[:, k])).to(out.dtype)
                (grad,) = torch.autograd.grad(out, x, grad_outputs=seed, retain_graph=True, allow_unused=True)
                if grad is not None:
                    rows[k] = grad.detach()
        return value.numpy(), rows.numpy()

    import torch.autograd.forward_ad as forward_ad

    with torch.no_grad():
        value = flat_function(x0.clone()).detach().clone()
    tangents = np.eye(n_inputs) if vectors is None else vectors(value.numel())
    columns = []
    for k in range(tangents.shape[1]):
        tangent = torch.from_numpy(np.ascontiguousarray(tangents[:, k]))
        with forward_ad.dual_level():
            out = flat_function(forward_ad.make_dual(x0.clone(), tangent))
            _, derivative = forward_ad.unpack_dual(out)
        columns.append(torch.zeros_like(value) if derivative is None else derivative.detach().clone())
    return value.numpy(), torch.stack(columns, dim=1).numpy()


def _second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    """torch.func over torch.func, in the backend's own mode (see backends/second_order.py)."""
    import torch

    from .second_order import direction as second_direction
    from .second_order import second_order_result

    try:
        flat_function = _flat_function(task)
        differentiate = torch.func.jacfwd if direction == "fwd" else torch.func.jacrev
        v = torch.from_numpy(second_direction(x0.size))

        def first(x):
            if n_outputs == 1:
                return differentiate(flat_function)(x)[0]
            if direction == "fwd":
                return torch.func.jvp(flat_function, (x,), (v,))[1]
            return differentiate(flat_function)(x) @ v

        second = differentiate(first)(torch.from_numpy(x0.copy())).detach().numpy()
        return second_order_result(lambda x: first(torch.from_numpy(np.array(x))).detach().numpy(), second, x0)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        if "setup_context" in str(exc):
            return SecondOrder(Status.NOT_APPLICABLE, "torch.func differentiates an autograd.Function twice only "
                                                      "when it defines setup_context")
        return SecondOrder(Status.ERROR, f"second derivative failed: {describe_exception(exc)}")


def _missing_jvp_reason(exc: NotImplementedError) -> str | None:
    """A one-line reason when ``exc`` is forward mode meeting a Function without ``jvp``, else None.

    torch raises a generic NotImplementedError from ``BackwardCFunction.apply_jvp``; the Function
    class is that frame's ``self._forward_cls``, so the message can name it.
    """
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "apply_jvp":
            owner = getattr(frame.f_locals.get("self"), "_forward_cls", None)
            name = getattr(owner, "__qualname__", None)
            if name:
                return f"torch.autograd.Function {name} {NO_JVP}"
        tb = tb.tb_next
    if "jvp" in str(exc):
        return f"a torch.autograd.Function {NO_JVP} ({exc})"
    return None


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."
