"""The data flow: for every name of one function, where its object comes from and what it carries.

A small per-function scope analysis tells, for every name, where the object it is bound to comes
from (created in the call, an argument, or something that outlives the call: a module global, a
default argument, a factory's closure, the ``self`` of a module-level instance) and whether its value
is derived from the inputs.

The analysis is flow-insensitive on purpose (a name's facts are joined over all its assignments):
it is short, predictable, and errs on the side of silence for clean numerical code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum, IntEnum

from .facts import ModuleFacts, all_args
from .names import (
    ALIAS_FUNCTIONS, ALIAS_METHODS, ARRAY_CONSTRUCTORS, BUILTINS, QUERIES, SHAPE_ATTRIBUTES, VALUE_FREE_BUILTINS,
    VIEW_ATTRIBUTES, array_tail,
)

FIXPOINT_ROUNDS = 20  # the lattice is finite and small: a few rounds converge; this only bounds a surprise


class Origin(IntEnum):
    """Where the object a value refers to comes from.

    Ordered from harmless to shared: joining two values keeps the larger, so a name bound once to a
    fresh list and once to a module global is treated as the global.
    """

    FRESH = 0  # created in the call
    UNKNOWN = 1  # cannot tell (a lambda's argument, a name defined nowhere in the file)
    ARGUMENT = 2  # passed in by the caller
    OUTLIVING = 3  # exists before the call and survives it


@dataclass(frozen=True)
class Value:
    """What the analysis knows about the object a name or expression refers to."""

    origin: Origin = Origin.FRESH
    tainted: bool = False  # derived from the inputs
    array: bool = False  # known to be an array (not a Python number, list or dict)
    cls: str | None = None  # an instance of this class of the file
    note: str = field(default="", compare=False)  # how to name it in a message

    def join(self, other: Value) -> Value:
        worse = self if self.origin >= other.origin else other
        return Value(worse.origin, self.tainted or other.tainted, self.array or other.array,
                     self.cls or other.cls, worse.note or self.note or other.note)

    def element(self) -> Value:
        """One element of this container: same origin and taint, not known to be an array."""
        return Value(self.origin, self.tainted, False, None, self.note)


FRESH = Value()
UNKNOWN_INPUT = Value(Origin.UNKNOWN, tainted=True)


def argument(name: str) -> Value:
    """A parameter the caller binds to the differentiated inputs."""
    return Value(Origin.ARGUMENT, tainted=True, array=True, note=f"argument `{name}`")


class BindingKind(Enum):
    VALUE = "value"  # name = expr
    AUGMENTED = "augmented"  # name op= expr
    ITERATION = "iteration"  # for name in expr
    ELEMENT = "element"  # one name of an unpacked binding: a, b = ...
    INPUT = "input"  # a lambda's parameter
    OUTLIVING = "outliving"  # an import inside the function
    FRESH = "fresh"  # def, class, except ... as name


@dataclass(frozen=True)
class Binding:
    """One way a name gets its object."""

    kind: BindingKind
    node: ast.expr | None = None  # VALUE, AUGMENTED, ITERATION: the expression on the right
    unpacked: Binding | None = None  # ELEMENT: the binding being unpacked
    index: int | None = None  # ELEMENT: the position in it (None: a starred target)


class Scope:
    """One function's names for one context: parameters as bound by the caller, locals, closure."""

    def __init__(self, module: ModuleFacts, node: ast.AST, params: dict[str, Value],
                 parent: Scope | None, in_call: bool, context: tuple = ()):
        self.module = module
        self.node = node
        self.params = params
        self.parent = parent
        self.in_call = in_call  # is the enclosing call part of what is checked (False: a factory)
        self.context = context  # identifies this analysis: the function, its bindings, its parent's context
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.bindings: dict[str, list[Binding]] = {}
        self.nested: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        for statement in self.body:
            for sub in walk_scope(statement):
                self._collect(sub)
        self.values: dict[str, Value] = {}
        self._solve()

    @property
    def body(self) -> list[ast.AST]:
        return self.node.body if isinstance(self.node.body, list) else [self.node.body]  # a lambda's body

    def _bind(self, target: ast.expr, binding: Binding) -> None:
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(binding)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for index, elt in enumerate(target.elts):
                self._bind(elt, Binding(BindingKind.ELEMENT, unpacked=binding,
                                        index=None if isinstance(elt, ast.Starred) else index))
        elif isinstance(target, ast.Starred):
            self._bind(target.value, Binding(BindingKind.ELEMENT, unpacked=binding))

    def _bind_name(self, name: str, kind: BindingKind) -> None:
        self.bindings.setdefault(name, []).append(Binding(kind))

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Global):
            self.declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            self.declared_nonlocal.update(node.names)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, Binding(BindingKind.VALUE, node.value))
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            self._bind(node.target, Binding(BindingKind.VALUE, node.value))
        elif isinstance(node, ast.AugAssign):
            self._bind(node.target, Binding(BindingKind.AUGMENTED, node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind(node.target, Binding(BindingKind.ITERATION, node.iter))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, Binding(BindingKind.VALUE, item.context_expr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self._bind_name(node.name, BindingKind.FRESH)
            if not isinstance(node, ast.ClassDef):
                self.nested[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                self._bind_name((alias.asname or alias.name).split(".")[0], BindingKind.OUTLIVING)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self._bind_name(node.name, BindingKind.FRESH)
        elif isinstance(node, ast.Lambda):
            for arg in all_args(node.args):
                self._bind_name(arg.arg, BindingKind.INPUT)

    def _solve(self) -> None:
        names = (set(self.bindings) | set(self.params)) - self.declared_global - self.declared_nonlocal
        self.values = {name: self.params.get(name, FRESH) for name in names}
        for name, value in self._replaced_parameters().items():
            self.values[name] = value
        for _ in range(FIXPOINT_ROUNDS):
            changed = False
            for name, bindings in self.bindings.items():
                if name not in self.values:
                    continue
                value = self.values[name]
                for binding in bindings:
                    value = value.join(self._binding_value(binding))
                if value != self.values[name]:
                    self.values[name] = value
                    changed = True
            if not changed:
                break

    def _replaced_parameters(self) -> dict[str, Value]:
        """Parameters whose caller's object no longer reaches any use: ``xs = list(xs)`` (or
        ``x = x.copy()``, ``np.array(x)``) as the first statement of the body that mentions the
        parameter, unconditionally. From there on the name holds a fresh copy, and mutating it
        changes nothing of the caller's; the copy keeps the parameter's taint."""
        if isinstance(self.node, ast.Lambda):
            return {}
        replaced = {}
        for name in self.params:
            for statement in self.body:
                if not any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(statement)):
                    continue
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                        and isinstance(statement.targets[0], ast.Name) and statement.targets[0].id == name:
                    copied = self.value(statement.value)  # the parameter's own value is still the one bound
                    if copied.origin is Origin.FRESH:
                        replaced[name] = Value(Origin.FRESH, tainted=self.params[name].tainted or copied.tainted,
                                               array=copied.array, cls=copied.cls)
                break
        return replaced

    def _binding_value(self, binding: Binding) -> Value:
        kind = binding.kind
        if kind is BindingKind.VALUE:
            return self.value(binding.node)
        if kind is BindingKind.AUGMENTED:
            return Value(tainted=self.value(binding.node).tainted)
        if kind is BindingKind.ITERATION:
            return self.element(binding.node, None)
        if kind is BindingKind.ELEMENT:
            inner, index = binding.unpacked, binding.index
            if inner.kind is BindingKind.VALUE and isinstance(inner.node, (ast.Tuple, ast.List)) \
                    and index is not None and index < len(inner.node.elts):
                return self.value(inner.node.elts[index])
            if inner.kind is BindingKind.ITERATION:
                return self.element(inner.node, index)
            return self._binding_value(inner).element()
        if kind is BindingKind.INPUT:
            return UNKNOWN_INPUT
        if kind is BindingKind.OUTLIVING:
            return Value(Origin.OUTLIVING)
        return FRESH

    def element(self, iterable: ast.expr, index: int | None) -> Value:
        """The value of one element of ``for target in iterable`` (``index`` in a tuple target)."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and self.is_builtin(iterable.func.id):
            name = iterable.func.id
            if name == "range":
                return FRESH
            if name == "enumerate" and iterable.args:
                return FRESH if index == 0 else self.element(iterable.args[0], None)
            if name == "zip" and iterable.args:
                if index is not None and index < len(iterable.args):
                    return self.element(iterable.args[index], None)
                value = FRESH
                for arg in iterable.args:
                    value = value.join(self.element(arg, None))
                return value
        return self.value(iterable).element()

    def is_builtin(self, name: str) -> bool:
        module = self.module
        return name in BUILTINS and self.lookup_scope(name) is None and name not in module.imports \
            and name not in module.global_values and name not in module.functions

    def lookup_scope(self, name: str) -> Scope | None:
        """The function scope that binds ``name`` (None: module level or builtin)."""
        if name in self.declared_global:
            return None
        if name in self.values and name not in self.declared_nonlocal:
            return self
        return self.parent.lookup_scope(name) if self.parent is not None else None

    def lookup(self, name: str) -> Value:
        scope = self.lookup_scope(name)
        if scope is self:
            return self.values[name]
        if scope is not None:
            value = scope.values[name]
            if self.closure_in_call(scope):
                return value
            return Value(Origin.OUTLIVING, False, value.array, value.cls, f"closure variable `{name}`")
        return self.module_value(name)

    def closure_in_call(self, scope: Scope) -> bool:
        """Is every function between here and ``scope`` part of the call (not a factory that returned)?"""
        current = self
        while current is not scope and current is not None:
            if not current.in_call:
                return False
            current = current.parent
        return True

    def module_value(self, name: str) -> Value:
        module = self.module
        if name in module.instances:
            return Value(Origin.OUTLIVING, cls=module.instances[name], note=f"module-level instance `{name}`")
        if name in module.global_values:
            array = module.is_array_constructor(module.global_values[name])
            return Value(Origin.OUTLIVING, array=array, note=f"module global `{name}`")
        if name in module.functions or name in module.classes or name in module.imports:
            return Value(Origin.OUTLIVING, note=f"`{name}`")
        return Value(Origin.UNKNOWN)

    def value(self, node: ast.AST | None) -> Value:
        """An expression evaluated with the current facts about names."""
        if node is None or isinstance(node, ast.Constant):
            return FRESH
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute_value(node)
        if isinstance(node, ast.Subscript):
            base = self.value(node.value)
            is_view = isinstance(node.slice, ast.Slice) or (
                isinstance(node.slice, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.slice.elts))
            return Value(base.origin, base.tainted, base.array and is_view, None, base.note)
        if isinstance(node, ast.Call):
            return self.call_value(node)
        if isinstance(node, (ast.Starred, ast.NamedExpr)):
            return self.value(node.value)
        if isinstance(node, ast.Lambda):
            return FRESH
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return FRESH
        children = [self.value(child) for child in child_expressions(node)]
        # Arithmetic on an array is a new array (`y = x * 2`): writing into it is an array write.
        array = isinstance(node, (ast.BinOp, ast.UnaryOp)) and any(c.array for c in children)
        return Value(tainted=any(c.tainted for c in children), array=array)

    def _attribute_value(self, node: ast.Attribute) -> Value:
        if node.attr in SHAPE_ATTRIBUTES:
            return FRESH
        if self.module.qualname(node) is not None:
            return Value(Origin.OUTLIVING, note=f"`{ast.unparse(node)}`")
        base = self.value(node.value)
        classes = self.module.classes
        tainted = base.tainted or (base.cls is not None and base.cls in classes
                                   and node.attr in classes[base.cls].input_attributes)
        note = f"`{ast.unparse(node)}` ({base.note})" if base.note else ""
        return Value(base.origin, tainted, base.array and node.attr in VIEW_ATTRIBUTES, None, note)

    def call_value(self, call: ast.Call) -> Value:
        func = call.func
        qual = self.module.qualname(func)
        arguments = [self.value(a) for a in call.args] + [self.value(k.value) for k in call.keywords]
        tainted = any(v.tainted for v in arguments)
        if isinstance(func, ast.Name) and qual is None:
            if self.is_builtin(func.id):
                return FRESH if func.id in VALUE_FREE_BUILTINS else Value(tainted=tainted)
            if func.id in self.module.classes and self.lookup_scope(func.id) is None:
                return Value(tainted=tainted, cls=func.id)
        if isinstance(func, ast.Attribute) and qual is None:
            receiver = self.value(func.value)
            if func.attr in ALIAS_METHODS:
                return Value(receiver.origin, receiver.tainted or tainted, receiver.array, None, receiver.note)
            array = func.attr in ("copy", "astype", "clone") and (receiver.array or receiver.origin is Origin.ARGUMENT)
            return Value(tainted=receiver.tainted or tainted, array=array)
        tail = array_tail(qual)
        if tail in QUERIES:
            return FRESH
        if tail in ALIAS_FUNCTIONS and arguments:
            first = arguments[0]
            return Value(first.origin, first.tainted, True, None, first.note)
        if tail in ARRAY_CONSTRUCTORS:
            return Value(tainted=tainted, array=True)
        return Value(tainted=tainted)

    def tainted(self, node: ast.AST) -> bool:
        return self.value(node).tainted

    def single_assignment(self, name: str) -> ast.expr | None:
        """The one expression a local name is assigned from, if there is exactly one."""
        bindings = self.bindings.get(name, [])
        if len(bindings) == 1 and bindings[0].kind is BindingKind.VALUE and name not in self.params:
            return bindings[0].node
        return None


def child_expressions(node: ast.AST) -> Iterator[ast.AST]:
    """The expressions directly inside ``node`` whose values its value is computed from."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.comprehension):
            yield child.iter
            yield from child.ifs
        elif isinstance(child, (ast.expr, ast.keyword)):
            yield child.value if isinstance(child, ast.keyword) else child


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of one function's own code, parents first: nested functions and classes are
    yielded, not entered."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    for child in ast.iter_child_nodes(node):
        yield from walk_scope(child)
