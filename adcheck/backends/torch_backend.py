"""PyTorch: ``torch-fwd`` (forward mode) and ``torch-rev`` (reverse mode), on the CPU.

First choice is ``torch.func.jacfwd``/``jacrev``, which batch the basis vectors with ``vmap``
and return the primal from the same pass (``has_aux``). ``torch.func`` refuses some code that
classic autograd runs fine: an old-style ``torch.autograd.Function`` (``forward(ctx, ...)``
without ``setup_context``), a Function without a vmap rule under ``jacfwd``, random numbers
under ``vmap``. On any refusal the Jacobian is computed the classic way, from a fresh import
of the user's module (the failed attempt may have mutated module state):

- reverse: one forward pass with ``requires_grad``, then ``torch.autograd.grad`` per output row;
- forward: ``torch.autograd.forward_ad`` dual tensors, one input basis vector per pass.

So user-defined Functions are still checked — which is where a hand-written ``backward`` or
``jvp`` goes wrong. A Function without a ``jvp`` cannot be differentiated in forward mode at all;
``torch-fwd`` reports that as an error row naming the Function.
"""

from __future__ import annotations

import time

import numpy as np

from ..model import BackendRun, Status
from .common import to_numpy
from .worker import Task, UserCodeError, check_shapes, error_location, load_user_function, output_parts

TORCH_FUNC = {"fwd": "torch.func.jacfwd", "rev": "torch.func.jacrev"}
CLASSIC = {"fwd": "torch.autograd.forward_ad (one dual pass per input)",
           "rev": "torch.autograd.grad (one backward pass per output)"}
NO_JVP = "defines no jvp, so forward mode cannot differentiate it"


def configure_torch(dtype=np.float64) -> None:
    """Settings every worker that runs torch code applies, before it imports the user's module.

    - One intra-op and one inter-op thread: the backends run side by side, one worker process
      each, on machines with few cores (CI runners have two). torch's default of one thread per
      core would oversubscribe them, and the Jacobians adcheck computes are too small to gain
      from threads anyway.
    - The default float dtype follows the inputs' (float64 unless the user passed float32).
      The inputs reach the function as float64 tensors, but a constant the function creates
      without a dtype (``torch.tensor(0.1)``, ``torch.zeros(n)``) would be float32 under torch's
      default; the function would then silently compute in mixed precision and differ from the
      same code under numpy, where a Python float is a float64. Why only this, and only here:
      a dtype written explicitly in the user's code is still respected, and the worker is a
      fresh process, so the setting cannot reach anything but this one run.
    """
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started in this process
        pass
    torch.set_default_dtype(torch.float32 if np.dtype(dtype) == np.float32 else torch.float64)


def compute(task: Task) -> BackendRun:
    x0 = task.arguments.flat().copy()
    configure_torch(x0.dtype)
    import torch

    start = time.perf_counter()
    mode = "fwd" if task.backend == "torch-fwd" else "rev"
    extra = {"method": TORCH_FUNC[mode]}
    try:
        value, jac = _torch_func_jacobian(task, torch.from_numpy(x0.copy()), mode)
    except UserCodeError:
        raise  # the function's own output is wrong; classic mode would say the same
    except Exception as exc:  # noqa: BLE001 - any torch.func refusal: retry the classic way
        extra = {"method": CLASSIC[mode], "torch_func_error": _first_line(exc)}
        try:
            value, jac = _classic_jacobian(task, torch.from_numpy(x0.copy()), mode)
        except NotImplementedError as missing:
            reason = _missing_jvp_reason(missing) if mode == "fwd" else None
            if reason is None:
                raise
            return BackendRun(task.backend, Status.ERROR, time.perf_counter() - start, reason,
                              error_location(missing, task.target.root.resolve()), extra=extra)
    value = np.asarray(value, dtype=np.float64).ravel()
    jac = np.asarray(jac, dtype=np.float64).reshape(value.size, x0.size)
    check_shapes(value, jac, x0.size)
    if task.options.get("order") == 2:
        try:
            extra["order2"] = _second_order(task, x0, mode, value.size)
        except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
            if "setup_context" in str(exc):
                extra["order2_not_applicable"] = ("torch.func differentiates an autograd.Function twice only "
                                                  "when it defines setup_context")
            else:
                extra["order2_error"] = _first_line(exc)
    return BackendRun(task.backend, Status.COMPUTED, time.perf_counter() - start, value=value, jacobian=jac,
                      extra=extra)


def _second_order(task: Task, x0: np.ndarray, mode: str, n_outputs: int) -> dict:
    """torch.func over torch.func, in the backend's own mode (see backends/second_order.py)."""
    import torch

    from .second_order import direction, second_order_result

    flat_function = _flat_function(task)
    differentiate = torch.func.jacfwd if mode == "fwd" else torch.func.jacrev
    v = torch.from_numpy(direction(x0.size))

    def first(x):
        if n_outputs == 1:
            return differentiate(flat_function)(x)[0]
        if mode == "fwd":
            return torch.func.jvp(flat_function, (x,), (v,))[1]
        return differentiate(flat_function)(x) @ v

    second = differentiate(first)(torch.from_numpy(x0.copy())).detach().numpy()
    return second_order_result(lambda x: first(torch.from_numpy(np.array(x))).detach().numpy(), second, x0)


def _flat_function(task: Task):
    """``x_flat -> concatenated flat outputs`` with torch tensors in and out, float64 outputs."""
    import torch

    func = load_user_function(task)  # a fresh import for each attempt
    arguments = task.arguments

    def flat_function(x):
        pieces = arguments.unflatten(x, xp=torch)
        # Every argument is a fresh tensor: the differentiated ones are clones, not views of the
        # flat input (an in-place update of a view of a leaf is an error in torch, and one of a
        # clone is differentiable, as numpy code mutating its copy is); the fixed ones keep their
        # dtype (integers stay integers) and are copies, so a mutation cannot reach the next pass.
        args = [pieces[i].clone() if i in arguments.wrt else torch.from_numpy(np.array(pieces[i], copy=True))
                for i in range(len(pieces))]
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


def _torch_func_jacobian(task: Task, x0, mode: str):
    import torch

    flat_function = _flat_function(task)

    def with_value(x):
        out = flat_function(x)
        return out, out  # has_aux: the primal comes back from the same pass, undifferentiated

    transform = torch.func.jacfwd if mode == "fwd" else torch.func.jacrev
    jac, value = transform(with_value, has_aux=True)(x0)
    return value.detach().numpy(), jac.detach().numpy()


def _classic_jacobian(task: Task, x0, mode: str):
    import torch

    flat_function = _flat_function(task)
    n_inputs = x0.numel()
    if mode == "rev":
        x = x0.clone().requires_grad_(True)
        out = flat_function(x)
        value = out.detach().clone()
        jac = torch.zeros(out.numel(), n_inputs, dtype=torch.float64)
        if out.requires_grad:  # otherwise the output does not depend on x: the Jacobian is zero
            for row in range(out.numel()):
                seed = torch.zeros_like(out)
                seed[row] = 1.0
                (grad,) = torch.autograd.grad(out, x, grad_outputs=seed, retain_graph=True, allow_unused=True)
                if grad is not None:
                    jac[row] = grad.detach()
        return value.numpy(), jac.numpy()

    import torch.autograd.forward_ad as forward_ad

    value, columns = None, []
    for column in range(n_inputs):
        tangent = torch.zeros_like(x0)
        tangent[column] = 1.0
        with forward_ad.dual_level():
            out = flat_function(forward_ad.make_dual(x0.clone(), tangent))
            primal, derivative = forward_ad.unpack_dual(out)
        if value is None:
            value = primal.detach().clone()
        columns.append(torch.zeros_like(value) if derivative is None else derivative.detach().clone())
    return value.numpy(), torch.stack(columns, dim=1).numpy()


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
    return text if len(text) <= 300 else text[:297] + "..."
