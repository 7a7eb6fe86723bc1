"""The driver: walks each function reachable from the roots once per context, and hands every
node to the rule families.

Calls into functions, classes and methods defined in the same file are followed with what the
caller passes, so ``acc = Accu(1.0); acc(x)`` reaches ``Accu.__call__`` with a ``self`` created in
the call, and ``ACC(x)`` with a ``self`` that outlives it. A function is walked again only when it
is reached in a new context (other argument facts, another enclosing call, under ``jit`` or not).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import TargetError
from .checkers import FAMILIES, CustomRules
from .checkers.base import CallSite
from .dataflow import FRESH, UNKNOWN_INPUT, Origin, Scope, Value, argument, walk_scope
from .facts import FunctionNode, ModuleFacts, all_args, defaults, is_shared_default, is_static, positional_args


@dataclass(frozen=True)
class RawFinding:
    """A finding before noqa and before it is given a path and a severity."""

    code: str
    line: int
    col: int  # from 1
    message: str
    explains: tuple[str, ...] = ()


class Linter:
    """The findings of one module, collected over every function walk."""

    def __init__(self, module: ModuleFacts, judged_as: Callable[[str], str | None]):
        self.module = module
        # judged_as(name): what the code reached from the module-level ``name`` is written for
        # ("autograd", "jax", "torch"; None: plain numpy).
        self.judged_as = judged_as
        self.framework = module.framework  # the current root's
        self.findings: dict[tuple[str, int, int], RawFinding] = {}
        self.seen: set[tuple] = set()
        self.skipped: list[str] = []  # functions whose code nests too deeply for the walk (``lint_function``)
        self.custom_rules = CustomRules(module, self.report)

    def report(self, code: str, node: ast.AST, message: str, explains: tuple[str, ...] = ()) -> None:
        """Keep the first finding of a code at a place: later contexts only repeat it."""
        key = (code, node.lineno, node.col_offset + 1)
        self.findings.setdefault(key, RawFinding(code, node.lineno, node.col_offset + 1, message, explains))

    def reached(self, name: str) -> None:
        """The analysis reached a module-level name: report the derivative rule it has, if any."""
        self.custom_rules.reached(name)

    # --- roots ---
    def lint_module(self) -> None:
        """Every function and method of the module, as the entry point of a call."""
        module = self.module
        for node in module.functions.values():
            self.framework = self.judged_as(node.name)
            self.lint_function(node)
        for name, info in module.classes.items():
            self.framework = self.judged_as(name)
            for method in info.methods.values():
                if is_static(method):
                    self.lint_function(method, cls=name)
                else:
                    origin = Origin.FRESH if method.name == "__init__" else Origin.UNKNOWN
                    self.lint_function(method, Value(origin, cls=name), cls=name)
        for name, wrapper in module.wrappers.items():
            if wrapper.jit and not wrapper.torch_apply:  # a class's forward is walked as a method above
                self.framework = self.judged_as(name)
                self.lint_function(module.functions[wrapper.target], jitted=True)
        self.custom_rules.reach_all()

    def lint_target(self, function: str, path: str) -> None:
        """The code reachable from ``function``: a function, ``Class``, ``Class.method``, ``instance``,
        ``instance.method`` or a wrapper such as ``g = jax.jit(f)``."""
        module = self.module
        parts = function.split(".")
        head = parts[0]
        self.framework = self.judged_as(head)
        if len(parts) == 1:
            if head in module.functions:
                self.lint_function(module.functions[head])
                return
            if head in module.wrappers:
                self._lint_wrapper(head)
                return
            if head in module.instances:
                cls = module.instances[head]
                method = module.classes[cls].methods.get("__call__")
                if method is not None:
                    self.lint_function(method, _module_instance(cls, head), cls=cls)
                    return
            if head in module.classes:
                method = module.classes[head].methods.get("__init__")
                if method is not None:
                    self.lint_function(method, Value(cls=head), cls=head)
                self.reached(head)
                return
        elif len(parts) == 2:
            owner, name = parts
            if owner in module.classes and name in module.classes[owner].methods:
                method = module.classes[owner].methods[name]
                self_value = None if is_static(method) else \
                    Value(Origin.ARGUMENT, tainted=True, cls=owner, note="argument `self`")
                self.lint_function(method, self_value, cls=owner)
                return
            if owner in module.instances:
                cls = module.instances[owner]
                method = module.classes[cls].methods.get(name)
                if method is not None:
                    self.lint_function(method, None if is_static(method) else _module_instance(cls, owner), cls=cls)
                    return
        raise TargetError(f"{path}: no function {function!r} to lint")

    def _lint_wrapper(self, name: str) -> None:
        module = self.module
        wrapper = module.wrappers[name]
        self.reached(name)
        self.reached(wrapper.target)
        if wrapper.torch_apply:
            forward = module.classes[wrapper.target].methods.get("forward")
            if forward is not None:
                self.lint_function(forward, None if is_static(forward) else FRESH, cls=wrapper.target)
        else:
            self.lint_function(module.functions[wrapper.target], jitted=wrapper.jit)

    def lint_function(self, function: FunctionNode, self_value: Value | None = None, *, jitted: bool = False,
                      cls: str | None = None) -> None:
        """``function`` as the entry point of a call: its parameters bound to the inputs.

        An expression nested deeper than the walk's stack allows (a generated 1200-term sum) stops
        the walk of this function only: it is named in ``skipped``, the findings made so far stay,
        and the other functions are linted as usual."""
        try:
            self.analyze(function, _root_params(function, self_value), None, True, jitted, cls)
        except RecursionError:
            name = f"{cls}.{function.name}" if cls else function.name
            if name not in self.skipped:
                self.skipped.append(name)

    def analyze(self, function: FunctionNode, params: dict[str, Value], parent: Scope | None, in_call: bool,
                jitted: bool, cls: str | None) -> None:
        """Walk ``function`` with these parameter facts, unless it was walked in the same context."""
        jitted = jitted or self.module.is_jitted(function)
        # The parent's context, not the parent object: two walks of the same enclosing call give its
        # nested functions the same closure.
        context = (id(function), tuple(sorted(params.items())), parent.context if parent else None, in_call, jitted,
                   self.framework)
        if context in self.seen:
            return
        self.seen.add(context)
        scope = Scope(self.module, function, params, parent, in_call, context)
        if parent is None and cls is None:
            self.reached(function.name)
        FunctionWalk(self, scope, jitted).run(function)


def _module_instance(cls: str, name: str) -> Value:
    return Value(Origin.OUTLIVING, cls=cls, note=f"module-level instance `{name}`")


def _root_params(function: FunctionNode, self_value: Value | None) -> dict[str, Value]:
    """The parameters of an entry point: inputs, except ``self`` and defaults."""
    found = defaults(function.args)
    positional = positional_args(function.args)
    params = {}
    for index, arg in enumerate(all_args(function.args)):
        name = arg.arg
        if index == 0 and self_value is not None and arg in positional:
            params[name] = self_value
        elif name in found:
            if is_shared_default(found[name]):
                params[name] = Value(Origin.OUTLIVING, note=f"default argument `{name}`")
            else:
                params[name] = Value(Origin.ARGUMENT, note=f"argument `{name}`")
        else:
            params[name] = argument(name)
    return params


def _unknown_params(function: FunctionNode) -> dict[str, Value]:
    """A function passed along (to ``map``, ``lax.scan``, ``vmap``...) or nested: called with unknown inputs."""
    return {a.arg: UNKNOWN_INPUT for a in all_args(function.args)}


class FunctionWalk:
    """One function's own code in one context: every node to every family, then calls followed."""

    def __init__(self, linter: Linter, scope: Scope, jitted: bool):
        self.linter = linter
        self.scope = scope
        self.module = scope.module
        self.jitted = jitted
        self.checkers = [family(scope, jitted, linter.report, linter.framework) for family in FAMILIES]
        self.called: set[int] = set()  # ids of Name nodes in call position

    def run(self, function: FunctionNode) -> None:
        for checker in self.checkers:
            checker.on_function(function)
        for statement in self.scope.body:
            for node in walk_scope(statement):
                self.visit(node)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A nested function: checked with the enclosing call's names as its closure.
            self.linter.analyze(node, _unknown_params(node), self.scope, True, self.jitted, None)
        elif isinstance(node, (ast.Assign, ast.Delete)):
            for target in node.targets:
                self._each("on_store", target, False)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            self._each("on_store", node.target, isinstance(node, ast.AugAssign))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._each("on_store", node.target, False)
            if isinstance(node, ast.comprehension):
                for test in node.ifs:
                    self._each("on_branch", test)
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
            self._each("on_branch", node.test)
        elif isinstance(node, ast.Call):
            site = CallSite.resolve(node, self.scope)
            if site.receiver is not None:
                self._each("on_method_call", site)
            self._each("on_call", site)
            self.follow(node)
        elif isinstance(node, ast.BinOp):
            self._each("on_binop", node)
        elif isinstance(node, ast.Compare):
            self._each("on_compare", node)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            self._each("on_attribute", node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            self._each("on_name", node)
            self.follow_reference(node)
        # A lambda's body is walked as part of this function; its arguments are "input" locals.

    def _each(self, hook: str, *args) -> None:
        for checker in self.checkers:
            getattr(checker, hook)(*args)

    # --- following the file's own functions ---
    def follow_reference(self, node: ast.Name) -> None:
        """A function named but not called here (passed to map, lax.scan, vmap...): walked with unknown inputs."""
        if id(node) in self.called:
            return
        inner = self.scope.lookup_scope(node.id)
        if inner is not None:
            if node.id in inner.nested:
                nested = inner.nested[node.id]
                self.linter.analyze(nested, _unknown_params(nested), inner, True, self.jitted, None)
            return
        if node.id in self.module.functions:
            function = self.module.functions[node.id]
            self.linter.reached(node.id)
            self.linter.analyze(function, _unknown_params(function), None, True, self.jitted, None)

    def follow(self, call: ast.Call) -> None:
        """A call into the file: the callee walked with the facts of what this call passes."""
        func = call.func
        if isinstance(func, ast.Name):
            self.called.add(id(func))
            self._follow_name(func.id, call)
        elif isinstance(func, ast.Attribute):
            self._follow_attribute(func, call)

    def _follow_name(self, name: str, call: ast.Call) -> None:
        linter, module = self.linter, self.module
        owner = self.scope.lookup_scope(name)
        if owner is not None:
            if name in owner.nested:
                nested = owner.nested[name]
                linter.analyze(nested, self.bind(nested, call), owner, True, self.jitted, None)
                return
            value = owner.values.get(name)
            if value is not None and value.cls:
                self.call_method(value.cls, "__call__", value, call)
            return
        if name in module.functions:
            linter.reached(name)
            linter.analyze(module.functions[name], self.bind(module.functions[name], call), None, True,
                           self.jitted, None)
        elif name in module.classes:
            linter.reached(name)
            self.call_method(name, "__init__", Value(cls=name, note=f"a new `{name}`"), call)
        elif name in module.instances:
            self.call_method(module.instances[name], "__call__", self.scope.module_value(name), call)
        elif name in module.wrappers:
            wrapper = module.wrappers[name]
            linter.reached(name)
            linter.reached(wrapper.target)
            if wrapper.torch_apply:
                self.call_method(wrapper.target, "forward", None, call, prepend=FRESH)
            else:
                function = module.functions[wrapper.target]
                linter.analyze(function, self.bind(function, call), None, True, self.jitted or wrapper.jit, None)

    def _follow_attribute(self, func: ast.Attribute, call: ast.Call) -> None:
        module = self.module
        base = func.value
        if isinstance(base, ast.Name) and base.id in module.classes and self.scope.lookup_scope(base.id) is None:
            info = module.classes[base.id]
            if func.attr == "apply" and info.torch_function:
                self.linter.reached(base.id)
                self.call_method(base.id, "forward", None, call, prepend=FRESH)
            elif func.attr in info.methods:
                method = info.methods[func.attr]
                self.linter.analyze(method, self.bind(method, call), None, True, self.jitted, base.id)
            return
        receiver = self.scope.value(base)
        if receiver.cls and receiver.cls in module.classes and func.attr in module.classes[receiver.cls].methods:
            self.call_method(receiver.cls, func.attr, receiver, call)

    def call_method(self, cls: str, method_name: str, self_value: Value | None, call: ast.Call,
                    prepend: Value | None = None) -> None:
        info = self.module.classes.get(cls)
        if info is None or method_name not in info.methods:
            return
        method = info.methods[method_name]
        if is_static(method):
            self_value = prepend
        self.linter.analyze(method, self.bind(method, call, self_value), None, True, self.jitted, cls)

    def bind(self, function: FunctionNode, call: ast.Call, self_value: Value | None = None) -> dict[str, Value]:
        """The callee's parameters as this call binds them."""
        scope = self.scope
        positional = [a.arg for a in positional_args(function.args)]
        found = defaults(function.args)
        params: dict[str, Value] = {}
        index = 0
        if self_value is not None and positional:
            params[positional[0]] = self_value
            index = 1
        rest = FRESH  # what lands in *args / **kwargs, or in parameters a starred argument fills
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                rest = rest.join(scope.value(arg.value))
                continue
            if index < len(positional):
                params[positional[index]] = scope.value(arg)
            else:
                rest = rest.join(scope.value(arg))
            index += 1
        for keyword in call.keywords:
            if keyword.arg is None:
                rest = rest.join(scope.value(keyword.value))
            else:
                params[keyword.arg] = scope.value(keyword.value)
        for arg in all_args(function.args):
            if arg.arg in params:
                continue
            if arg is function.args.vararg or arg is function.args.kwarg:
                params[arg.arg] = Value(rest.origin, rest.tainted)
            elif arg.arg in found:
                shared = is_shared_default(found[arg.arg])
                params[arg.arg] = Value(Origin.OUTLIVING, note=f"default argument `{arg.arg}`") if shared else FRESH
            else:
                params[arg.arg] = Value(rest.origin, rest.tainted, rest.array, None, rest.note)
        return params
