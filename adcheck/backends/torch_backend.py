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
``torch-fwd`` is ``not-applicable`` there, naming the Function (``missing_modes``, read by the worker).

With ``--device gpu`` everything runs on CUDA (the inputs moved there, CUDA the default device
for what the user's code creates); the results come back as numpy. With ``--contexts`` the same
derivative is computed again in each extra context (``torch.compile``, float32/bfloat16/float16
with that default dtype, the other device), from a fresh import each time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time

import numpy as np

from ..frameworks import DeviceUnavailable, configure_torch, torch_device
from ..model import BackendRun, ContextResult, Mode, Products, SecondOrder, Status
from .calling import CONTEXT_DTYPES, NotApplicable, UserCodeError, check_shapes, context_eps, in_context, \
    load_user_function, output_parts, real_parts, to_numpy, user_compilation_off

TORCH_FUNC = {"fwd": "torch.func.jacfwd", "rev": "torch.func.jacrev"}
CLASSIC = {"fwd": "torch.autograd.forward_ad (one dual pass per tangent)",
           "rev": "torch.autograd.grad (one backward pass per cotangent)"}


def compute(task) -> BackendRun:
    x0 = task.arguments.flat().copy()
    configure_torch(x0.dtype, task.device)
    with user_compilation_off(task):
        run = _eager(task, x0)
    if task.contexts and run.status == Status.COMPUTED:
        run = dataclasses.replace(run, contexts=tuple(_in_context(task, name, x0) for name in task.contexts))
    return run


@dataclasses.dataclass(frozen=True)
class _Where:
    """How a pass runs: the dtype the inputs take (None: as given), torch.compile or not."""

    dtype: object = None
    compiled: bool = False


EAGER = _Where()


def _eager(task, x0: np.ndarray) -> BackendRun:
    start = time.perf_counter()
    direction = "fwd" if task.backend == "torch-fwd" else "rev"
    vectors = _vectors(task, x0.size)
    method = TORCH_FUNC[direction] if task.mode == Mode.FULL else f"torch.func.{'jvp' if direction == 'fwd' else 'vjp'}"
    value, result, method = _derivative(task, x0, direction, vectors, EAGER, method)
    value = np.asarray(value, dtype=np.float64).ravel()
    result = np.asarray(result, dtype=np.float64)
    finished = {"name": task.backend, "status": Status.COMPUTED, "value": value, "method": method}
    if task.mode == Mode.FAST:
        products = Products(jv=result) if direction == "fwd" else Products(ujt=result)
        second = _fast_second_order(task, x0, direction, value.size) if task.order == 2 else None
        return BackendRun(seconds=time.perf_counter() - start, products=products, second_order=second, **finished)
    jac = result.reshape(value.size, x0.size)
    check_shapes(value, jac, x0.size)
    second = _second_order(task, x0, direction, value.size) if task.order == 2 else None
    return BackendRun(seconds=time.perf_counter() - start, jacobian=jac, second_order=second, **finished)


def _derivative(task, x0: np.ndarray, direction: str, vectors, where: _Where, method: str = ""):
    """(value, Jacobian or products, method): torch.func first, the classic way when it refuses."""
    x = _tensor(x0, where.dtype)
    try:
        value, result = _torch_func(task, x, direction, vectors, where)
    except UserCodeError:
        raise  # the function's own output is wrong; classic mode would say the same
    except Exception as exc:  # noqa: BLE001 - any torch.func refusal: retry the classic way
        method = f"{CLASSIC[direction]}; torch.func refused: {_first_line(exc)}"
        # A mode torch lacks here (a Function without jvp) fails this way too: the worker
        # reads it from backends/missing_modes.py as not-applicable.
        value, result = _classic(task, _tensor(x0, where.dtype), direction, vectors, where)
    return value, result, method


def _tensor(array, dtype=None):
    """A copy of ``array`` as a tensor on the default device (the GPU with --device gpu), in
    ``dtype`` when given."""
    import torch

    tensor = torch.from_numpy(np.array(array, copy=True))
    return tensor.to(device=torch.get_default_device(), dtype=dtype if dtype is not None else tensor.dtype)


def _numpy(tensor) -> np.ndarray:
    """A result back on the host, as numpy (bfloat16 and float16 through float64, which numpy has)."""
    import torch

    tensor = tensor.detach()
    if tensor.is_floating_point() and tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.to(torch.float64)
    return tensor.cpu().numpy()


def _vectors(task, n_inputs):
    """``vectors(n_outputs) -> (n, k)``: tangents (forward) or cotangents (reverse); None: a basis."""
    if task.mode == Mode.FULL:
        return None
    from ..fast import probe_vectors

    if task.backend == "torch-fwd":
        return lambda n_outputs: probe_vectors(n_inputs, n_outputs,
                                            complex_columns=task.arguments.complex_columns).directions
    return lambda n_outputs: probe_vectors(n_inputs, n_outputs).cotangents


def _flat_function(task, where: _Where = EAGER):
    """``x_flat -> concatenated flat outputs`` with torch tensors in and out, float64 outputs."""
    import torch

    func = load_user_function(task)  # a fresh import for each attempt
    arguments = task.arguments

    def fixed(array):
        # In a float32 (bfloat16, ...) context a fixed float argument takes that dtype too: a
        # float64 one would promote the whole computation back to float64.
        floating = np.issubdtype(np.asarray(array).dtype, np.floating)
        return _tensor(array, where.dtype if floating else None)

    def flat_function(x):
        # Every argument is a fresh tensor: the differentiated ones are clones, not views of the
        # flat input (an in-place update of a view of a leaf is an error in torch, and one of a
        # clone is differentiable, as numpy code mutating its copy is); the fixed ones keep their
        # dtype (integers stay integers) and are copies, so a mutation cannot reach the next pass.
        args = arguments.build(x, xp=torch, wrap=lambda t: t.clone(), fixed=fixed)
        parts = [_as_flat_tensor(part) for part in output_parts(func(*args))]
        return torch.cat(parts)

    if where.compiled:
        return torch.compile(flat_function)
    return flat_function


def _as_flat_tensor(part):
    """One output part as a 1-d float64 tensor; numbers and numpy arrays become constants."""
    import torch

    from ..complex_numbers import split

    if not isinstance(part, torch.Tensor):
        return _tensor(real_parts(to_numpy(part)))
    if part.is_complex():  # its real and imaginary parts, side by side (adcheck.complex_numbers)
        return split(part, torch).to(torch.float64)
    return part.reshape(-1).to(torch.float64)


def _torch_func(task, x0, direction: str, vectors, where: _Where = EAGER):
    import torch

    flat_function = _flat_function(task, where)
    if vectors is None:
        def with_value(x):
            out = flat_function(x)
            return out, out  # has_aux: the primal comes back from the same pass, undifferentiated

        transform = torch.func.jacfwd if direction == "fwd" else torch.func.jacrev
        jac, value = transform(with_value, has_aux=True)(x0)
        return _numpy(value), _numpy(jac)
    if direction == "fwd":
        value = flat_function(x0).detach()
        tangents = _tensor(np.ascontiguousarray(vectors(value.numel()).T), x0.dtype)

        def push(t):
            return torch.func.jvp(flat_function, (x0,), (t,))[1]

        return _numpy(value), _numpy(torch.func.vmap(push)(tangents)).T
    value, pullback = torch.func.vjp(flat_function, x0)
    cotangents = _tensor(np.ascontiguousarray(vectors(value.numel()).T), value.dtype)
    return _numpy(value), _numpy(torch.func.vmap(pullback)(cotangents)[0])


def _classic(task, x0, direction: str, vectors, where: _Where = EAGER):
    import torch

    flat_function = _flat_function(task, where)
    n_inputs = x0.numel()
    if direction == "rev":
        x = x0.clone().requires_grad_(True)
        out = flat_function(x)
        value = out.detach().clone()
        seeds = np.eye(out.numel()) if vectors is None else vectors(out.numel())
        rows = torch.zeros(seeds.shape[1], n_inputs, dtype=x0.dtype)
        if out.requires_grad:  # otherwise the output does not depend on x: the products are zero
            for k in range(seeds.shape[1]):
                seed = _tensor(np.ascontiguousarray(seeds[:, k]), out.dtype)
                (grad,) = torch.autograd.grad(out, x, grad_outputs=seed, retain_graph=True, allow_unused=True)
                if grad is not None:
                    rows[k] = grad.detach()
        return _numpy(value), _numpy(rows)

    import torch.autograd.forward_ad as forward_ad

    with torch.no_grad():
        value = flat_function(x0.clone()).detach().clone()
    tangents = np.eye(n_inputs) if vectors is None else vectors(value.numel())
    columns = []
    for k in range(tangents.shape[1]):
        tangent = _tensor(np.ascontiguousarray(tangents[:, k]), x0.dtype)
        with forward_ad.dual_level():
            out = flat_function(forward_ad.make_dual(x0.clone(), tangent))
            _, derivative = forward_ad.unpack_dual(out)
        columns.append(torch.zeros_like(value) if derivative is None else derivative.detach().clone())
    return _numpy(value), _numpy(torch.stack(columns, dim=1))


def _second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    """torch.func over torch.func, in the backend's own mode (see backends/second_order.py)."""
    import torch

    from .second_order import direction as second_direction
    from .second_order import second_order_failure, second_order_result

    try:
        flat_function = _flat_function(task)
        differentiate = torch.func.jacfwd if direction == "fwd" else torch.func.jacrev
        v = _tensor(second_direction(x0.size))

        def first(x):
            if n_outputs == 1:
                return differentiate(flat_function)(x)[0]
            if direction == "fwd":
                return torch.func.jvp(flat_function, (x,), (v,))[1]
            return differentiate(flat_function)(x) @ v

        second = _numpy(differentiate(first)(_tensor(x0)))
        return second_order_result(lambda x: _numpy(first(_tensor(x))), second, x0)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return second_order_failure(exc, task)


def _fast_second_order(task, x0: np.ndarray, direction: str, n_outputs: int) -> SecondOrder:
    """Fast mode along the shared random directions (``fast_second_order``): torch-fwd forward
    over forward (``torch.func.jvp`` of ``torch.func.jvp``); torch-rev reverse over reverse with
    classic autograd (``create_graph``), which runs old-style Functions too and whose second
    pass is the Function's ``backward`` differentiated."""
    import torch

    from ..fast_second_order import directional_second_order, second_order_vectors
    from .second_order import second_order_failure

    vectors = second_order_vectors(x0.size, n_outputs)
    try:
        flat_function = _flat_function(task)
        if direction == "fwd":
            u = _tensor(vectors.tangent, torch.from_numpy(x0).dtype)

            def first(x):
                return torch.func.jvp(flat_function, (x,), (u,))[1]

            columns = [torch.func.jvp(first, (_tensor(x0),), (_tensor(v, u.dtype),))[1]
                       for v in vectors.directions.T]
        else:
            w = _tensor(vectors.cotangent)

            def gradient(x, create_graph=False):
                x = x.detach().clone().requires_grad_(True)
                out = flat_function(x)
                if not out.requires_grad:  # the output does not depend on x
                    return x, torch.zeros_like(x)
                (grad,) = torch.autograd.grad(out, x, grad_outputs=w.to(out.dtype), create_graph=create_graph,
                                              allow_unused=True)
                return x, torch.zeros_like(x) if grad is None else grad

            def first(x):
                return gradient(x)[1].detach()

            x, grad = gradient(_tensor(x0), create_graph=True)
            columns = []
            for v in vectors.directions.T:
                if not grad.requires_grad:  # the gradient does not depend on x: a zero Hessian
                    columns.append(torch.zeros_like(x))
                    continue
                (hv,) = torch.autograd.grad(grad, x, grad_outputs=_tensor(v, grad.dtype), retain_graph=True,
                                            allow_unused=True)
                columns.append(torch.zeros_like(x) if hv is None else hv.detach())
        products = _numpy(torch.stack(columns, dim=1))
        return directional_second_order(lambda x: _numpy(first(_tensor(x))), products, x0, vectors.directions)
    except Exception as exc:  # noqa: BLE001 - reported on the second-order row; first order stands
        return second_order_failure(exc, task)


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
    return text if len(text) <= 200 else text[:197] + "..."


# --- the same derivative in other contexts (--contexts) -------------------------------------------

def _in_context(task, name: str, x0: np.ndarray) -> ContextResult:
    """The backend's derivative (the same mode, the same probe vectors) in context ``name``, or
    why it could not be computed there: not-applicable (no such context for torch, no GPU, no
    working torch.compile) or error (the user's code failed there, with its line)."""
    direction = "fwd" if task.backend == "torch-fwd" else "rev"
    vectors = _vectors(task, x0.size)
    # Each context changes one thing from eager: only the compile context compiles the user's
    # own torch.compile functions as written.
    as_written = contextlib.nullcontext() if name == "compile" else user_compilation_off(task)

    def derivative():
        with as_written, _context_settings(name, task.device) as where:
            return _derivative(task, x0, direction, vectors, where)[1]

    def declined(exc) -> str:
        return _compiler_unavailable(exc) if name == "compile" else ""

    return in_context(name, task, x0.size, direction, context_eps(name, x0), derivative, declined)


@contextlib.contextmanager
def _context_settings(name: str, device: str):
    """Inside: torch set up for context ``name`` (and put back afterwards); yields how to run."""
    import torch

    if name == "jit":
        raise NotApplicable("jit is jax.jit, JAX's; PyTorch's compiled context is compile")
    if name == "compile":
        reason = _compile_unsupported()
        if reason:
            raise NotApplicable(reason)
        yield _Where(compiled=True)
        return
    if name in CONTEXT_DTYPES:
        # The default dtype too, so that constants the code creates (torch.tensor(0.1),
        # torch.zeros(n)) and modules made at import take the context's precision.
        dtype = getattr(torch, name)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            yield _Where(dtype=dtype)
        finally:
            torch.set_default_dtype(previous)
        return
    if name == device:
        raise NotApplicable(f"the eager derivative already runs on the {device.upper()} (--device {device})")
    if name == "gpu":
        from ..devices import gpu_visible

        try:
            if not gpu_visible():
                raise DeviceUnavailable("no GPU on this machine")
            target = torch_device("gpu")
        except DeviceUnavailable as exc:
            raise NotApplicable(str(exc)) from None
    else:
        target = None  # the CPU: no default device
    torch.set_default_device(target)
    try:
        yield EAGER
    finally:
        torch.set_default_device(torch_device(device) if device == "gpu" else None)


def _compile_unsupported() -> str:
    """Why torch.compile cannot run in this process, or ""."""
    import torch

    if not hasattr(torch, "compile"):
        return f"torch {torch.__version__} has no torch.compile"
    try:
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            return f"torch.compile is not supported here (torch {torch.__version__}, this Python)"
    except Exception as exc:  # noqa: BLE001 - a broken install: say so, do not fail the row
        return f"torch.compile cannot start: {_first_line(exc)}"
    return ""


def _compiler_unavailable(exc: BaseException) -> str:
    """A one-line reason when ``exc`` is torch.compile's backend failing to build (no C++
    compiler, no Triton), not the user's code; else ""."""
    try:
        from torch._dynamo.exc import BackendCompilerFailed
    except ImportError:
        return ""
    if isinstance(exc, BackendCompilerFailed):
        return f"torch.compile's backend could not compile here: {_first_line(exc)}"
    return ""

