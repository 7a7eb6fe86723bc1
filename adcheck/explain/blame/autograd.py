"""autograd: record the trace the way ``make_vjp`` does, then check each node's VJP alone.

autograd builds one node per primitive call while the function runs; a node subclass records
each one (the primitive, its arguments, which of them are traced, its value, and the user line
on the stack), in program order. A node's rule is the VJP maker autograd registered for the
primitive (``defvjp``): called on the recorded arguments, it is exactly the rule the backward pass
applied. The user's own primitives (``@primitive`` with ``defvjp`` in the user's files) are the
user's rules (ADC501); autograd's wrappers of numpy and scipy carry autograd's (ADC502).

Directions come from two more recorded runs a small step either side of the input, matched node
by node (see ``local``); a run whose trace differs (Python control flow on values) gives none.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import types
from collections.abc import Callable

import numpy as np

from ...backends import autograd_backend
from ...complex_numbers import assemble, real_view, split
from ...verdict.tolerances import EPS
from .local import LocalProblem, Operand, numbered, output_eps, pieces
from .program import Application, Rule, is_user, library_rule, program_moves, site_on_stack, user_root

PUBLIC_MODULES = ("autograd.numpy", "autograd.numpy.linalg", "autograd.numpy.fft", "autograd.scipy.special",
                  "autograd.scipy.linalg", "autograd.scipy.stats.norm", "autograd.scipy.signal",
                  "autograd.scipy.misc")


def record(task) -> list[Application]:
    """The applications of derivative rules in the function's trace, in program order."""
    flat_function = autograd_backend.build_flat_function(task)
    x0 = task.arguments.flat().astype(np.float64)
    root = user_root(task)
    base = _trace(flat_function, x0, root)
    moves, step = program_moves(x0)
    shifted = []
    for move in moves:
        try:
            shifted.append((_trace(flat_function, x0 + step * move, None),
                            _trace(flat_function, x0 - step * move, None)))
        except Exception:  # noqa: BLE001 - the function fails nearby: no direction from this move
            continue
    return [_application(node, index, base, shifted, 2 * step, root) for index, node in enumerate(base)]



# --- recording ----------------------------------------------------------------------------------------


class _Recorded(types.SimpleNamespace):
    """One node: ``fun(*args, **kwargs) -> value`` with ``args[argnums]`` traced."""


_RECORDING: list = []
_ROOT: list = [None]


@functools.lru_cache(maxsize=1)
def _node_class():
    from autograd.core import VJPNode

    class RecordingNode(VJPNode):
        __slots__ = []

        def __init__(self, value, fun, args, kwargs, parent_argnums, parents):
            super().__init__(value, fun, args, kwargs, parent_argnums, parents)
            if _RECORDING:
                _RECORDING[-1].append(_Recorded(
                    fun=fun, args=tuple(_copy(a) for a in args), kwargs=dict(kwargs), argnums=tuple(parent_argnums),
                    value=value, site=site_on_stack(sys._getframe(1), _ROOT[0])))

    return RecordingNode


def _copy(value):
    return np.array(value, copy=True) if isinstance(value, np.ndarray) else value


def _trace(flat_function, x, root) -> list:
    from autograd.tracer import trace

    node_class = _node_class()
    _RECORDING.append([])
    _ROOT[0] = root
    try:
        trace(node_class.new_root(), flat_function, x)
    finally:
        recorded = _RECORDING.pop()
    return recorded


# --- applications -----------------------------------------------------------------------------------


def _application(node, index, base, shifted, step, root) -> Application:
    rule = _rule(node.fun, root)
    positions = [a for a in node.argnums if _differentiable(node.args[a])]

    def directions():
        columns = []
        for plus, minus in shifted:
            if index >= len(plus) or index >= len(minus):
                continue
            up, down = plus[index], minus[index]
            if up.fun is not node.fun or down.fun is not node.fun or up.argnums != node.argnums:
                continue
            try:
                columns.append(np.concatenate([_real_parts(up.args[a]) - _real_parts(down.args[a])
                                               for a in positions]) / step)
            except (ValueError, TypeError):
                continue
        size = sum(int(np.size(node.args[a])) * (2 if np.iscomplexobj(node.args[a]) else 1) for a in positions)
        return np.stack(columns, axis=1) if columns else np.zeros((size, 1))

    return Application(rule=rule, site=node.site, problem=lambda: _problem(node, positions, 1),
                       second=lambda: _problem(node, positions, 2), directions=directions)


def _differentiable(value) -> bool:
    array = np.asarray(value)
    return array.dtype.kind in "fc" and array.size > 0


def _real_parts(value) -> np.ndarray:
    """Values, flat, as float64: a complex array's real and imaginary parts side by side."""
    value = np.asarray(value)
    return real_view(value).astype(np.float64) if np.iscomplexobj(value) else value.astype(np.float64).ravel()


def _rule(fun, root) -> Rule:
    from autograd.core import primitive_vjps

    rule_functions = _rule_functions(primitive_vjps.get(fun))
    user_rules = [f for f in rule_functions if is_user(f.__code__.co_filename, root)]
    raw = getattr(fun, "fun", fun)
    raw_file = getattr(getattr(raw, "__code__", None), "co_filename", None)
    name = getattr(fun, "__name__", str(fun))
    if user_rules or (not rule_functions and is_user(raw_file, root)):
        definition = (user_rules[0].__code__.co_filename, user_rules[0].__code__.co_firstlineno) if user_rules else (
            raw_file, raw.__code__.co_firstlineno)
        function = user_rules[0].__name__ if user_rules and user_rules[0].__name__ != "<lambda>" else ""
        return Rule(name, True, kind="defvjp", definition=definition, function=function)
    rule_file = rule_functions[0].__code__.co_filename if rule_functions else None
    return library_rule(_public_name(fun) or name, rule_file, "primitive", default_library="autograd")


def _rule_functions(vjpmaker) -> list:
    """The Python functions a VJP maker closes over (``defvjp``'s per-argument rules)."""
    found, seen = [], set()

    def visit(obj, depth):
        if depth > 3 or id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            for value in obj.values():
                visit(value, depth + 1)
            return
        code = getattr(obj, "__code__", None)
        if code is None or getattr(obj, "_is_autograd_primitive", False):
            return  # not a function, or the primitive itself (its closure holds the raw function)
        if "autograd/core.py" not in code.co_filename.replace("\\", "/"):
            found.append(obj)
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                visit(cell.cell_contents, depth + 1)
            except ValueError:  # an empty cell
                continue

    if vjpmaker is not None:
        visit(vjpmaker, 0)
    return found


@functools.lru_cache(maxsize=1024)
def _public_name_cached(fun_id: int, name: str) -> str | None:
    import importlib

    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001
            continue
        if id(getattr(module, name, None)) == fun_id:
            return f"{module_name}.{name}"
    return None


def _public_name(fun) -> str | None:
    name = getattr(fun, "__name__", None)
    return _public_name_cached(id(fun), name) if name else None


# --- the local problem --------------------------------------------------------------------------------


def _problem(node, positions, order) -> LocalProblem | None:
    from autograd.core import primitive_vjps

    if not positions:
        return None
    args = node.args
    complex_at = {a for a in positions if np.iscomplexobj(args[a])}
    complex_outs = [np.iscomplexobj(p) for p in _parts(node.value)]
    if complex_at or any(complex_outs):
        return _complex_problem(node, positions, complex_at, complex_outs, order)
    shapes = [np.shape(args[a]) for a in positions]
    z0 = np.concatenate([np.asarray(args[a], dtype=np.float64).ravel() for a in positions])
    vjpmaker = primitive_vjps[node.fun]
    example = _parts(node.value)
    if not all(np.asarray(p).dtype.kind == "f" for p in example):
        return None
    out_shapes = [np.shape(p) for p in example]
    rule = _Rule(node, tuple(positions), vjpmaker, z0, shapes, [np.asarray(args[a]).dtype for a in positions],
                 out_shapes)
    names = tuple("x" if len(positions) == 1 else f"x{a + 1}" for a in positions)
    inputs = tuple(Operand(n, tuple(s)) for n, s in zip(names, shapes))
    if order == 1:
        eps = output_eps([(np.asarray(p).dtype.name, int(np.prod(s)) if s else 1) for s, p in zip(out_shapes, example)])
        return LocalProblem(z0=z0, value=rule.value, eps=eps, inputs=inputs, outputs=numbered("y", out_shapes),
                            reverse=rule.reverse, complex_value=rule.complex_value)
    return LocalProblem(z0=z0, value=rule.derivative_value, eps=np.full(z0.size, EPS["float64"]), inputs=inputs,
                        outputs=numbered("y'", shapes), reverse=rule.reverse_second)


def _parts(value) -> list:
    """A node's outputs: its value, or the items of a tuple or list value."""
    return list(value) if isinstance(value, (tuple, list)) else [value]


@dataclasses.dataclass(frozen=True)
class _Rule:
    """A node's registered VJP maker at the node's own arguments, as functions of the flat
    differentiable operands; the second derivative along all-ones cotangents, through the rule."""

    node: object
    positions: tuple[int, ...]
    vjpmaker: Callable
    z0: np.ndarray
    shapes: list
    dtypes: list
    out_shapes: list

    def arguments(self, z, traced=False) -> list:
        import autograd.numpy as anp

        filled, offset = list(self.node.args), 0
        for a, shape, dtype in zip(self.positions, self.shapes, self.dtypes):
            size = int(np.prod(shape)) if shape else 1
            piece = z[offset:offset + size]
            if traced:
                filled[a] = anp.reshape(piece, shape) if shape else piece[0]
            else:
                value = np.asarray(piece, dtype=piece.dtype if np.iscomplexobj(piece) else dtype)
                filled[a] = value.reshape(shape) if shape else value.reshape(())[()]
            offset += size
        return filled

    def cotangent(self, u):
        """A flat cotangent shaped as the node's value (a tuple or list of outputs, or one)."""
        parts = [piece if shape else piece[()] for piece, shape
                 in zip(pieces(np.asarray(u, dtype=np.float64), self.out_shapes), self.out_shapes)]
        like = self.node.value
        return type(like)(parts) if isinstance(like, (tuple, list)) else parts[0]

    def vjp(self, z, u, traced):
        """``J(z)^T u`` through the registered rule (autograd traces through it when ``traced``)."""
        import autograd.numpy as anp

        filled = self.arguments(z, traced)
        value = self.node.fun(*filled, **self.node.kwargs)
        grads = list(self.vjpmaker(self.positions, value, tuple(filled), self.node.kwargs)(self.cotangent(u)))
        if traced:
            return anp.concatenate([anp.ravel(g) for g in grads])
        return np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in grads])

    def value(self, z) -> np.ndarray:
        from autograd.tracer import getval

        parts = _parts(self.node.fun(*self.arguments(z), **self.node.kwargs))
        if not parts:
            return np.zeros(0)
        return np.concatenate([np.asarray(getval(p), dtype=np.float64).ravel() for p in parts])

    def reverse(self, cotangents) -> np.ndarray:
        return np.stack([self.vjp(self.z0, cotangents[:, q], False) for q in range(cotangents.shape[1])])

    def complex_value(self, z) -> np.ndarray:
        return np.concatenate([np.asarray(p).ravel() for p in _parts(self.node.fun(*self.arguments(z),
                                                                                  **self.node.kwargs))])

    def derivative_value(self, z) -> np.ndarray:
        return self.vjp(np.asarray(z, dtype=np.float64), self._ones(), False)

    def reverse_second(self, cotangents) -> np.ndarray:
        return _reverse_through(lambda z: self.vjp(z, self._ones(), True), self.z0, cotangents)

    def _ones(self) -> np.ndarray:
        return np.ones(sum(int(np.prod(s)) if s else 1 for s in self.out_shapes))


def _reverse_through(function, z0, cotangents) -> np.ndarray:
    """The rows ``u^T J`` of ``function`` at ``z0``, one per cotangent column, by ``make_vjp``."""
    from autograd import make_vjp

    vjp, _ = make_vjp(function)(z0)
    return np.stack([np.asarray(vjp(cotangents[:, q]), dtype=np.float64).ravel() for q in range(cotangents.shape[1])])


def _complex_problem(node, positions, complex_at, complex_outs, order: int = 1) -> LocalProblem:
    """The rule of a node with complex operands or outputs, checked as the real function of their
    parts: autograd traces ``(Re, Im) -> fun -> (Re, Im)`` (``complex_numbers.assemble`` and
    ``split``, autograd's own rules), so the node's rule runs on complex numbers exactly as in the
    backward pass, and no convention is assumed here. At order 2 the rule's derivative is that real
    function's ``J(z)^T 1``, differentiated once more through the rule."""
    import autograd.numpy as anp

    args, kwargs, fun = node.args, node.kwargs, node.fun
    shapes = [tuple(np.shape(args[a])) for a in positions]
    widths = [(int(np.prod(s)) if s else 1) * (2 if a in complex_at else 1) for a, s in zip(positions, shapes)]
    z0 = np.concatenate([_real_parts(args[a]) for a in positions])

    def realified(z):
        filled, offset = list(args), 0
        for a, shape, width in zip(positions, shapes, widths):
            piece = z[offset:offset + width]
            filled[a] = assemble(piece, shape, anp) if a in complex_at else anp.reshape(piece, shape)
            offset += width
        return anp.concatenate([split(p, anp) if is_complex else anp.ravel(p)
                                for p, is_complex in zip(_parts(fun(*filled, **kwargs)), complex_outs)])

    out_shapes = [tuple(np.shape(p)) + ((2,) if c else ()) for p, c in zip(_parts(node.value), complex_outs)]
    eps = np.full(sum(int(np.prod(s)) if s else 1 for s in out_shapes), EPS["float64"])

    def value(z):
        return np.asarray(realified(np.asarray(z, dtype=np.float64)), dtype=np.float64)

    def reverse(cotangents):
        return _reverse_through(realified, z0, cotangents)

    names = tuple("x" if len(positions) == 1 else f"x{a + 1}" for a in positions)
    inputs = tuple(Operand(n, s + ((2,) if a in complex_at else ()), a in complex_at)
                   for n, s, a in zip(names, shapes, positions))
    if order == 2:
        from autograd import make_vjp

        u = np.ones(eps.size)

        def first_derivative(z):
            return make_vjp(realified)(z)[0](u)

        def derivative_value(z):
            return np.asarray(first_derivative(np.asarray(z, dtype=np.float64)), dtype=np.float64).ravel()

        return LocalProblem(z0=z0, value=derivative_value, eps=np.full(z0.size, EPS["float64"]), inputs=inputs,
                            outputs=numbered("y'", [o.shape for o in inputs], [o.complex for o in inputs]),
                            reverse=lambda cotangents: _reverse_through(first_derivative, z0, cotangents))
    return LocalProblem(z0=z0, value=value, eps=eps, inputs=inputs, outputs=numbered("y", out_shapes, complex_outs),
                        reverse=reverse)
