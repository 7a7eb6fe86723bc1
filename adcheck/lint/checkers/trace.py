"""ADC2xx, leaving the trace: values that lose their derivative on the way.

ADC201 conversion to a Python number or list, ADC202 conversion to a plain numpy array, ADC203 an
explicit stop of the derivative, ADC204 a numpy (or scipy) call the framework cannot trace.
"""

from __future__ import annotations

import ast

from ..facts import FunctionNode
from ..names import (
    AUTOGRAD_NO_VJP, NUMBER_CONVERSIONS, PLAIN_ARRAY_CONVERSIONS, QUERIES, STOP_GRADIENT_CALLS,
    STOP_GRADIENT_METHODS,
)
from .base import CallSite, Checker


class TraceChecker(Checker):
    family = "ADC2"

    def on_function(self, function: FunctionNode) -> None:
        for decorator, qual in self.decorators_in(function, STOP_GRADIENT_CALLS):
            self.report("ADC203", decorator, f"`{function.name}` runs under {qual}: no derivative flows through it")

    def on_call(self, site: CallSite) -> None:
        call, qual, text = site.node, site.qual, site.text
        if qual in NUMBER_CONVERSIONS and site.first_tainted:
            self.report("ADC201", call, f"`{call.func.id}()` turns an input-derived value into a Python number: "
                                        "its derivative is lost")
        if qual and qual.startswith("math.") and site.args_tainted:
            self.report("ADC201", call, f"`{text}` computes on Python floats: the derivative of its input-derived "
                                        "argument is lost")
        framework = self.framework
        if framework and qual and site.args_tainted:
            top = qual.split(".")[0]
            if top == "numpy" and site.last in PLAIN_ARRAY_CONVERSIONS and site.tail in PLAIN_ARRAY_CONVERSIONS:
                self.report("ADC202", call, f"`{text}` makes a plain numpy array of an input-derived value in "
                                            f"{framework} code: it leaves the trace")
            elif top in ("numpy", "scipy") and site.tail not in QUERIES and not qual.startswith("numpy.random."):
                self.report("ADC204", call, f"`{text}` is the real {top}, which {framework} cannot trace")
        if qual and qual.startswith("autograd.numpy.") and site.tail in AUTOGRAD_NO_VJP and site.args_tainted:
            self.report("ADC204", call, f"autograd wraps numpy.{site.tail} without a derivative rule: "
                                        "differentiating through it fails")
        if qual in STOP_GRADIENT_CALLS:
            self.report("ADC203", call, f"`{text}` stops the derivative")

    def on_method_call(self, site: CallSite) -> None:
        call, method, receiver, text = site.node, site.method, site.receiver, site.method_text
        if method in ("item", "tolist") and receiver.tainted:
            self.report("ADC201", call, f"{text} turns an input-derived value into Python numbers: the derivative "
                                        "is lost")
        if method == "numpy" and receiver.tainted:
            self.report("ADC202", call, f"{text} makes a plain numpy array of an input-derived tensor: it leaves "
                                        "the trace")
        if method in STOP_GRADIENT_METHODS or (method == "requires_grad_" and _turns_grad_off(call)):
            self.report("ADC203", call, f"{text} stops the derivative")

    def on_attribute(self, node: ast.Attribute) -> None:
        if node.attr == "data" and self.module.qualname(node) is None and self.scope.tainted(node.value):
            self.report("ADC203", node, f"`{ast.unparse(node)}` reads the raw data of an input-derived tensor: "
                                        "the derivative stops there")


def _turns_grad_off(call: ast.Call) -> bool:
    """``requires_grad_(False)`` (positional or keyword); ``requires_grad_()`` turns it on."""
    flag = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "requires_grad"), None)
    return isinstance(flag, ast.Constant) and not flag.value
