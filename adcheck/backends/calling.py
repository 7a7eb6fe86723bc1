"""Calling the user's function, the same way in every backend: load it, call it, read its outputs.

Also how a failure is described: one line with the exception and the ``file:line`` in the user's
code, and whether it means the backend cannot run this code at all (``NotApplicable``) or the
code failed (an error row).
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import traceback
from pathlib import Path

import numpy as np

from .. import complex_numbers as cx
from ..errors import AdcheckError
from ..inputs import Arguments
from ..loader import UserCodeLoader
from ..model import ContextResult, Location, Mode, NearbyResult, Products, Status
from ..verdict.tolerances import EPS
from .missing_modes import describe_missing, missing_mode


class UserCodeError(Exception):
    """The user's function misbehaved in a way that is not an exception of its own."""


class NotApplicable(Exception):
    """This backend cannot run this code (or this mode): a ``not-applicable`` row, with the reason."""

    def __init__(self, message: str, location: Location | None = None):
        super().__init__(message)
        self.message = message
        self.location = location


# --- loading -------------------------------------------------------------------------------------


def load_user_function(task):
    """The target, freshly imported with the task's rebinding, checked to take the arguments.

    A torch ``nn.Module`` target (or a factory of one) becomes ``f(params, *inputs)``: the module
    called with ``params`` in place of its parameters (``torch.func.functional_call``), in float64.
    """
    func = UserCodeLoader(task.target, task.flavour).load()
    if task.module_target:
        module = as_module(func)
        if module is None:
            raise UserCodeError(f"{task.target.attribute} is no longer a torch.nn.Module")
        return module_function(module)
    check_callable_with(func, task.arguments.n_arguments, task.target.attribute)
    return func


def as_module(obj):
    """The ``torch.nn.Module`` a target is, or that a factory without parameters returns; else None."""
    torch = sys.modules.get("torch")
    if torch is None or isinstance(obj, type):
        return None
    if isinstance(obj, torch.nn.Module):
        return obj
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    required = [p for p in signature.parameters.values()
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if required:
        return None
    made = obj()
    return made if isinstance(made, torch.nn.Module) else None


def module_parameters(module) -> tuple[dict, tuple[str, ...]]:
    """({"fc1": {"weight": array, ...}, ...}, forward's parameter names) of a module, in float64."""
    module.double()
    parameters: dict = {}
    for name, value in module.named_parameters():
        node = parameters
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value.detach().cpu().numpy().copy()
    forward = [p.name for p in inspect.signature(module.forward).parameters.values()
               if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return parameters, tuple(forward)


def module_function(module):
    """``f(params, *inputs)``: the module with ``params`` (nested by name) as its parameters."""
    import torch

    module.double()

    def flatten(tree, prefix, into):
        if isinstance(tree, dict):
            for key, child in tree.items():
                flatten(child, f"{prefix}{key}.", into)
        else:
            into[prefix[:-1]] = tree if isinstance(tree, torch.Tensor) else torch.as_tensor(tree)
        return into

    def call(params, *inputs):
        inputs = tuple(torch.as_tensor(i) if isinstance(i, np.ndarray) else i for i in inputs)
        return torch.func.functional_call(module, flatten(params, "", {}), inputs)

    return call


def check_callable_with(func, n_arguments: int, name: str) -> None:
    """Fail with the signature when ``func`` cannot take ``n_arguments`` positional arguments.

    The parent checks plain ``def`` functions statically (``source.preflight``); this catches the
    rest (decorated functions, callable objects, classes) before a confusing TypeError from deep
    inside a backend.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and C extensions may have none
        return
    try:
        signature.bind(*range(n_arguments))
    except TypeError as exc:
        raise UserCodeError(f"{name}{signature} cannot be called with {n_arguments} positional "
                            f"argument{'' if n_arguments == 1 else 's'}: {exc} (give one --input or --random "
                            "per positional argument)") from None


@contextlib.contextmanager
def rebinding_can_fail(task, what: str):
    """Inside: an exception means the backend cannot run this code, when it runs it through
    adcheck's rebinding (numpy code under autograd or JAX). Code written for the backend's own
    framework that fails is an error, and propagates."""
    try:
        yield
    except (UserCodeError, NotApplicable, MemoryError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the rebound code raises
        if not task.rebound or missing_mode(exc, task.backend) is not None:
            raise  # a mode the framework lacks is no failure of the rebinding
        location = error_location(exc, task.target.root)
        where = f" at {location}" if location else ""
        raise NotApplicable(
            f"this {task.framework} code does not {what} with {task.rebound}: {describe_exception(exc)}{where} "
            f"(adcheck rebound it in this worker; write it for {task.backend.split('-')[0]} to check it there)",
            location) from None


@contextlib.contextmanager
def user_compilation_off(task):
    """Inside, with ``--contexts`` (``task.eager``): the user's own ``jax.jit`` functions run op by
    op (``jax.disable_jit()``) and their ``torch.compile`` ones uncompiled
    (``torch.compiler.set_stance("force_eager")``, PyTorch's switch for "ignore all torch.compile
    directives"). "Eager" then means eager: a jitted helper whose trace is stale computes another
    function than its code, and shows as a difference from the jit context (ADC607) instead of
    being the eager reference too. The frameworks are asked only where the code can use them."""
    if not task.eager:
        yield
        return
    with contextlib.ExitStack() as stack:
        if task.backend.startswith("jax") or task.framework in ("jax", "array-api"):
            import jax

            stack.enter_context(jax.disable_jit())
        if task.backend.startswith("torch") or task.framework == "torch":
            import torch

            if hasattr(torch, "compiler") and hasattr(torch.compiler, "set_stance"):
                stack.enter_context(torch.compiler.set_stance("force_eager"))
        yield


# --- outputs -------------------------------------------------------------------------------------


def output_leaves(out, path: str = "") -> list[tuple[str, object]]:
    """The function's output as (path, array-like) leaves, in a fixed order; reject what cannot be
    differentiated.

    Containers: tuples and lists of arrays (several outputs; a list of plain numbers is one
    array), dicts (in their own order), dataclasses and NamedTuples (by field), and, where JAX
    is loaded, any pytree registered with JAX. Paths read as Python: ``[0]``, ``["loss"]``, ``.mean``.
    """
    if out is None:
        raise UserCodeError("the function returned None; expected a number, an array, or a tuple, list or dict "
                            "of arrays")
    if isinstance(out, (str, bytes, set, frozenset)):
        raise UserCodeError(f"the function returned a {type(out).__name__}; expected a number, an array, or a "
                            "tuple, list or dict of arrays")
    if isinstance(out, dict):
        if not out:
            raise UserCodeError("the function returned an empty dict")
        return [leaf for key, value in out.items() for leaf in output_leaves(value, f'{path}["{key}"]')]
    if isinstance(out, tuple) and hasattr(out, "_fields"):  # a NamedTuple
        return [leaf for name in out._fields for leaf in output_leaves(getattr(out, name), f"{path}.{name}")]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [leaf for f in dataclasses.fields(out) for leaf in output_leaves(getattr(out, f.name), f"{path}.{f.name}")]
    if _traced_sequence(out):  # autograd's box around a list or tuple (np.split's result, traced)
        out = [out[i] for i in range(len(out))]
    if isinstance(out, (tuple, list)):
        if not out:
            raise UserCodeError("the function returned an empty sequence")
        if isinstance(out, list) and all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in out):
            return [(path, out)]  # a list of numbers is one array
        return [leaf for i, value in enumerate(out) for leaf in output_leaves(value, f"{path}[{i}]")]
    registered = _jax_pytree_leaves(out, path)
    return registered if registered is not None else [(path, out)]


def _traced_sequence(out) -> bool:
    """An autograd ``SequenceBox``: a list or tuple being traced, which must be taken apart like one."""
    return type(out).__name__ == "SequenceBox" and isinstance(getattr(out, "_value", None), (list, tuple))


def _jax_pytree_leaves(out, path: str):
    """Leaves of a pytree registered with JAX (a flax struct, an equinox module...), or None."""
    jax = sys.modules.get("jax")
    if jax is None or hasattr(out, "shape") or isinstance(out, (int, float)):
        return None
    try:
        flat, _ = jax.tree_util.tree_flatten_with_path(out)
    except Exception:  # noqa: BLE001 - not a pytree JAX knows
        return None
    if len(flat) == 1 and flat[0][1] is out:
        return None
    return [(path + jax.tree_util.keystr(key), leaf) for key, leaf in flat]


def output_parts(out) -> list:
    """The output's leaves (arrays or numbers), in ``output_leaves`` order."""
    return [leaf for _, leaf in output_leaves(out)]


def to_numpy(part) -> np.ndarray:
    """One output part as a numpy array (real or complex), whatever library produced it."""
    if hasattr(part, "detach") and hasattr(part, "cpu"):  # a torch tensor
        part = part.detach().cpu()
        if str(part.dtype) == "torch.bfloat16":  # numpy has no bfloat16
            part = part.float()
        part = part.numpy()
    try:
        array = np.asarray(part)
    except Exception as exc:  # noqa: BLE001 - e.g. a tracer leaking out, an object array
        raise UserCodeError(f"the function returned a {type(part).__name__} that is not an array ({exc})") from None
    if array.dtype == object or array.dtype.kind not in "biufc":
        raise UserCodeError(f"the function returned {array.dtype.name} values; adcheck checks functions with "
                            "numeric values")
    return array


def real_parts(array: np.ndarray) -> np.ndarray:
    """A numpy output part, flat, as float64: a complex one as its parts side by side (``complex_numbers``)."""
    return cx.real_view(array).astype(np.float64, copy=False) if cx.is_complex(array) else \
        array.astype(np.float64, copy=False).ravel()


def output_structure(out) -> tuple:
    """(path, shape) of each output leaf, for naming the Jacobian's rows."""
    from ..model import OutputLeaf

    arrays = [(path, to_numpy(leaf)) for path, leaf in output_leaves(out)]
    return tuple(OutputLeaf(path, tuple(array.shape), cx.is_complex(array)) for path, array in arrays)


def output_dtypes(out) -> tuple[str, ...]:
    """The float dtypes of the function's outputs ("float32", "bfloat16", ...), for the precision."""
    names = []
    for part in output_parts(out):
        dtype = getattr(part, "dtype", None)
        if dtype is not None:
            name = str(dtype).removeprefix("torch.")
            names.append(str(cx.REAL_OF[name]) if name in cx.REAL_OF else name)  # a complex one: its parts' precision
    return tuple(names)


def flat_output(out) -> np.ndarray:
    if type(out) is np.ndarray and out.dtype.kind in "biuf" and out.size:
        # The common case, a plain real array, as the general path below treats it: FD calls a
        # function that does not take a batch axis a hundred times per case.
        return out.astype(np.float64, copy=False).ravel()
    parts = [real_parts(to_numpy(p)) for p in output_parts(out)]
    value = np.concatenate(parts) if parts else np.zeros(0)
    if value.size == 0:
        raise UserCodeError("the function returned an empty array: there is nothing to differentiate")
    return value


def real_values(array) -> np.ndarray:
    """A backend's flat output as float64, refusing complex values before numpy would warn and drop them."""
    array = np.asarray(array)
    if array.dtype.kind == "c":
        raise UserCodeError("the function returned complex values; adcheck checks real-valued functions")
    return array.astype(np.float64, copy=False).ravel()


def check_shapes(value: np.ndarray, jacobian: np.ndarray, n_inputs: int) -> None:
    if jacobian.shape != (value.size, n_inputs):
        raise UserCodeError(f"Jacobian has shape {jacobian.shape}, expected {(value.size, n_inputs)}")


# --- plain (numpy) evaluation --------------------------------------------------------------------


def plain_flat_function(func, arguments: Arguments, framework: str, complex_input: bool = False):
    """``x_flat -> concatenated flat outputs`` with numpy in and out (torch code gets tensors).

    With ``complex_input`` the function takes and returns complex arrays (for the complex step).
    """
    dtype = arguments.dtype
    convert = _torch_converter() if framework == "torch" else (lambda a: a)  # array-API code gets numpy

    def raw(x: np.ndarray):
        """The function's own output at ``x`` (fresh copies of the arguments every call: a
        function that mutates its input must not corrupt the next point)."""
        x = np.asarray(x, dtype=np.complex128 if complex_input else dtype)  # each leaf is copied below
        return func(*arguments.build(x, wrap=lambda a: convert(np.array(a, copy=True)),
                                     fixed=lambda a: convert(np.array(a, copy=True))))

    def flat_function(x: np.ndarray) -> np.ndarray:
        if complex_input:
            return np.concatenate([_complex_numpy(p).ravel() for p in output_parts(raw(x))])
        return flat_output(raw(x))

    def batch(points: np.ndarray) -> np.ndarray:
        """(n_inputs, P) -> (n_outputs, P) in one call, each differentiated leaf given a trailing batch axis."""
        count = points.shape[1]
        if complex_input:
            parts = output_parts(func(*arguments.build_batch(points, convert, dtype=np.complex128)))
            return np.concatenate([_complex_numpy(p).reshape(-1, count) for p in parts])
        parts = output_parts(func(*arguments.build_batch(points, convert)))
        return np.concatenate([_batch_rows(to_numpy(p), count) for p in parts])

    flat_function.raw = raw
    flat_function.batch = None  # set by enable_batching once the function is seen to allow it
    flat_function.try_batch = batch
    return flat_function


def _batch_rows(array: np.ndarray, count: int) -> np.ndarray:
    """A batched output part (..., P) as (rows, P) float64; a complex one as Re and Im rows side by side."""
    rows = array.reshape(-1, count)
    if cx.is_complex(rows):
        return np.stack([rows.real, rows.imag], axis=1).reshape(-1, count).astype(np.float64, copy=False)
    return rows.astype(np.float64, copy=False)


def _complex_numpy(part) -> np.ndarray:
    if hasattr(part, "detach") and hasattr(part, "cpu"):
        part = part.detach().cpu().numpy()
    return np.asarray(part)


def enable_batching(flat_function, x0: np.ndarray, source, complex_input: bool = False) -> bool:
    """Let FD evaluate many points per call when the function treats a trailing axis as a batch.

    Numerical code often does (``np.tanh(a @ x)``, elementwise maps, a loop over ``x``), and then
    the thousands of evaluations of a full FD Jacobian become a few dozen calls. It is used only
    after three perturbed points give, in one call, the values three separate calls give; a
    function that reduces over the whole array, checks ``ndim`` or returns a scalar fails that
    test and is evaluated point by point as before. ``source`` is the same function from a
    fresh import of the user's module: calls with a batch axis are calls the user never made,
    and must not disturb the state of the module the reference value came from. The trial is
    silent, and a function that prints or warns during it is not batched: the user would see
    output from calls they never made. With ``complex_input`` the functions are the complex
    step's, and the trial points move along the imaginary axis.
    """
    import contextlib
    import io
    import warnings

    from ..finite_differences import step_scales

    rng = np.random.default_rng(0)
    move = 1e-3 * step_scales(x0)[:, None] * rng.standard_normal((x0.size, 3))
    points = x0[:, None] + (1j * move if complex_input else move)
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as warned, contextlib.redirect_stdout(printed), \
                contextlib.redirect_stderr(printed):
            warnings.simplefilter("always")
            together = source.try_batch(points)
            one_by_one = np.stack([source(points[:, k]) for k in range(3)], axis=1)
    except Exception:  # noqa: BLE001 - the function does not take a batch axis: that is the answer
        return False
    if warned or printed.getvalue():
        return False  # batched calls would print or warn where the user can see: evaluate point by point
    scale = float(np.max(np.abs(one_by_one), initial=0.0))
    if together.shape != one_by_one.shape or not np.allclose(together, one_by_one, rtol=1e-10, atol=1e-13 * scale):
        return False
    flat_function.batch = source.try_batch
    return True


# Points near the input where rebound code must give plain numpy's values too: a move of this
# much of each input's own scale, both ways along one random sign pattern.
NEARBY_MOVE = 1e-3


def nearby_points(x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from ..finite_differences import step_scales

    signs = np.where(np.random.default_rng(97531).random(x0.size) < 0.5, -1.0, 1.0)
    move = NEARBY_MOVE * step_scales(x0) * signs
    return x0 + move, x0 - move


def nearby_run(task, build_flat_function) -> NearbyResult:
    """An AD backend's ``nearby`` job: the values at ``nearby_points`` of the function as the
    backend's rebinding runs it (``build_flat_function(task)``), timed with the build."""
    import time

    start = time.perf_counter()
    values = values_nearby(build_flat_function(task), task.arguments.flat().copy())
    return NearbyResult(task.backend, Status.COMPUTED, time.perf_counter() - start, nearby=values)


def values_nearby(flat_function, x0: np.ndarray) -> np.ndarray | None:
    """The flat values at ``nearby_points`` as (points, outputs); None where the function fails
    there (outside its domain: then nothing is learnt)."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.stack([np.asarray(flat_function(p), dtype=np.float64).ravel() for p in nearby_points(x0)])
    except Exception:  # noqa: BLE001 - user code may raise anything
        return None


def _torch_converter():
    import torch

    return lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a


# --- describing failures -------------------------------------------------------------------------

MAX_MESSAGE = 300


def error_run(task, exc: BaseException, seconds: float):
    """The task's job's result (``task.Task.failed``) saying it failed: the exception in one line, and
    where in the user's code it rose (a compute job's: the backend's ``error`` row)."""
    return task.failed(Status.ERROR, seconds, describe_exception(exc), error_location(exc, safe_root(task)))


def safe_root(task):
    """The target's root folder, or None when it cannot be had (the module vanished, say)."""
    try:
        return task.target.root
    except Exception:  # noqa: BLE001 - e.g. the module vanished
        return None


def describe_exception(exc: BaseException) -> str:
    """One line: the exception's type and message (adcheck's own errors: just the message)."""
    if isinstance(exc, SystemExit):
        return f"the function called sys.exit({exc.code!r})"
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    try:
        if isinstance(exc, (UserCodeError, AdcheckError, NotApplicable)):
            text = str(exc)
        elif isinstance(exc, ModuleNotFoundError) and exc.name:
            text = f"ModuleNotFoundError: No module named {exc.name!r} (is it installed in this environment?)"
        else:
            # The type and the message's first line; not the __notes__ (JAX adds one about
            # filtered frames that would hide the message).
            message = str(exc).strip().splitlines()
            text = f"{type(exc).__name__}: {message[0]}" if message else type(exc).__name__
    except Exception:  # noqa: BLE001 - a user exception whose __str__ raises
        text = ""
    text = " ".join(text.split())  # multi-line messages (SyntaxError carets, numpy's) on one line
    if not text:
        text = type(exc).__name__
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def error_location(exc: BaseException, root: Path | None) -> Location | None:
    """The innermost traceback frame in the user's code (a file under the target's root).

    A ``SyntaxError`` raised while importing a user module points at that module's line.
    """
    try:
        root = None if root is None else Path(root).resolve()
    except Exception:  # noqa: BLE001 - e.g. the module vanished
        root = None
    if root is None:
        return None
    found = None
    try:
        for frame in traceback.extract_tb(exc.__traceback__):
            if is_user_file(frame.filename, root):
                found = Location(str(Path(frame.filename)), frame.lineno or 0)
        if isinstance(exc, SyntaxError) and exc.filename and exc.lineno and is_user_file(exc.filename, root):
            found = Location(str(Path(exc.filename)), exc.lineno)
    except Exception:  # noqa: BLE001 - a location is a courtesy; never lose the row over it
        return found
    return found


def is_user_file(filename: str | None, root: Path) -> bool:
    """Is ``filename`` the user's code: under ``root`` and not in a virtualenv inside it?"""
    if not filename:
        return False
    path = Path(filename)
    if not path.is_absolute():
        return False
    resolved = path.resolve()
    return resolved.is_relative_to(root) and "site-packages" not in resolved.relative_to(root).parts


def not_applicable(exc: BaseException, backend: str, root: Path | None) -> NotApplicable | None:
    """``exc`` as a ``NotApplicable`` when it is a mode the framework lacks (``missing_modes``),
    with the framework's sentence and the user's line; None when it is a failure."""
    entry = missing_mode(exc, backend)
    if entry is None:
        return None
    location = _traced_location(exc, root) or error_location(exc, root)
    where = f" at {location.displayed()}" if location else ""
    return NotApplicable(describe_missing(entry, exc, describe_exception(exc), where), location)


def _traced_location(exc: BaseException, root: Path | None) -> Location | None:
    """For JAX, the user's line that built the equation being differentiated when ``exc`` was
    raised: a reverse pass runs after the user's code has returned, so the traceback itself
    never reaches it, but each equation keeps where it was traced."""
    if root is None:
        return None
    try:
        root = Path(root).resolve()
        for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
            source = getattr(frame.f_locals.get("eqn"), "source_info", None)
            frames = getattr(getattr(source, "traceback", None), "frames", None)
            for traced in frames or ():
                if is_user_file(traced.file_name, root):
                    return Location(str(Path(traced.file_name)), traced.line_num)
    except Exception:  # noqa: BLE001 - a location is a courtesy; the row stands without it
        return None
    return None


# --- --contexts: what the JAX and torch backends share ---------------------------------------------


# The contexts that lower the precision; each context's tolerance follows from the machine
# epsilon it computes in (verdict.tolerances.EPS, the one table).
CONTEXT_DTYPES = ("float32", "bfloat16", "float16")


def context_eps(name: str, x0: np.ndarray) -> float:
    """The machine epsilon context ``name`` computes in: its dtype's, else the inputs' (float64
    unless the user's are float32), as eagerly."""
    if name in CONTEXT_DTYPES:
        return EPS[name]
    return float(np.finfo(x0.dtype).eps) if np.issubdtype(x0.dtype, np.floating) else EPS["float64"]


def in_context(name: str, task, n_inputs: int, direction: str, eps: float, derivative,
               declined=lambda exc: "") -> ContextResult:
    """The ``ContextResult`` of ``derivative()``, the backend's derivative computed in context
    ``name``: not-applicable where the backend raises ``NotApplicable`` (no such context, no GPU)
    or ``declined(exc)`` names a reason, an error with its line where the user's code failed
    there, else the derivative (``context_outcome``)."""
    try:
        result = derivative()
    except NotApplicable as exc:
        return ContextResult(name, status=str(Status.NOT_APPLICABLE), message=exc.message, eps=eps)
    except Exception as exc:  # noqa: BLE001 - the user's code in that context: an error with its line
        reason = declined(exc)
        if reason:
            return ContextResult(name, status=str(Status.NOT_APPLICABLE), message=reason, eps=eps)
        return context_failure(name, exc, task, eps)
    return context_outcome(name, result, n_inputs, task.mode, direction, eps)


def context_failure(name: str, exc: Exception, task, eps: float):
    """The ``ContextResult`` of context ``name`` whose computation raised ``exc``: not-applicable
    when the framework has no such derivative there (``missing_modes``: a fori_loop whose bounds
    are traced only under jit), else an error with its line in the user's code."""
    missing = not_applicable(exc, task.backend, task.target.root)
    if missing is not None:
        return ContextResult(name, status=str(Status.NOT_APPLICABLE), message=missing.message, eps=eps)
    location = error_location(exc, task.target.root)
    where = f" at {location.displayed()}" if location else ""
    return ContextResult(name, status=str(Status.ERROR), message=f"{describe_exception(exc)}{where}", eps=eps)


def context_outcome(name: str, result, n_inputs: int, mode, direction: str, eps: float):
    """The ``ContextResult`` of context ``name`` from its derivative: products in fast mode
    (``J V`` forward, ``U^T J`` reverse), else the Jacobian."""
    result = np.asarray(result, dtype=np.float64)
    if mode == Mode.FAST:
        products = Products(jv=result) if direction == "fwd" else Products(ujt=result)
        return ContextResult(name, products=products, eps=eps)
    return ContextResult(name, jacobian=result.reshape(-1, n_inputs), eps=eps)
