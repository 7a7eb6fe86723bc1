"""What every rule family sees: one function's scope in one context, and the nodes of its code.

The driver (``adcheck.lint.driver``) walks each function once and hands every node to each family
through the hooks below; a family overrides the hooks its rules need. A family may only report its
own codes (one home per rule): ``report`` refuses any other.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from ..dataflow import Scope, Value
from ..facts import FunctionNode
from ..names import array_tail, last_part

Sink = Callable[[str, ast.AST, str], None]  # (code, node, message)


@dataclass(frozen=True)
class CallSite:
    """A call, resolved once for every family."""

    node: ast.Call
    qual: str | None  # what the callee names through the imports; ``builtins.X`` for a builtin
    tail: str | None  # the function's name under an array module (``linalg.norm``)
    last: str | None  # the last part of ``tail`` (``norm``)
    text: str  # the callee as written
    args_tainted: bool  # is any argument input-derived
    first_tainted: bool  # is the first positional argument input-derived
    receiver: Value | None  # ``obj.method(...)`` where ``obj`` is a value, not a module: what ``obj`` is
    user_method: bool  # ... and ``method`` is defined by ``obj``'s class in this file

    @classmethod
    def resolve(cls, call: ast.Call, scope: Scope) -> CallSite:
        func = call.func
        qual = scope.module.qualname(func)
        if isinstance(func, ast.Name) and qual is None and scope.is_builtin(func.id):
            qual = f"builtins.{func.id}"
        tail = array_tail(qual)
        receiver = user_method = None
        if isinstance(func, ast.Attribute) and qual is None:
            receiver = scope.value(func.value)
            classes = scope.module.classes
            user_method = receiver.cls is not None and receiver.cls in classes \
                and func.attr in classes[receiver.cls].methods
        return cls(
            node=call, qual=qual, tail=tail, last=last_part(tail), text=ast.unparse(func),
            args_tainted=any(scope.tainted(a) for a in call.args) or any(scope.tainted(k.value) for k in call.keywords),
            first_tainted=bool(call.args) and scope.tainted(call.args[0]),
            receiver=receiver, user_method=bool(user_method))

    @property
    def method(self) -> str | None:
        """The method name of ``value.method(...)`` (None for a function or a module's attribute)."""
        return self.node.func.attr if self.receiver is not None else None

    @property
    def method_text(self) -> str:
        return f"`{self.text}()`"


class Checker:
    """One rule family, applied to one function's code in one context."""

    family: ClassVar[str]  # the code prefix this family owns: "ADC1", "ADC2", ...

    def __init__(self, scope: Scope, jitted: bool, sink: Sink, framework: str | None):
        self.scope = scope
        self.module = scope.module
        self.jitted = jitted  # the function runs under jax.jit (its own decorator or a caller's)
        # What the code is written for ("autograd", "jax", "torch"; None: plain numpy, which
        # adcheck rebinds under each backend): the target's, as the run decides it.
        self.framework = framework
        self._sink = sink

    def report(self, code: str, node: ast.AST, message: str) -> None:
        if not code.startswith(self.family):
            raise ValueError(f"{type(self).__name__} reports {self.family}xx codes, not {code}")
        self._sink(code, node, message)

    def decorators_in(self, function: FunctionNode, quals: frozenset[str]) -> Iterator[tuple[ast.expr, str]]:
        """The decorators of ``function`` that name one of ``quals`` (``@partial(jax.jit, ...)`` names jax.jit)."""
        for decorator in function.decorator_list:
            qual = self.module.decorator_qualname(decorator)
            if qual in quals:
                yield decorator, qual

    # Hooks: each is called once per node of the function's own code (nested functions are separate
    # walks), in source order, parents before children.
    def on_function(self, function: FunctionNode) -> None:
        """The function itself, before its body: its decorators."""

    def on_store(self, target: ast.expr, augmented: bool) -> None:
        """An assignment, augmented assignment, ``del`` or loop target (tuples are not unpacked)."""

    def on_branch(self, test: ast.expr) -> None:
        """The test of an ``if``, ``while``, ternary or comprehension filter."""

    def on_method_call(self, site: CallSite) -> None:
        """A call of a method of a value (``site.receiver`` is set), before ``on_call`` of the same node."""

    def on_call(self, site: CallSite) -> None:
        """A call."""

    def on_binop(self, node: ast.BinOp) -> None:
        """A binary operation."""

    def on_compare(self, node: ast.Compare) -> None:
        """A comparison."""

    def on_attribute(self, node: ast.Attribute) -> None:
        """An attribute read."""

    def on_name(self, node: ast.Name) -> None:
        """A name read."""
