"""ADC4xx, purity: what makes two calls with the same input compute different functions.

ADC401 randomness, ADC402 a cache on the path, ADC403 a ``jax.jit`` function reading a mutable
module global, ADC404 time, I/O or an environment read.
"""

from __future__ import annotations

import ast

from ..dataflow import Origin
from ..facts import FunctionNode, is_mutable_literal
from ..names import (
    CACHE_DECORATORS, CLOCK_MODULE, ENVIRONMENT, GENERATOR_CONSTRUCTORS, HARMLESS_CLOCK_CALLS, IO_CALLS,
    RANDOM_CALLS, RANDOM_PREFIXES, SEEDED, last_part,
)
from .base import CallSite, Checker

MEMO = "looks up a memo that outlives the call: a cached value carries no derivative of this call's inputs"
CHANGES = "the value can change between calls"


class PurityChecker(Checker):
    family = "ADC4"

    def on_function(self, function: FunctionNode) -> None:
        for decorator, qual in self.decorators_in(function, CACHE_DECORATORS):
            self.report("ADC402", decorator, f"`{function.name}` is cached with {qual}: a cached value carries no "
                                             "derivative of this call's inputs")

    def on_call(self, site: CallSite) -> None:
        call, qual, text = site.node, site.qual, site.text
        if qual and _is_random(call, qual):
            self.report("ADC401", call, f"`{text}` draws random numbers: every call computes a different function")
        if qual and ((qual.startswith(CLOCK_MODULE) and qual not in HARMLESS_CLOCK_CALLS) or qual in IO_CALLS):
            self.report("ADC404", call, f"`{text}` reads the clock, a file or the environment: {CHANGES}")

    def on_method_call(self, site: CallSite) -> None:
        call, func, text = site.node, site.node.func, site.method_text
        if site.method == "get" and site.receiver.origin is Origin.OUTLIVING and self.module.is_memo(func.value):
            self.report("ADC402", call, f"{text} {MEMO}")
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in self.module.global_values \
                and self.scope.lookup_scope(owner.id) is None:
            generator = self.module.global_values[owner.id]
            if isinstance(generator, ast.Call) \
                    and last_part(self.module.qualname(generator.func)) in GENERATOR_CONSTRUCTORS:
                self.report("ADC401", call, f"{text} draws from the module-level generator `{owner.id}`: every "
                                            "call computes a different function")

    def on_compare(self, node: ast.Compare) -> None:
        for op, comparator in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)) and self.scope.value(comparator).origin is Origin.OUTLIVING \
                    and self.module.is_memo(comparator):
                self.report("ADC402", node, f"`{ast.unparse(node)}` {MEMO}")

    def on_attribute(self, node: ast.Attribute) -> None:
        if self.module.qualname(node) == ENVIRONMENT:
            self.report("ADC404", node, f"`{ENVIRONMENT}` reads the environment: {CHANGES}")

    def on_name(self, node: ast.Name) -> None:
        module, name = self.module, node.id
        if self.scope.lookup_scope(name) is not None:
            return  # a local name
        if module.imports.get(name) == ENVIRONMENT:
            self.report("ADC404", node, f"`{name}` reads the environment: {CHANGES}")
        if self.jitted and self._mutable_global(name):
            self.report("ADC403", node, f"the jit-compiled function reads the mutable module global `{name}`: "
                                        "jit bakes in its value at trace time")

    def _mutable_global(self, name: str) -> bool:
        """A module global that can change after jit has traced: rebound under ``global``, or a mutable object."""
        module = self.module
        if name not in module.global_values or name in module.wrappers:
            return False
        value = module.global_values[name]
        return name in module.rebound or name in module.instances or is_mutable_literal(value) \
            or module.is_array_constructor(value)


def _is_random(call: ast.Call, qual: str) -> bool:
    if qual.startswith("jax."):
        return False  # jax.random takes an explicit key: pure
    if not (qual.startswith(RANDOM_PREFIXES) or qual in RANDOM_CALLS):
        return False
    if last_part(qual) in SEEDED:
        return not (call.args or call.keywords)  # seeded: deterministic
    return True
