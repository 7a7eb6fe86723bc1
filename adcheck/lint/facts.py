"""Module facts: what a file imports, defines and registers, read once from its syntax tree.

Every rule family reads these; none of them changes them. Nothing of the user's code is imported
or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from .names import (
    ARRAY_CONSTRUCTORS, AUTOGRAD_PRIMITIVE, CUSTOM_JAX, FRAMEWORK_NAMESPACES, JIT, PARTIAL, TORCH_FUNCTION,
    TORCH_RULE_METHODS, array_tail, last_part,
)

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


class RuleKind(StrEnum):
    """Which framework's mechanism holds a hand-written derivative rule."""

    JAX_VJP = "jax-vjp"
    JAX_JVP = "jax-jvp"
    AUTOGRAD = "autograd"
    TORCH = "torch"


@dataclass
class ClassFacts:
    node: ast.ClassDef
    methods: dict[str, FunctionNode]
    input_attributes: set[str]  # self.X assigned from a method argument
    torch_function: bool  # a torch.autograd.Function subclass


@dataclass
class CustomRule:
    """A hand-written derivative rule: where it is defined and where it is registered."""

    kind: RuleKind
    definitions: list[tuple[ast.AST, str]] = field(default_factory=list)  # (node, how)
    registrations: list[tuple[ast.AST, str, tuple[str, ...]]] = field(default_factory=list)  # (node, how, backends)
    explains: tuple[str, ...] = ()  # the backends that use the rule instead of the code


@dataclass(frozen=True)
class Wrapper:
    """``g = jax.jit(f)`` or ``op = F.apply``: a module global that runs a function or class of the file."""

    target: str
    jit: bool = False
    torch_apply: bool = False  # ``target`` is a torch.autograd.Function class; ``g`` runs its forward


class ModuleFacts:
    """Module-level facts: imports, definitions, globals, custom derivative rules."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.imports = _imports(tree)
        self.framework = self._framework()
        self.functions: dict[str, FunctionNode] = {}
        self.classes: dict[str, ClassFacts] = {}
        self.global_values: dict[str, ast.expr | None] = {}  # name -> its first module-level value
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = self._class_facts(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in target_names(target):
                        self.global_values.setdefault(name, node.value)
        # Module-level instances of the file's classes: name -> class name.
        self.instances = {name: value.func.id for name, value in self.global_values.items()
                          if isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                          and value.func.id in self.classes}
        self.rebound: set[str] = set()  # globals assigned in a function under ``global``
        self.memo_keys: set[str] = set()  # names/attributes some function item-assigns into
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id in declared:
                        self.rebound.add(sub.id)
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                key = _container_key(node.value)
                if key is not None:
                    self.memo_keys.add(key)
        self.wrappers: dict[str, Wrapper] = {}
        for name, value in self.global_values.items():
            wrapper = self._unwrap(value)
            if wrapper is not None:
                self.wrappers[name] = wrapper
        self.customs: dict[str, CustomRule] = {}
        self._collect_customs()

    def qualname(self, node: ast.AST) -> str | None:
        """The dotted name an expression refers to through the imports (``np.sqrt`` -> ``numpy.sqrt``)."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def decorator_qualname(self, node: ast.expr) -> str | None:
        """``@jax.jit``, ``@jax.jit(...)`` and ``@partial(jax.jit, ...)`` all name ``jax.jit``."""
        if isinstance(node, ast.Call):
            qual = self.qualname(node.func)
            if qual in PARTIAL and node.args:
                return self.qualname(node.args[0])
            return qual
        return self.qualname(node)

    def is_jitted(self, function: FunctionNode) -> bool:
        return any(self.decorator_qualname(d) in JIT for d in function.decorator_list)

    def is_array_constructor(self, node: ast.expr | None) -> bool:
        """``np.zeros(3)``, ``torch.tensor(...)``: an expression that builds a new array."""
        if is_mutable_literal(node):
            return False
        return isinstance(node, ast.Call) and array_tail(self.qualname(node.func)) in ARRAY_CONSTRUCTORS

    def is_memo(self, container: ast.expr) -> bool:
        """Is this container item-assigned into somewhere in the file (``CACHE[key] = value``)?"""
        key = _container_key(container)
        return key is not None and key in self.memo_keys

    def _framework(self) -> str | None:
        # Code is "written for" a framework when it imports the framework's array namespace; a module
        # that only imports ``jax`` for ``jax.grad`` next to plain numpy is numpy code (the loader
        # rebinds its numpy under each backend).
        used = set(self.imports.values()) | {q for n in ast.walk(self.tree) if isinstance(n, ast.Attribute)
                                             for q in [self.qualname(n)] if q}
        return next((name for name, prefix in FRAMEWORK_NAMESPACES
                     if any(q == prefix or q.startswith(prefix + ".") for q in used)), None)

    def _class_facts(self, node: ast.ClassDef) -> ClassFacts:
        methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        inputs = set()
        for method in methods.values():
            params = {a.arg for a in all_args(method.args)[1:]}
            for sub in ast.walk(method):
                if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and sub.value is not None:
                    targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                    uses = {n.id for n in ast.walk(sub.value) if isinstance(n, ast.Name)}
                    if uses & params or isinstance(sub, ast.AugAssign):
                        for target in targets:
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == "self":
                                inputs.add(target.attr)
        torch_function = any(self.qualname(base) in TORCH_FUNCTION for base in node.bases)
        return ClassFacts(node, methods, inputs, torch_function)

    def _unwrap(self, value: ast.expr | None) -> Wrapper | None:
        """``g = jax.jit(f)``, ``g = jax.custom_vjp(f)``, ``op = F.apply``: what ``g`` runs."""
        jit = False
        while isinstance(value, ast.Call) and value.args:
            qual = self.qualname(value.func)
            jit = jit or qual in JIT
            value = value.args[1] if qual in PARTIAL and len(value.args) > 1 else value.args[0]
        if isinstance(value, ast.Name) and value.id in self.functions:
            return Wrapper(value.id, jit=jit)
        if isinstance(value, ast.Attribute) and value.attr == "apply" and isinstance(value.value, ast.Name) \
                and value.value.id in self.classes:
            return Wrapper(value.value.id, jit=jit, torch_apply=True)
        return None

    def _custom_for(self, name: str, qual: str | None) -> CustomRule | None:
        """The rule record of ``name`` when ``qual`` (a decorator or wrapping call) makes it a custom rule."""
        if qual in CUSTOM_JAX:
            kind, explains = CUSTOM_JAX[qual]
            return self.customs.setdefault(name, CustomRule(RuleKind(f"jax-{kind}"), explains=explains))
        if qual in AUTOGRAD_PRIMITIVE:
            return self.customs.setdefault(name, CustomRule(RuleKind.AUTOGRAD))
        return None

    def _collect_customs(self) -> None:
        for name, function in self.functions.items():  # @jax.custom_vjp, @primitive
            for decorator in function.decorator_list:
                qual = self.decorator_qualname(decorator)
                custom = self._custom_for(name, qual)
                if custom is not None:
                    how = "autograd primitive" if qual in AUTOGRAD_PRIMITIVE else qual
                    custom.definitions.append((decorator, how))
        for node in self.tree.body:  # f = jax.custom_vjp(f_impl)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
                qual = self.qualname(node.value.func)
                inner = node.value.args[0]
                if isinstance(inner, ast.Name) and inner.id in self.functions:
                    for target in target_names(node.targets[0]):
                        custom = self._custom_for(inner.id, qual)
                        if custom is None:
                            continue
                        custom.definitions.append((node, qual))
                        self.customs.setdefault(target, custom)
        for name, info in self.classes.items():
            if info.torch_function:
                explains = ("torch-rev", "torch-fwd") if "jvp" in info.methods else ("torch-rev",)
                custom = self.customs.setdefault(name, CustomRule(RuleKind.TORCH, explains=explains))
                custom.definitions.append((info.node, "torch.autograd.Function"))
                for method, backends in TORCH_RULE_METHODS:
                    if method in info.methods:
                        custom.registrations.append((info.methods[method], f"{name}.{method}", backends))
        for site, func, args in self._registration_sites():
            self._register(site, func, args)

    def _registration_sites(self) -> Iterator[tuple[ast.AST, ast.expr, list[ast.expr]]]:
        """Calls (``f.defvjp(...)``, ``defvjp(f, ...)``) and attribute decorators (``@f.defjvp``)."""
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                yield node, node.func, node.args
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    if isinstance(decorator, ast.Attribute):
                        yield decorator, decorator, []

    def _register(self, site: ast.AST, func: ast.expr, args: list[ast.expr]) -> None:
        if isinstance(func, ast.Attribute) and func.attr in ("defvjp", "defjvp") \
                and isinstance(func.value, ast.Name) and func.value.id in self.customs:
            custom = self.customs[func.value.id]
            if custom.kind in (RuleKind.JAX_VJP, RuleKind.JAX_JVP):
                custom.registrations.append((site, f"{func.value.id}.{func.attr}", custom.explains))
            return
        qual = self.qualname(func)
        rule = last_part(qual)
        if qual and qual.startswith("autograd.") and rule and rule.startswith(("defvjp", "defjvp")) \
                and args and isinstance(args[0], ast.Name) and args[0].id in self.customs:
            custom = self.customs[args[0].id]
            # autograd's jacobian is reverse mode: only a VJP rule is used by the autograd backend.
            explains = ("autograd",) if rule.startswith("defvjp") else ()
            custom.registrations.append((site, f"{rule}({args[0].id}, ...)", explains))
            custom.explains = tuple(sorted(set(custom.explains) | set(explains)))


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it is bound to, for every import anywhere in the file."""
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    imports[top] = top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return imports


def _container_key(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


# --- syntax helpers every stage uses ------------------------------------------------------------


def target_names(target: ast.expr) -> Iterator[str]:
    """The names an assignment target binds: ``a, (b, *c) = ...`` -> a, b, c."""
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from target_names(target.value)


def all_args(args: ast.arguments) -> list[ast.arg]:
    """Every parameter, in order: positional-only, positional, keyword-only, ``*args``, ``**kwargs``."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        every.append(args.vararg)
    if args.kwarg:
        every.append(args.kwarg)
    return every


def positional_args(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args]


def defaults(args: ast.arguments) -> dict[str, ast.expr]:
    """Parameter name -> its default expression."""
    positional = positional_args(args)
    found = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    found.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return found


def is_static(function: FunctionNode) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def is_mutable_literal(node: ast.expr | None) -> bool:
    return isinstance(node, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))


def is_shared_default(node: ast.expr) -> bool:
    """A default argument evaluated once and shared by every call that can be changed: ``[]``, ``Box()``."""
    return is_mutable_literal(node) or isinstance(node, ast.Call)
