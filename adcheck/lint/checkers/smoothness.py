"""ADC3xx, smoothness: where the derivative does not exist, or is infinite or NaN.

ADC301 a non-smooth operation (information: it explains a disagreement at a kink), ADC302 a
``where`` whose masked-out branch is NaN or infinite, ADC303 ``sqrt``/``norm``/a fractional power of
a quantity that can be exactly zero (finite there, with an infinite or undefined slope).
"""

from __future__ import annotations

import ast

from ..names import (
    FINITE_WITH_INFINITE_SLOPE, GUARDS, NAN_PRONE, NONSMOOTH_BUILTINS, NONSMOOTH_FUNCTIONS, NONSMOOTH_METHODS, POWER_FUNCTIONS,
    WHERE_FUNCTIONS, array_tail, last_part,
)
from ..dataflow import walk_scope
from .base import CallSite, Checker

MAX_NAN_DEPTH = 3  # local assignments followed when looking for a NaN in a where-branch
MAX_ZERO_DEPTH = 4  # sub-expressions followed when asking whether a quantity can be exactly zero


class SmoothnessChecker(Checker):
    family = "ADC3"

    def on_call(self, site: CallSite) -> None:
        call, qual, tail, last, text = site.node, site.qual, site.tail, site.last, site.text
        if qual in NONSMOOTH_BUILTINS and site.args_tainted:
            self.report("ADC301", call, f"`{call.func.id}()` is not differentiable where its arguments tie or cross "
                                        "zero")
        elif tail and last in NONSMOOTH_FUNCTIONS and "random" not in tail and "linalg" not in tail \
                and site.args_tainted:
            self.report("ADC301", call, f"`{text}` is not smooth: derivatives differ at its kinks")
        if tail and last in WHERE_FUNCTIONS and "random" not in tail:
            self._where(site)
        if tail and call.args and not self.guarded(call.args[0]) and not self.only_a_pole(call):
            self._singular_call(site)

    def _singular_call(self, site: CallSite) -> None:
        call, last, text = site.node, site.last, site.text
        arg = call.args[0]
        if last in FINITE_WITH_INFINITE_SLOPE and self.zeroable(arg):
            self.report("ADC303", call, f"`{text}` of a quantity that is exactly zero at some inputs: "
                                        "its derivative is infinite there")
        elif last == "norm" and (self.zeroable(arg) or self.is_difference(arg)):
            self.report("ADC303", call, f"`{text}` of a quantity that can be exactly zero: its derivative "
                                        "is undefined (NaN) there")
        elif last in ("power", "float_power") and len(call.args) > 1 and _singular_exponent(call.args[1]) \
                and self.zeroable(arg):
            self.report("ADC303", call, f"`{text}` with exponent {ast.unparse(call.args[1])} of a quantity "
                                        "that can be exactly zero: its derivative is infinite there")

    def on_method_call(self, site: CallSite) -> None:
        call, method, text = site.node, site.method, site.method_text
        if site.user_method:
            return
        if method in NONSMOOTH_METHODS and site.receiver.tainted:
            self.report("ADC301", call, f"{text} is not smooth: derivatives differ at its kinks")
        receiver = call.func.value
        if method == "norm" and (self.zeroable(receiver) or self.is_difference(receiver)) and not self.only_a_pole(call):
            self.report("ADC303", call, f"{text} of a quantity that can be exactly zero: its derivative is undefined "
                                        "(NaN) there")

    def on_binop(self, node: ast.BinOp) -> None:
        scope = self.scope
        if isinstance(node.op, (ast.Mod, ast.FloorDiv)) and (scope.tainted(node.left) or scope.tainted(node.right)):
            self.report("ADC301", node, f"`{ast.unparse(node)}` is not smooth: it jumps at every multiple")
        if isinstance(node.op, ast.Pow) and _singular_exponent(node.right) and not self.guarded(node.left) \
                and self.zeroable(node.left):
            self.report("ADC303", node, f"`{ast.unparse(node)}` raises a quantity that can be exactly zero to the "
                                        f"power {ast.unparse(node.right)}: its derivative is infinite there")

    def on_branch(self, test: ast.expr) -> None:
        membership = isinstance(test, ast.Compare) and all(isinstance(op, (ast.In, ast.NotIn)) for op in test.ops)
        if self.scope.tainted(test) and not membership:  # `key in table` is a lookup, not a kink
            self.report("ADC301", test, f"branch on `{ast.unparse(test)}`, an input-derived value: the function "
                                        "can jump or kink where the test flips")

    # --- ADC302 ---
    def _where(self, site: CallSite) -> None:
        call, last = site.node, site.last
        if last == "where" and len(call.args) < 3 and not call.keywords:
            return  # where(cond) is nonzero(cond)
        branches = list(call.args[1:]) + [k.value for k in call.keywords if k.arg not in ("condition", "condlist")]
        if last == "select" and call.args and "lax" not in (site.qual or ""):
            branches = list(call.args[1:]) + [k.value for k in call.keywords]  # select(condlist, choicelist, ...)
        for branch in branches:
            culprit = self.nan_prone(branch, 0)
            if culprit is not None:
                self.report("ADC302", call, f"`{site.text}` also differentiates the branch it masks out, and "
                                            f"`{culprit}` is NaN or infinite there: the gradient becomes NaN")
                return

    def nan_prone(self, node: ast.AST, depth: int) -> str | None:
        """The first sub-expression of a where-branch that can be NaN/inf on input-derived values."""
        scope = self.scope
        if depth > MAX_NAN_DEPTH:
            return None
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                last = last_part(array_tail(self.module.qualname(sub.func)))
                if last in NAN_PRONE and sub.args and scope.tainted(sub.args[0]) and not self.guarded(sub.args[0]):
                    if last in POWER_FUNCTIONS and len(sub.args) > 1 and not _nan_exponent(sub.args[1]):
                        continue
                    return ast.unparse(sub)
            elif isinstance(sub, ast.BinOp):
                if isinstance(sub.op, (ast.Div, ast.FloorDiv, ast.Mod)) and scope.tainted(sub.right) \
                        and not self.guarded(sub.right):
                    return ast.unparse(sub)
                if isinstance(sub.op, ast.Pow) and scope.tainted(sub.left) and _nan_exponent(sub.right) \
                        and not self.guarded(sub.left):
                    return ast.unparse(sub)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                assigned = scope.single_assignment(sub.id)
                if assigned is not None:
                    found = self.nan_prone(assigned, depth + 1)
                    if found is not None:
                        return found
        return None

    # --- what ADC302 and ADC303 ask of an expression ---
    def only_a_pole(self, node: ast.expr) -> bool:
        """Is ``node``'s value used only as a denominator (``sigma / r``), directly or through the one
        local name it is assigned to? Then where it is zero the function's value is infinite too:
        the edge of its domain (a Coulomb or Lennard-Jones energy at r == 0), not a slope that
        alone is infinite or undefined. A run there exits 2 on the value."""
        parents: dict[int, ast.AST] = {}
        for statement in self.scope.body:
            for sub in walk_scope(statement):
                for child in ast.iter_child_nodes(sub):
                    parents[id(child)] = sub

        def denominator(expr: ast.expr) -> bool:
            parent = parents.get(id(expr))
            return isinstance(parent, ast.BinOp) and isinstance(parent.op, ast.Div) and parent.right is expr

        if denominator(node):
            return True
        statement = parents.get(id(node))
        if not (isinstance(statement, ast.Assign) and statement.value is node and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            return False
        name = statement.targets[0].id
        if self.scope.single_assignment(name) is not node:
            return False
        uses = [sub for s in self.scope.body for sub in walk_scope(s)
                if isinstance(sub, ast.Name) and sub.id == name and isinstance(sub.ctx, ast.Load)]
        return bool(uses) and all(denominator(use) for use in uses)

    def guarded(self, node: ast.expr, depth: int = 0) -> bool:
        """Is the argument already clamped into a safe range (``sqrt(where(m, x, 1.0))``, ``maximum(x, eps)``)?"""
        scope = self.scope
        if isinstance(node, ast.Name) and depth < MAX_NAN_DEPTH:
            assigned = scope.single_assignment(node.id)
            return assigned is not None and self.guarded(assigned, depth + 1)
        if isinstance(node, ast.Call):
            qual = self.module.qualname(node.func)
            last = last_part(array_tail(qual)) if qual else (node.func.attr if isinstance(node.func, ast.Attribute)
                                                             else None)
            return last in GUARDS
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) \
                and any((p := _constant_number(side)) is not None and p > 0 for side in (node.left, node.right)):
            return True  # ``x**2 + eps``: a positive constant keeps it away from zero
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)) and depth < MAX_NAN_DEPTH:
            # ``1.0 - safe`` with ``safe = where(m, x, 0.0)``: arithmetic of already guarded values
            # and constants (jax_md's safe_mask idiom) is as guarded as they are.
            sides = [side for side in (node.left, node.right) if scope.tainted(side)]
            return bool(sides) and all(self.guarded(side, depth + 1) for side in sides)
        return False

    def is_difference(self, node: ast.expr) -> bool:
        """``x - y`` of input-derived values (directly or through one local name)."""
        scope = self.scope
        if isinstance(node, ast.Name):
            assigned = scope.single_assignment(node.id)
            return assigned is not None and self.is_difference(assigned)
        return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and \
            (scope.tainted(node.left) or scope.tainted(node.right))

    def zeroable(self, node: ast.AST, depth: int = 0) -> bool:
        """Is this a square, a sum of squares, an absolute value or a difference: exactly zero somewhere?"""
        scope = self.scope
        if depth > MAX_ZERO_DEPTH:
            return False
        if isinstance(node, ast.Name):
            assigned = scope.single_assignment(node.id)
            return assigned is not None and self.zeroable(assigned, depth + 1)
        if isinstance(node, ast.Subscript):
            return self.zeroable(node.value, depth + 1)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.zeroable(node.operand, depth + 1)
        if isinstance(node, ast.BinOp):
            return self._zeroable_binop(node, depth)
        if isinstance(node, ast.Call):
            return self._zeroable_call(node, depth)
        return False

    def _zeroable_binop(self, node: ast.BinOp, depth: int) -> bool:
        scope = self.scope
        left, right, op = node.left, node.right, node.op
        if isinstance(op, ast.Sub):
            return scope.tainted(left) or scope.tainted(right)
        if isinstance(op, ast.Add):
            return self.zeroable(left, depth + 1) and self.zeroable(right, depth + 1)
        if isinstance(op, (ast.Mult, ast.MatMult)):
            if ast.dump(left) == ast.dump(right) and scope.tainted(left):
                return True
            if isinstance(op, ast.Mult):
                return self.zeroable(left, depth + 1) or self.zeroable(right, depth + 1)
            return False
        if isinstance(op, ast.Div):
            return self.zeroable(left, depth + 1)
        if isinstance(op, ast.Pow):
            p = _constant_number(right)
            return p is not None and p > 0 and (p % 2 == 0 or self.zeroable(left, depth + 1)) and scope.tainted(left)
        return False

    def _zeroable_call(self, node: ast.Call, depth: int) -> bool:
        scope = self.scope
        func, args = node.func, node.args
        qual = self.module.qualname(func)
        tail = array_tail(qual)
        if tail is None and isinstance(func, ast.Attribute) and qual is None:
            if func.attr in ("sum", "mean"):
                return self.zeroable(func.value, depth + 1)
            if func.attr == "dot" and args:
                return ast.dump(func.value) == ast.dump(args[0]) and scope.tainted(args[0])
            if func.attr == "norm":
                return scope.tainted(func.value)
            return False
        if tail is None and isinstance(func, ast.Name) and func.id == "abs" and scope.is_builtin("abs"):
            return bool(args) and scope.tainted(args[0])
        last = last_part(tail)
        if last in ("square", "abs", "absolute", "fabs") and args:
            return scope.tainted(args[0])
        if last in ("sum", "mean", "nansum", "trace") and args:
            return self.zeroable(args[0], depth + 1)
        if last in ("dot", "inner", "vdot", "matmul") and len(args) == 2:
            return (ast.dump(args[0]) == ast.dump(args[1]) and scope.tainted(args[0])) \
                or self.zeroable(args[0], depth + 1) or self.zeroable(args[1], depth + 1)
        if last == "norm" and args:
            return scope.tainted(args[0])
        return False


def _constant_number(node: ast.expr) -> float | None:
    """The value of a numeric literal: ``2``, ``-0.5``, ``1 / 3``; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_number(node.operand)
        return -inner if inner is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        a, b = _constant_number(node.left), _constant_number(node.right)
        return a / b if a is not None and b else None
    return None


def _singular_exponent(node: ast.expr) -> bool:
    """An exponent whose power has an infinite slope at zero (0 < p < 1) or a pole there (p < 0)."""
    p = _constant_number(node)
    return p is not None and (p < 0 or 0 < p < 1)


def _nan_exponent(node: ast.expr) -> bool:
    """An exponent that can make ``x ** p`` NaN or infinite: unknown, negative, or not an integer."""
    p = _constant_number(node)
    return p is None or p < 0 or p != int(p)
