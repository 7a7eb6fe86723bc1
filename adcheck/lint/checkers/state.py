"""ADC1xx, state and mutation: writes that make a call depend on the calls before it.

ADC101 attribute written on an object that outlives the call, ADC102 ``global``/``nonlocal`` write,
ADC103 mutation of a container that outlives the call, ADC104 in-place array write, ADC105
mutation of an argument.
"""

from __future__ import annotations

import ast

from ..dataflow import Origin
from ..names import ARRAY_INPLACE_METHODS, INPLACE_FUNCTIONS, MUTATING_METHODS
from .base import CallSite, Checker

# Why an in-place write into an array made in the call matters, in the terms of the code's own
# framework. PyTorch records in-place writes into tensors made in the call (its autograd
# versions them), so torch code has no such finding; numpy code is correct as numpy, and the
# finding says why the AD backends adcheck runs it under cannot.
ARRAY_WRITE = {
    "jax": "writes into an array in place; JAX arrays are immutable: use `x.at[i].set(v)`",
    "autograd": "writes into an array in place; autograd cannot record the write",
    "numpy": "writes into an array in place; autograd and jax.numpy, which adcheck runs numpy code under, "
             "cannot record the write",
    "array-api": "writes into an array in place; JAX arrays are immutable and autograd cannot record the write",
}


class StateChecker(Checker):
    family = "ADC1"

    def on_store(self, target: ast.expr, augmented: bool) -> None:
        scope = self.scope
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.on_store(elt, False)
        elif isinstance(target, ast.Starred):
            self.on_store(target.value, False)
        elif isinstance(target, ast.Name):
            name = target.id
            if name in scope.declared_global:
                self.report("ADC102", target, f"assigns the module global `{name}` (declared `global`): "
                                              "the next call sees this call's value")
            elif name in scope.declared_nonlocal and not self._nonlocal_in_call(name):
                self.report("ADC102", target, f"assigns `{name}` of an enclosing function that is not part of "
                                              "the call (declared `nonlocal`)")
            elif augmented:
                self._augmented_write(target)
        elif isinstance(target, ast.Attribute):
            self._attribute_write(target, f"`{ast.unparse(target)}`", target.value)
        elif isinstance(target, ast.Subscript):
            self._array_write(target, target.value, f"`{ast.unparse(target)} =`")

    def on_call(self, site: CallSite) -> None:
        call = site.node
        for keyword in call.keywords:
            if keyword.arg == "out" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is None):
                self._array_write(keyword, keyword.value, f"`{site.text}(..., out=...)`", always_array=True)
        if site.tail in INPLACE_FUNCTIONS and call.args and site.qual.split(".")[0] in ("numpy", "autograd"):
            self._array_write(call, call.args[0], f"`{site.text}(...)`", always_array=True)
        if site.qual == "builtins.setattr" and call.args:
            self._attribute_write(call, "`setattr(...)`", call.args[0])

    def on_method_call(self, site: CallSite) -> None:
        method, receiver, text = site.method, site.receiver, site.method_text
        torch_inplace = self.framework == "torch" and method.endswith("_") and not method.startswith("_")
        if site.user_method or _through_at(site.node.func.value) \
                or not (method in MUTATING_METHODS or torch_inplace):
            return
        if receiver.origin is Origin.OUTLIVING:
            self.report("ADC103", site.node, f"{text} mutates {receiver.note or 'an object'}, which outlives the call")
        elif receiver.origin is Origin.ARGUMENT:
            if method in ARRAY_INPLACE_METHODS or torch_inplace:
                self.report("ADC104", site.node, f"{text} writes into {receiver.note or 'an argument'} in place")
            self.report("ADC105", site.node, f"{text} mutates {receiver.note or 'an argument'}")
        elif receiver.array and method in ARRAY_INPLACE_METHODS:
            self._fresh_array_write(site.node, text)

    def _augmented_write(self, target: ast.Name) -> None:
        """``name op= value``: in place for an array, a rebinding for a Python number."""
        name = target.id
        value = self.scope.lookup(name)
        if value.origin is Origin.ARGUMENT and (value.array or name in self.scope.params) and value.tainted:
            self.report("ADC104", target, f"augmented assignment to `{name}` writes into {value.note} in place")
            self.report("ADC105", target, f"augmented assignment to `{name}` mutates {value.note}")
        elif value.origin is Origin.FRESH and value.array:
            self._fresh_array_write(target, f"augmented assignment to the array `{name}`")

    def _nonlocal_in_call(self, name: str) -> bool:
        parent = self.scope.parent
        owner = parent.lookup_scope(name) if parent is not None else None
        return owner is not None and self.scope.closure_in_call(owner)

    def _attribute_write(self, node: ast.AST, what: str, obj: ast.expr) -> None:
        value = self.scope.value(obj)
        if value.origin is Origin.OUTLIVING:
            self.report("ADC101", node, f"{what} writes an attribute of {value.note or 'an object'}, which "
                                        "outlives the call")
        elif value.origin is Origin.ARGUMENT:
            self.report("ADC105", node, f"{what} writes an attribute of {value.note or 'an argument'}")

    def _array_write(self, node: ast.AST, base: ast.expr, what: str, always_array: bool = False) -> None:
        """An in-place write into the object ``base`` refers to (``base[i] = v``, ``out=base``, ...)."""
        if _through_at(base):
            return
        value = self.scope.value(base)
        if value.origin is Origin.OUTLIVING:
            self.report("ADC103", node, f"{what} mutates {value.note or 'an object'}, which outlives the call")
        elif value.origin is Origin.ARGUMENT:
            self.report("ADC104", node, f"{what} writes into {value.note or 'an argument'} in place")
            self.report("ADC105", node, f"{what} mutates {value.note or 'an argument'}")
        elif value.array or always_array:
            self._fresh_array_write(node, what)

    def _fresh_array_write(self, node: ast.AST, what: str) -> None:
        """An in-place write into an array the call made: a problem for the AD systems that
        cannot record it, said in the code's own framework's terms; none in torch code."""
        reason = ARRAY_WRITE.get(self.framework or "numpy")
        if reason is not None:
            self.report("ADC104", node, f"{what} {reason}")


def _through_at(node: ast.expr) -> bool:
    """``x.at[i]``: JAX's functional update, not an in-place write."""
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Call)):
        if isinstance(node, ast.Attribute) and node.attr == "at":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False
