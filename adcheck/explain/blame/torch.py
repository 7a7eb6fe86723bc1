"""PyTorch: record the dispatched aten ops and ``torch.autograd.Function`` calls, check each alone.

A ``TorchDispatchMode`` sees every op below autograd, in program order, with the tensors it got:
exactly the ops autograd differentiates (composite ops arrive decomposed, the way their derivative
is computed). ``Function.apply`` is wrapped while recording, so a ``torch.autograd.Function`` is
one unit with the user's (or a library's) ``backward``/``jvp`` as its rule, and the ops its
``forward`` runs are not checked on their own (their derivatives are never used).

A recorded op's rule is replayed on copies of the operands it saw: ``torch.autograd.grad``
(``torch-rev``) or dual tensors (``torch-fwd``) through that one op. In-place ops run on a fresh
copy each time. Directions come from two more recorded runs a small step either side of the
input, matched op by op (see ``local``).
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
from collections.abc import Callable

import numpy as np

from ...backends.calling import load_user_function, output_parts, real_parts, to_numpy
from ...complex_numbers import split
from .local import LocalProblem, Operand, numbered, output_eps, pieces
from .program import Application, Rule, is_user, library_rule, program_moves, site_on_stack, user_root, version_of

# Ops whose derivative is not the derivative of their values by design (detach) or that are
# autograd's own bookkeeping.
SKIPPED = frozenset({"detach", "detach_", "alias", "lift_fresh", "lift_fresh_copy", "_has_compatible_shallow_copy_type",
                     "_to_copy_no_grad"})


def record(task) -> list[Application]:
    """The applications of derivative rules in the function's forward pass, in program order."""
    from ...frameworks import configure_torch, torch_device

    x0 = task.arguments.flat().astype(np.float64)
    configure_torch(x0.dtype, task.device)  # where the backend computed
    device = torch_device(task.device)
    flat_function = _flat_function(task, device)
    root = user_root(task)
    base = _run(flat_function, x0, root, device)
    moves, step = program_moves(x0)
    shifted = []
    for move in moves:
        try:
            shifted.append((_run(flat_function, x0 + step * move, None, device),
                            _run(flat_function, x0 - step * move, None, device)))
        except Exception:  # noqa: BLE001 - the function fails nearby: no direction from this move
            continue
    forward = task.backend == "torch-fwd"
    return [_application(op, index, shifted, 2 * step, root, forward) for index, op in enumerate(base)]


def _flat_function(task, device):
    """The user's function as ``x_flat -> concatenated flat outputs`` (as the backend builds it)."""
    import torch

    func = load_user_function(task)
    arguments = task.arguments

    def flat_function(x):
        args = arguments.build(x, xp=torch, wrap=lambda t: t.clone(),
                               fixed=lambda a: torch.from_numpy(np.array(a, copy=True)).to(device))
        parts = []
        for part in output_parts(func(*args)):
            if isinstance(part, torch.Tensor) and part.is_complex():  # as the backend: Re and Im side by side
                parts.append(split(part, torch).to(torch.float64))
            elif isinstance(part, torch.Tensor):
                parts.append(part.reshape(-1).to(torch.float64))
            else:
                parts.append(torch.from_numpy(real_parts(to_numpy(part))).to(device))
        return torch.cat(parts)

    return flat_function


# --- recording ----------------------------------------------------------------------------------------


class _Op(types.SimpleNamespace):
    """One recorded op or Function call: ``call(flat leaves)`` with ``leaves[positions]`` differentiable."""


def _run(flat_function, x, root, device) -> list[_Op]:
    import torch

    recorder = _Recorder(root)
    function_class = torch.autograd.function.Function
    original = function_class.__dict__["apply"]  # the classmethod itself, to put back as it was
    function_class.apply = classmethod(_recording_apply(original.__func__, recorder))
    try:
        with recorder:
            flat_function(torch.from_numpy(np.array(x, dtype=np.float64)).to(device).requires_grad_(True))
    finally:
        function_class.apply = original
    return recorder.ops


def _copies(leaves):
    import torch

    return [leaf.detach().clone() if isinstance(leaf, torch.Tensor) else leaf for leaf in leaves]


def _differentiable_positions(leaves):
    import torch

    return [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor) and leaf.requires_grad
            and (leaf.is_floating_point() or leaf.is_complex()) and leaf.numel() > 0]


@functools.lru_cache(maxsize=1)
def _recorder_class():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self, root):
            super().__init__()
            self.root = root
            self.ops: list[_Op] = []
            self.depth = 0  # inside a Function's forward: its ops are not the rule

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            import torch
            from torch.utils._pytree import tree_flatten

            kwargs = kwargs or {}
            record = self.depth == 0 and func.overloadpacket.__name__ not in SKIPPED and \
                torch.Tag.nondeterministic_seeded not in func.tags
            if record:
                leaves, spec = tree_flatten((args, kwargs))
                positions = _differentiable_positions(leaves)
                record = bool(positions)
            if record:
                before = _copies(leaves)
            out = func(*args, **kwargs)
            if record:
                self.ops.append(_Op(kind="op", func=func, leaves=before, spec=spec, positions=positions,
                                    site=site_on_stack(sys._getframe(1), self.root), key=(str(func), tuple(tuple(leaves[p].shape) for p in positions))))
            return out

    return Recorder


def _Recorder(root):
    return _recorder_class()(root)


def _recording_apply(original, recorder):
    def apply(cls, *args, **kwargs):
        if recorder.depth:
            return original(cls, *args, **kwargs)
        from torch.utils._pytree import tree_flatten

        leaves, spec = tree_flatten((args, kwargs))
        positions = _differentiable_positions(leaves)
        before = _copies(leaves)
        recorder.depth += 1
        try:
            out = original(cls, *args, **kwargs)
        finally:
            recorder.depth -= 1
        if positions:
            recorder.ops.append(_Op(kind="function", cls=cls, original=original, leaves=before, spec=spec,
                                    positions=positions, site=site_on_stack(sys._getframe(1), recorder.root),
                                    key=(cls, tuple(tuple(leaves[p].shape) for p in positions))))
        return out

    return apply


# --- applications -----------------------------------------------------------------------------------


def _application(op, index, shifted, step, root, forward) -> Application:
    rule = _rule(op, root, forward)

    def directions():
        columns = []
        for plus, minus in shifted:
            if index >= len(plus) or index >= len(minus) or plus[index].key != op.key or minus[index].key != op.key:
                continue
            columns.append(np.concatenate([_numpy(plus[index].leaves[p]) - _numpy(minus[index].leaves[p])
                                           for p in op.positions]) / step)
        size = sum(op.leaves[p].numel() * (2 if op.leaves[p].is_complex() else 1) for p in op.positions)
        return np.stack(columns, axis=1) if columns else np.zeros((size, 1))

    return Application(rule=rule, site=op.site, problem=lambda: _problem(op, forward, 1),
                       second=lambda: _problem(op, forward, 2), directions=directions)


def _rule(op, root, forward) -> Rule:
    if op.kind == "op":
        name = f"aten::{op.func.overloadpacket.__name__}"
        return Rule(f"torch {name}", False, "torch", version_of("torch"), "primitive")
    cls = op.cls
    method = getattr(cls, "jvp" if forward else "backward", None)
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    path, line = (code.co_filename, code.co_firstlineno) if code is not None else (None, 0)
    name = getattr(cls, "__qualname__", str(cls))
    function = f"{name}.{'jvp' if forward else 'backward'}"
    if is_user(path, root):
        names, slots = _forward_names(op)
        return Rule(name, True, kind="torch.autograd.Function", definition=(path, line), function=function,
                    operand_names=names, operand_slots=slots)
    return library_rule(f"{getattr(cls, '__module__', '')}.{name}", path, "torch.autograd.Function", function, line,
                        default_library="torch")


def _forward_names(op) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Per differentiable operand of a Function call: the name ``forward`` gives it (``scale``,
    ``xs[1]`` inside a list argument) and its argument's position among forward's inputs, which
    is the place of its gradient in what ``backward`` returns. ``((), ())`` when they cannot be
    matched (arguments passed by keyword, or a forward that takes ``*args``)."""
    import inspect

    import torch
    from torch.utils._pytree import tree_flatten

    try:
        parameters = list(inspect.signature(op.cls.forward).parameters.values())
        args, kwargs = op.spec.unflatten(op.leaves) if hasattr(op.spec, "unflatten") else (None, None)
    except (TypeError, ValueError):  # a builtin or C forward: no signature to read
        return (), ()
    if args is None or kwargs:
        return (), ()
    # Old-style Functions take ctx first; with setup_context (the new style) forward does not.
    if op.cls.setup_context is torch.autograd.Function.setup_context and parameters:
        parameters = parameters[1:]
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters) or len(args) > len(parameters):
        return (), ()
    owners: list[tuple[str, int]] = []  # per leaf: (name, argument position)
    for position, (argument, parameter) in enumerate(zip(args, parameters)):
        leaves, _ = tree_flatten(argument)
        for k in range(len(leaves)):
            owners.append((parameter.name if len(leaves) == 1 else f"{parameter.name}[{k}]", position))
    if len(owners) != len(op.leaves):
        return (), ()
    return tuple(owners[p][0] for p in op.positions), tuple(owners[p][1] for p in op.positions)


# --- the local problem --------------------------------------------------------------------------------


def _problem(op, forward, order) -> LocalProblem | None:
    import torch

    leaves, positions = op.leaves, op.positions
    # A complex operand is checked as its real and imaginary parts, (..., 2) real, and a complex
    # output as its parts likewise: the rule then runs on complex numbers as in the program, and
    # the check is of a real function, whatever torch's convention (adcheck.complex_numbers).
    complex_at = {p for p in positions if leaves[p].is_complex()}
    shapes = [tuple(leaves[p].shape) + ((2,) if p in complex_at else ()) for p in positions]
    dtypes = [leaves[p].real.dtype if p in complex_at else leaves[p].dtype for p in positions]
    devices = [leaves[p].device for p in positions]
    z0 = np.concatenate([_numpy(leaves[p]) for p in positions])
    complex_out: list[bool] = []  # which outputs the last call returned complex
    call = _rule_call(op, complex_at, complex_out)

    def split(z, dtype=None):
        return [torch.from_numpy(np.ascontiguousarray(piece)).to(device=device, dtype=dtype or leaf_dtype)
                for piece, leaf_dtype, device in zip(pieces(z, shapes), dtypes, devices)]

    function = call if order == 1 else _derivative_of(call, split(z0), forward)
    with torch.no_grad():
        example = function(*split(z0))
    if not example:
        return None
    out_shapes = [tuple(o.shape) for o in example]
    # The rule's derivative at order 2 is output-shaped forward (J 1), operand-shaped in reverse (J^T 1).
    complex_parts = list(complex_out) if order == 1 or forward else [p in complex_at for p in positions]
    rule = _Products(function, split, z0, order, shapes, out_shapes, [o.dtype for o in example])
    names = tuple("x" if len(positions) == 1 else f"x{k + 1}" for k in range(len(positions)))
    if op.kind == "function":
        named, _ = _forward_names(op)
        names = named or names  # as forward calls them
    complex_step = order == 1 and op.kind == "op" and not complex_at and not any(complex_out)
    return LocalProblem(
        z0=z0, value=rule.value, eps=output_eps([(str(o.dtype).removeprefix("torch."), o.numel()) for o in example]),
        inputs=tuple(Operand(n, s, p in complex_at) for n, s, p in zip(names, shapes, positions)),
        outputs=numbered("y" if order == 1 else "y'", out_shapes, complex_parts),
        forward=rule.forward if forward else None, reverse=None if forward else rule.reverse,
        complex_value=_complex_value(call, split) if complex_step else None)


def _rule_call(op, complex_at, complex_out: list) -> Callable:
    """The op (a Function: its ``forward``) alone as a function of its differentiable operands (a
    complex one as its parts, (..., 2) real), returning its inexact outputs (a complex one as its
    parts); each call sets ``complex_out`` to which outputs were complex."""
    import torch
    from torch.utils._pytree import tree_flatten, tree_unflatten

    def call(*diff):
        filled = [leaf.clone() if isinstance(leaf, torch.Tensor) else leaf for leaf in op.leaves]
        for p, d in zip(op.positions, diff):
            if p in complex_at:
                d = torch.complex(d[..., 0], d[..., 1])
            filled[p] = d.clone() if op.kind == "op" else d  # in-place ops write into a copy
        args, kwargs = tree_unflatten(filled, op.spec)
        out = op.func(*args, **kwargs) if op.kind == "op" else op.original(op.cls, *args, **kwargs)
        parts, _ = tree_flatten(out)
        parts = [p for p in parts if isinstance(p, torch.Tensor) and (p.is_floating_point() or p.is_complex())]
        complex_out[:] = [p.is_complex() for p in parts]
        return [torch.stack([torch.real(p), torch.imag(p)], dim=-1) if p.is_complex() else p for p in parts]

    return call


def _complex_value(call, split) -> Callable:
    """The op on complex operands, flat in and flat out: the complex step's function."""
    import torch

    def complex_value(z):
        with torch.no_grad():
            outs = call(*split(np.asarray(z, dtype=np.complex128), torch.complex128))
        return np.concatenate([o.detach().cpu().reshape(-1).numpy() for o in outs])

    return complex_value


@dataclasses.dataclass(frozen=True)
class _Products:
    """The rule's value and products at ``z0``: ``J D`` by dual tensors (``torch.func.jvp`` for a
    second derivative), ``U^T J`` by ``torch.autograd.grad`` through one recorded graph."""

    function: Callable
    split: Callable  # flat operands -> the operands, shaped and typed, on their devices
    z0: np.ndarray
    order: int
    shapes: list
    out_shapes: list
    out_dtypes: list

    def value(self, z: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return np.concatenate([_numpy(o) for o in self.function(*self.split(z))])

    def forward(self, directions: np.ndarray) -> np.ndarray:
        import torch
        from torch.autograd import forward_ad

        columns = []
        for k in range(directions.shape[1]):
            if self.order == 1:
                with forward_ad.dual_level():
                    duals = [forward_ad.make_dual(p, t) for p, t in zip(self.split(self.z0),
                                                                         self.split(directions[:, k]))]
                    tangents = [forward_ad.unpack_dual(o).tangent for o in self.function(*duals)]
            else:
                outs = torch.func.jvp(lambda *a: tuple(self.function(*a)), tuple(self.split(self.z0)),
                                      tuple(self.split(directions[:, k])))
                tangents = list(outs[1])
            columns.append(np.concatenate([np.zeros(int(np.prod(s)) if s else 1) if t is None else _numpy(t)
                                           for t, s in zip(tangents, self.out_shapes)]))
        return np.stack(columns, axis=1)

    def reverse(self, cotangents: np.ndarray) -> np.ndarray:
        import torch

        leaves_in = [p.clone().requires_grad_(True) for p in self.split(self.z0)]
        outs = self.function(*leaves_in)
        rows = []
        for q in range(cotangents.shape[1]):
            given = [torch.from_numpy(np.ascontiguousarray(piece)).to(device=o.device, dtype=dtype)
                     for piece, o, dtype in zip(pieces(cotangents[:, q], self.out_shapes), outs, self.out_dtypes)]
            used = [(o, g) for o, g in zip(outs, given) if o.requires_grad]
            if not used:
                rows.append(np.zeros(self.z0.size))
                continue
            grads = torch.autograd.grad([o for o, _ in used], leaves_in, grad_outputs=[g for _, g in used],
                                        retain_graph=True, allow_unused=True)
            rows.append(np.concatenate([np.zeros(int(np.prod(s)) if s else 1) if g is None else _numpy(g)
                                        for g, s in zip(grads, self.shapes)]))
        return np.stack(rows)


def _numpy(tensor) -> np.ndarray:
    """A tensor's values as a flat float64 numpy array, from whichever device (a complex one's
    real and imaginary parts side by side)."""
    tensor = tensor.detach()
    if tensor.is_complex():
        tensor = torch_view_as_real(tensor)
    return tensor.double().cpu().reshape(-1).numpy()


def torch_view_as_real(tensor):
    import torch

    return torch.view_as_real(tensor.resolve_conj())


def _derivative_of(call, primals, forward):
    """The rule's first derivative as a function of the operands, along all-ones ``d`` or ``u``."""
    import torch

    if forward:
        tangents = tuple(torch.ones_like(p) for p in primals)

        def first(*diff):
            return list(torch.func.jvp(lambda *a: tuple(call(*a)), tuple(diff), tangents)[1])

        return first

    def first(*diff):
        with torch.enable_grad():
            leaves = [d if d.requires_grad else d.detach().requires_grad_(True) for d in diff]
            outs = call(*leaves)
            used = [o for o in outs if o.requires_grad]
            if not used:
                return [torch.zeros_like(d) for d in diff]
            grads = torch.autograd.grad(used, leaves, grad_outputs=[torch.ones_like(o) for o in used],
                                        create_graph=True, allow_unused=True)
        return [torch.zeros_like(d) if g is None else g for g, d in zip(grads, diff)]

    return first
