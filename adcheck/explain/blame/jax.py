"""JAX: replay the function's jaxpr equation by equation and check each equation's rule alone.

``jax.make_jaxpr`` gives the program as JAX differentiates it. Each equation is re-bound on its own
(``primitive.bind`` with the equation's parameters), so its local function is exactly what the
program applied and its rule exactly what ``jax.jvp``/``jax.vjp`` apply to it: the JVP rule in
forward mode, the JVP rule and its transpose in reverse mode, the user's function for
``custom_jvp``/``custom_vjp``. Units come first: a ``custom_jvp_call``/``custom_vjp_call`` is one
rule (the user's or a library's); a ``jit`` call, ``cond``, ``scan``, ``while`` or ``remat`` is
checked whole and, if it is wrong, equation by equation inside (the taken branch, each iteration).

Values: every equation is judged at the operands of the undifferentiated program, which no rule
can have spoilt. Directions: the same program evaluated a small step either side of the input,
recording every equation's operands (see ``local``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from ...backends import jax_backend
from ...backends.calling import describe_exception
from ...complex_numbers import real_view
from .local import LocalProblem, Operand, numbered, output_eps, pieces
from .program import (
    Application,
    ReplayError,
    Rule,
    Site,
    called_function,
    is_user,
    library_rule,
    parse_source_info,
    program_moves,
    user_root,
    version_of,
)

# Equations whose "rule" is by design not the derivative of their values.
INTENTIONAL = frozenset({"stop_gradient"})
# Equations that call a sub-program: checked as a unit, then inside.
CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat2", "checkpoint", "custom_lin"})
CUSTOM = {"custom_jvp_call": "custom_jvp", "custom_vjp_call": "custom_vjp"}
# Public modules a primitive may be reached through, for naming it as the user wrote it.
PUBLIC_MODULES = ("jax.numpy", "jax.nn", "jax.scipy.special", "jax.numpy.linalg", "jax.scipy.linalg",
                  "jax.lax", "jax.random", "jax.scipy.stats.norm", "jax.numpy.fft")


def record(task) -> list[Application]:
    """The top-level applications of derivative rules, in program order."""
    from ...frameworks import configure_jax

    configure_jax(task.device)  # where the backend computed
    import jax
    import jax.numpy as jnp

    flat_function = jax_backend.build_flat_function(task)
    x0 = task.arguments.flat().astype(np.float64)
    try:
        closed = jax.make_jaxpr(flat_function)(jnp.asarray(x0))
    except jax.errors.ConcretizationTypeError as exc:
        raise ReplayError("JAX cannot trace the function to a jaxpr, which the check replays: it branches on "
                          f"the values of its inputs in Python ({describe_exception(exc)})") from None
    moves, step = program_moves(x0)
    base = _Evaluation(closed, jnp.asarray(x0))
    shifted = [(_Evaluation(closed, jnp.asarray(x0 + step * m)), _Evaluation(closed, jnp.asarray(x0 - step * m)))
               for m in moves]
    context = _Context(task, user_root(task), base, shifted, 2 * step, task.backend == "jax-fwd")
    return context.applications(closed.jaxpr, (), parent_site=None)



# --- evaluating the program, recording every equation ----------------------------------------------


def _inexact(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def _differentiable(dtype) -> bool:
    """Real or complex floating point (a complex operand is checked as its parts)."""
    return np.issubdtype(np.dtype(dtype), np.inexact)


def _bind(eqn, invals):
    params = eqn.primitive.get_bind_params(eqn.params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*invals, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


class _Evaluation:
    """The program evaluated once, equation by equation; sub-programs on request. Values by path."""

    def __init__(self, closed, x):
        self.values: dict[tuple, tuple[list, list]] = {}
        self.active: dict[tuple, list[bool]] = {}
        self._run(closed.jaxpr, closed.consts, [x], (), [True])

    def _run(self, jaxpr, consts, args, path, active_args) -> list:
        """Evaluate ``jaxpr``, recording each equation under ``path + (index,)``; its outputs."""
        from jax.extend.core import Literal

        env, active = {}, {}

        def read(v):
            return v.val if isinstance(v, Literal) else env[v]

        for v, c in zip(jaxpr.constvars, consts):
            env[v], active[v] = c, False
        for v, a, act in zip(jaxpr.invars, args, active_args):
            env[v], active[v] = a, act
        for i, eqn in enumerate(jaxpr.eqns):
            invals = [read(v) for v in eqn.invars]
            in_active = [not isinstance(v, Literal) and active.get(v, False) for v in eqn.invars]
            outvals = _bind(eqn, invals)
            self.values[path + (i,)] = (invals, outvals)
            self.active[path + (i,)] = in_active
            out_active = any(in_active) and eqn.primitive.name not in INTENTIONAL
            for v, o in zip(eqn.outvars, outvals):
                env[v], active[v] = o, out_active
        return [read(v) for v in jaxpr.outvars]

    def sub_runs(self, eqn, path) -> list[tuple]:
        """Evaluate what a unit runs inside; [(sub path, jaxpr)] in program order."""
        if path not in self.values:
            return []
        invals, _ = self.values[path]
        in_active = self.active[path]
        name = eqn.primitive.name
        params = eqn.params
        runs = []
        if name in CALLS:
            inner = params.get("jaxpr", params.get("call_jaxpr"))
            jaxpr, consts = (inner.jaxpr, inner.consts) if hasattr(inner, "consts") else (inner, ())
            self._run(jaxpr, consts, invals, path + ("in",), in_active)
            runs.append((path + ("in",), jaxpr))
        elif name == "cond":
            index = int(np.asarray(invals[0]))
            branch = params["branches"][index]
            self._run(branch.jaxpr, branch.consts, invals[1:], path + ("branch", index), in_active[1:])
            runs.append((path + ("branch", index), branch.jaxpr))
        elif name == "scan":
            runs += self._scan(eqn, invals, in_active, path)
        elif name == "while":
            runs += self._while(eqn, invals, in_active, path)
        return runs

    def _scan(self, eqn, invals, in_active, path):
        p = eqn.params
        body, n_consts, n_carry = p["jaxpr"], p["num_consts"], p["num_carry"]
        consts, carry, xs = invals[:n_consts], invals[n_consts:n_consts + n_carry], invals[n_consts + n_carry:]
        consts_active = in_active[:n_consts]
        any_active = any(in_active)
        carry_active = [any_active] * n_carry  # a carry becomes active once anything active reaches it
        xs_active = in_active[n_consts + n_carry:]
        order = range(p["length"] - 1, -1, -1) if p["reverse"] else range(p["length"])
        runs = []
        for i in order:
            sub = path + ("iteration", i)
            outs = self._run(body.jaxpr, body.consts, consts + carry + [x[i] for x in xs], sub,
                             consts_active + carry_active + xs_active)
            carry = outs[:n_carry]
            runs.append((sub, body.jaxpr))
        return runs

    def _while(self, eqn, invals, in_active, path, limit: int = 1000):
        p = eqn.params
        cond, body = p["cond_jaxpr"], p["body_jaxpr"]
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        cond_consts, body_consts, carry = invals[:nc], invals[nc:nc + nb], invals[nc + nb:]
        active = [any(in_active)] * len(carry)
        runs = []
        for i in range(limit):
            keep = _eval_closed(cond, cond_consts + carry)[0]
            if not bool(np.asarray(keep)):
                break
            sub = path + ("iteration", i)
            carry = self._run(body.jaxpr, body.consts, body_consts + carry, sub, in_active[nc:nc + nb] + active)
            runs.append((sub, body.jaxpr))
        return runs


def _eval_closed(closed, args):
    from jax.extend.core import jaxpr_as_fun

    return jaxpr_as_fun(closed)(*args)


# --- applications ---------------------------------------------------------------------------------


@dataclasses.dataclass
class _Context:
    task: object
    root: object
    base: _Evaluation
    shifted: list
    step: float  # the distance between the two shifted evaluations, per unit direction
    forward: bool

    def applications(self, jaxpr, path, parent_site) -> list[Application]:
        found = []
        for i, eqn in enumerate(jaxpr.eqns):
            here = path + (i,)
            if here not in self.base.values:
                continue
            invals, _ = self.base.values[here]
            in_active = self.base.active[here]
            positions = [k for k, (v, act) in enumerate(zip(invals, in_active))
                         if act and _differentiable(getattr(v, "dtype", np.float64)) and np.size(v) > 0]
            float_outs = [k for k, v in enumerate(eqn.outvars) if _differentiable(v.aval.dtype)]
            if not positions or not float_outs or eqn.primitive.name in INTENTIONAL:
                continue
            found.append(self._application(eqn, here, positions, float_outs, parent_site))
        return found

    def _application(self, eqn, path, positions, float_outs, parent_site) -> Application:
        frames = _frames(eqn)
        rule = _rule(eqn, frames, self.root)
        site = _site(frames, self.root, parent_site, _call_name(eqn, frames, self.root))
        invals, _ = self.base.values[path]
        build = functools.partial(_problem, eqn, invals, positions, float_outs, self.forward)
        name = eqn.primitive.name
        children = None
        if name in CALLS or name in ("cond", "scan", "while"):
            children = functools.partial(self._children, eqn, path, site)
        report_unit = name not in ("cond", "scan", "while") and not rule.user
        return Application(
            rule=rule, site=site, problem=lambda: build(order=1), second=lambda: build(order=2),
            directions=functools.partial(self._directions, path, positions),
            children=children, report_unit=report_unit)

    def _children(self, eqn, path, site) -> list[Application]:
        runs = self.base.sub_runs(eqn, path)
        for plus, minus in self.shifted:
            plus.sub_runs(eqn, path)
            minus.sub_runs(eqn, path)
        found = []
        for sub, jaxpr in runs:
            found += self.applications(jaxpr, sub, site)
        return found

    def _directions(self, path, positions) -> np.ndarray:
        columns = []
        for plus, minus in self.shifted:
            if path not in plus.values or path not in minus.values:
                continue
            up, down = plus.values[path][0], minus.values[path][0]
            try:
                column = np.concatenate([_real_parts(up[p]) - _real_parts(down[p]) for p in positions]) / self.step
            except (ValueError, TypeError):
                continue
            columns.append(column)
        invals = self.base.values[path][0]
        size = sum(int(np.size(invals[p])) * (2 if np.iscomplexobj(invals[p]) else 1) for p in positions)
        if not columns:
            return np.zeros((size, 1))
        return np.stack(columns, axis=1)


def _operand_names(eqn, positions) -> tuple[str, ...]:
    names = None
    if eqn.primitive.name in CUSTOM:
        info = eqn.params["call_jaxpr"].jaxpr.debug_info
        names = getattr(info, "arg_names", None)
    if names and len(names) == len(eqn.invars):
        return tuple(str(names[p]) for p in positions)
    if len(positions) == 1:
        return ("x",)
    return tuple(f"x{p + 1}" for p in positions)


# --- the local problem ------------------------------------------------------------------------------


def _problem(eqn, invals, positions, float_outs, forward: bool, order: int = 1) -> LocalProblem | None:
    import jax
    import jax.numpy as jnp

    # A complex operand is checked as its real and imaginary parts, (..., 2) real, and a complex
    # output as its parts likewise: the rule runs on complex numbers as in the program, and the
    # check is of a real function, whatever JAX's convention (adcheck.complex_numbers). At order 2
    # the rule's derivative is that real function's, so complex operands need nothing more.
    complex_at = {p for p in positions if np.iscomplexobj(invals[p])}
    complex_outs = [np.issubdtype(np.dtype(eqn.outvars[k].aval.dtype), np.complexfloating) for k in float_outs]
    shapes = [tuple(np.shape(invals[p])) + ((2,) if p in complex_at else ()) for p in positions]
    dtypes = [np.dtype(np.real(invals[p]).dtype) for p in positions]
    z0 = np.concatenate([_real_parts(invals[p]) for p in positions])
    call = _rule_call(eqn, invals, positions, float_outs, complex_at, complex_outs)
    function = call if order == 1 else _derivative_of(call, z0, dtypes, shapes, forward)
    if function is None:
        return None

    def split(z, dtype_of=None):
        return [jnp.asarray(piece, dtype=dtype_of or dtype) for piece, dtype in zip(pieces(z, shapes), dtypes)]

    primal_outs = function(*split(z0))
    out_shapes = [tuple(np.shape(o)) for o in primal_outs]
    out_dtypes = [np.dtype(o.dtype) for o in primal_outs]
    if not all(_inexact(d) for d in out_dtypes):
        return None
    products = _Products(function, split, z0, shapes, out_shapes, out_dtypes)
    names = _operand_names(eqn, positions)
    complex_step = order == 1 and _plain(eqn) and not complex_at and not any(complex_outs)
    return LocalProblem(
        z0=z0, value=lambda z: _flat(jax.device_get(function(*split(z)))),
        eps=output_eps([(d.name, int(np.prod(s)) if s else 1) for s, d in zip(out_shapes, out_dtypes)]),
        inputs=tuple(Operand(n, s, p in complex_at) for n, s, p in zip(names, shapes, positions)),
        # The rule's derivative at order 2 is output-shaped forward (J 1), operand-shaped in reverse (J^T 1).
        outputs=numbered("y" if order == 1 else "y'", out_shapes,
                         complex_outs if order == 1 or forward else [p in complex_at for p in positions]),
        forward=products.forward if forward else None, reverse=None if forward else products.reverse,
        complex_value=_complex_value(eqn, invals, positions, float_outs, split) if complex_step else None)


def _rule_call(eqn, invals, positions, float_outs, complex_at, complex_outs) -> Callable:
    """The equation alone as a function of its differentiable operands (a complex one as its
    parts, (..., 2) real), returning its inexact outputs (a complex one as its parts)."""
    import jax
    import jax.numpy as jnp

    def call(*diff):
        args = list(invals)
        for p, d in zip(positions, diff):
            args[p] = jax.lax.complex(d[..., 0], d[..., 1]) if p in complex_at else d
        outs = _bind(eqn, args)
        return [jnp.stack([jnp.real(outs[k]), jnp.imag(outs[k])], axis=-1) if is_complex else outs[k]
                for k, is_complex in zip(float_outs, complex_outs)]

    return call


def _complex_value(eqn, invals, positions, float_outs, split) -> Callable:
    """The equation on complex operands, flat in and flat out: the complex step's function."""
    import jax
    import jax.numpy as jnp

    def complex_value(z):
        args = [jnp.asarray(a, dtype=jnp.complex128) if _inexact(getattr(a, "dtype", np.int64)) else a for a in invals]
        for p, d in zip(positions, split(z, jnp.complex128)):
            args[p] = d
        outs = _bind(eqn, args)
        return np.concatenate([np.asarray(o).ravel() for o in jax.device_get([outs[k] for k in float_outs])])

    return complex_value


@dataclasses.dataclass
class _Products:
    """The rule's products at ``z0``: ``J D`` by ``jax.jvp``, ``U^T J`` by one ``jax.vjp`` whose
    pullback is kept for every cotangent."""

    function: Callable
    split: Callable  # flat operands -> the operands, shaped and typed
    z0: np.ndarray
    shapes: list
    out_shapes: list
    out_dtypes: list
    pullback: Callable | None = None

    def forward(self, directions: np.ndarray) -> np.ndarray:
        import jax

        primals = self.split(self.z0)
        columns = []
        for k in range(directions.shape[1]):
            _, tangents = jax.jvp(lambda *d: self.function(*d), primals, self.split(directions[:, k]))
            columns.append(_flat(jax.device_get(tangents)))
        return np.stack(columns, axis=1)

    def reverse(self, cotangents: np.ndarray) -> np.ndarray:
        import jax
        import jax.numpy as jnp

        if self.pullback is None:
            self.pullback = jax.vjp(lambda *d: self.function(*d), *self.split(self.z0))[1]
        rows = []
        for q in range(cotangents.shape[1]):
            grads = self.pullback([jnp.asarray(piece, dtype=dtype) for piece, dtype
                                   in zip(pieces(cotangents[:, q], self.out_shapes), self.out_dtypes)])
            rows.append(np.concatenate([np.asarray(_zero_if_none(g, s), dtype=np.float64).ravel()
                                        for g, s in zip(grads, self.shapes)]))
        return np.stack(rows)


def _flat(outs) -> np.ndarray:
    return np.concatenate([np.asarray(o, dtype=np.float64).ravel() for o in outs]) if outs else np.zeros(0)


def _real_parts(value) -> np.ndarray:
    """An operand's values, flat, as float64: a complex one's real and imaginary parts side by side."""
    value = np.asarray(value)
    return real_view(value).astype(np.float64) if np.iscomplexobj(value) else value.astype(np.float64).ravel()


def _plain(eqn) -> bool:
    """A primitive that takes any dtype (not a unit whose sub-program fixes its operands' types)."""
    name = eqn.primitive.name
    return name not in CALLS and name not in CUSTOM and name not in ("cond", "scan", "while")


def _zero_if_none(gradient, shape):
    if gradient is None or getattr(gradient, "dtype", None) == np.dtype([("float0", "V")]):
        return np.zeros(shape)
    try:
        return np.asarray(gradient)
    except Exception:  # noqa: BLE001 - float0 and other symbolic zeros
        return np.zeros(shape)


def _derivative_of(call, z0, dtypes, shapes, forward):
    """The rule's first derivative as a function of the operands: ``J(z) 1`` (forward mode) or
    ``J(z)^T 1`` (reverse mode); for an elementwise rule, the slope at each entry. ``call`` takes
    the operands as real arrays (a complex one as its parts, shape (..., 2)), ``z0`` flat."""
    import jax
    import jax.numpy as jnp

    if forward:
        tangents = [jnp.ones(s, dtype=d) for s, d in zip(shapes, dtypes)]

        def first(*diff):
            return list(jax.jvp(lambda *a: call(*a), list(diff), tangents)[1])

        return first
    example = call(*[jnp.asarray(piece, dtype=dtype) for piece, dtype in zip(pieces(z0, shapes), dtypes)])
    cotangents = [jnp.ones(np.shape(o), dtype=o.dtype) for o in example]

    def first(*diff):
        grads = jax.vjp(lambda *a: call(*a), *diff)[1](cotangents)
        return [jnp.zeros(s, dtype=d) if g is None else g for g, s, d in zip(grads, shapes, dtypes)]

    return first


# --- who wrote the rule, where it was called ---------------------------------------------------------


def _frames(eqn) -> list[tuple[str, int, str, int]]:
    traceback = getattr(eqn.source_info, "traceback", None)
    if traceback is None:
        return []
    try:
        return [(f.file_name, int(f.line_num), f.function_name) for f in traceback.frames]
    except Exception:  # noqa: BLE001
        return []


def _site(frames, root, parent_site: Site | None, called: str | None = None) -> Site | None:
    """The innermost frame in the user's files. Inside a unit, equations traced once and cached
    carry the first call's stack; the unit's own call site is used unless the equation's user
    frame is deeper inside user code (the body of the user's own jitted function)."""
    found = None
    for filename, line, function in frames:
        if is_user(filename, root):
            found = Site(filename, line, _call_column(filename, line, called), function.split(".")[-1])
            break
    if parent_site is None:
        return found
    if found is None or found.function == parent_site.function:
        return parent_site
    return found


def _call_name(eqn, frames, root) -> str | None:
    """The name the user's line calls the rule by, to find its column: the custom or jitted
    function's name, or the library function the line called."""
    if eqn.primitive.name in CUSTOM:
        info = parse_source_info(getattr(eqn.params["call_jaxpr"].jaxpr.debug_info, "func_src_info", None))
        return info[0].split(".")[-1] if info else None
    if eqn.primitive.name in CALLS:
        return eqn.params.get("name")
    called = called_function(frames, root)
    return called[1].split(".")[-1] if called else None


def _call_column(filename: str, line: int, name: str | None) -> int:
    import linecache

    text = linecache.getline(filename, line)
    if not text:
        return 1
    if name:
        at = text.find(name + "(")
        if at >= 0:
            while at > 0 and (text[at - 1].isidentifier() or text[at - 1].isdigit() or text[at - 1] == "."):
                at -= 1  # the whole dotted name: jnp.sinc, not sinc
            return at + 1
    return len(text) - len(text.lstrip()) + 1


def _rule(eqn, frames, root) -> Rule:
    import jax

    name = eqn.primitive.name
    jax_version = version_of("jax") or jax.__version__
    if name in CUSTOM:
        kind = CUSTOM[name]
        rule_fun = eqn.params.get("jvp_jaxpr_fun") if kind == "custom_jvp" else eqn.params.get("bwd")
        rule_info = parse_source_info(getattr(getattr(rule_fun, "debug_info", None), "func_src_info", None))
        fun_info = parse_source_info(getattr(eqn.params["call_jaxpr"].jaxpr.debug_info, "func_src_info", None))
        label = fun_info[0] if fun_info else eqn.params.get("name", name)
        path = (rule_info or fun_info or (None, None, 0))[1]
        line = (rule_info or fun_info or (None, None, 0))[2]
        function = rule_info[0] if rule_info else ""
        if is_user(path, root):
            return Rule(label, True, kind=kind, definition=(path, line), function=function)
        public = _public_name(fun_info[1], fun_info[0]) if fun_info else None
        return library_rule(public or label, path, kind, function, line, default_library="jax")
    if name in CALLS:
        inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
        jaxpr = getattr(inner, "jaxpr", inner)
        info = parse_source_info(getattr(getattr(jaxpr, "debug_info", None), "func_src_info", None))
        label = eqn.params.get("name") or (info[0] if info else name)
        if info and is_user(info[1], root):
            return Rule(label, True, kind="jit", definition=(info[1], info[2]), function=info[0])
        public = _public_name(info[1], info[0]) if info else None
        return library_rule(public or label, info[1] if info else None, "jit", default_library="jax",
                            line=info[2] if info else 0)
    public = None
    called = called_function(frames, root)
    if called is not None:
        public = _public_name(*called)
    label = f"{public} (primitive `{name}`)" if public and public.rsplit(".", 1)[-1] != name else (
        public or f"the jax primitive `{name}`")
    return Rule(label, False, "jax", jax_version, "primitive")


@functools.lru_cache(maxsize=1024)
def _public_name(path: str | None, function: str) -> str | None:
    """``jax.numpy.sinc`` for the function defined at ``path`` named ``function``, when a public
    module exports it."""
    import importlib
    import inspect

    if not path or not function:
        return None
    function = function.split(".")[-1]
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except Exception:  # noqa: BLE001
            continue
        obj = getattr(module, function, None)
        if obj is None:
            continue
        try:
            unwrapped = inspect.unwrap(obj)
            code = getattr(unwrapped, "__code__", None) or getattr(getattr(unwrapped, "fun", None), "__code__", None)
        except Exception:  # noqa: BLE001
            code = None
        if code is not None and code.co_filename == path:
            return f"{module_name}.{function}"
    return None

