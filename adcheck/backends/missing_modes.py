"""Derivatives a framework does not have: the one table of "this framework cannot differentiate
this construct in this mode", and how a backend's exception is recognised as one.

JAX has no reverse mode through ``lax.while_loop``, no forward mode through ``jax.custom_vjp``;
a ``torch.autograd.Function`` without ``jvp`` has no forward mode. A backend that meets such a
construct has not found a wrong derivative, nor failed: it does not apply, and the run is judged
on the backends that ran. Each limit is recognised by the framework's own exception type and the
words it raises with, cited below from the source of the versions adcheck is tested with (jax
0.10.2, torch 2.13, autograd 1.8); a failure that matches no entry stays an ``error``.

The row's message says which mode is missing for what, then the framework's own sentence and the
line of the user's code that built the construct (``calling.not_applicable`` puts them together).
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass

# The mode each derivative backend differentiates in: (framework, "fwd" or "rev").
BACKEND_MODES = {
    "jax-fwd": ("jax", "fwd"),
    "jax-rev": ("jax", "rev"),
    "torch-fwd": ("torch", "fwd"),
    "torch-rev": ("torch", "rev"),
    "autograd": ("autograd", "rev"),
}
FRAMEWORK_NAMES = {"jax": "JAX", "torch": "PyTorch", "autograd": "autograd"}
MODE_WORDS = {"fwd": "forward-mode", "rev": "reverse-mode", "any": ""}


@dataclass(frozen=True)
class MissingMode:
    framework: str  # "jax", "torch" or "autograd": the backends of that framework can meet it
    mode: str  # "fwd", "rev", or "any" (neither mode has it)
    exception: str  # the exception type's name, as the framework raises it
    message: str  # a regular expression searched in the exception's message
    construct: str  # what has no such derivative, for the row's message

    def matches(self, exc: BaseException, framework: str, mode: str) -> bool:
        return (self.framework == framework and self.mode in (mode, "any")
                and type(exc).__name__ == self.exception and re.search(self.message, str(exc)) is not None)


MISSING_MODES = (
    # jax/_src/lax/control_flow/loops.py, _while_transpose_error: the transpose rule of while_p
    # (a fori_loop whose bounds are traced lowers to while_p too; with static bounds it is a scan).
    MissingMode("jax", "rev", "ValueError", r"Reverse-mode differentiation does not work for lax\.while_loop",
                "lax.while_loop (or lax.fori_loop with traced bounds)"),
    # jax/_src/interpreters/ad.py, raise_custom_vjp_error_on_jvp (the custom_lin primitive a
    # custom_vjp leaves in a linearised program) and jax/_src/custom_derivatives.py, disallow_jvp.
    MissingMode("jax", "fwd", "TypeError", r"can't apply forward-mode autodiff \(jvp\) to a custom_vjp function",
                "a jax.custom_vjp function (JAX differentiates it in reverse mode only)"),
    # jax/_src/interpreters/ad.py, get_primitive_transpose: a primitive with a JVP but no transpose.
    MissingMode("jax", "rev", "NotImplementedError",
                r"Transpose rule \(for reverse-mode differentiation\) for '.+' not implemented",
                "a primitive without a transpose rule"),
    # jax/_src/interpreters/ad.py, JVPTrace.process_primitive and fallback_linearize_rule.
    MissingMode("jax", "any", "NotImplementedError", r"Differentiation rule for '.+' not implemented",
                "a primitive without a differentiation rule"),
    # jax/_src/callback.py, pure_callback_jvp_rule.
    MissingMode("jax", "any", "ValueError", r"Pure callbacks do not support JVP",
                "jax.pure_callback without a jax.custom_jvp around it"),
    # jax/_src/callback.py, io_callback_jvp_rule.
    MissingMode("jax", "any", "ValueError", r"IO callbacks do not support JVP", "jax.experimental.io_callback"),
    # torch/autograd/function.py, _SingleLevelFunction.jvp (the default a Function inherits),
    # reached from BackwardCFunction.apply_jvp.
    MissingMode("torch", "fwd", "NotImplementedError",
                r"You must implement the jvp function for custom autograd\.Function",
                "{function} (it defines no jvp)"),
    # torch/autograd/function.py, _SingleLevelFunction.backward (the inherited default).
    MissingMode("torch", "rev", "NotImplementedError",
                r"You must implement either the backward or vjp method for your custom autograd\.Function",
                "{function} (it defines no backward)"),
    # torch/csrc/autograd/VariableTypeUtils.h, the generated forward-AD check of an operator
    # without a forward formula (TORCH_CHECK_NOT_IMPLEMENTED: NotImplementedError).
    MissingMode("torch", "fwd", "NotImplementedError", r"Trying to use forward AD with \S+ that does not support it",
                "a torch operator without a forward-mode formula"),
    # torch/csrc/autograd/FunctionsManual.cpp, not_implemented(): an operator (or one of its
    # arguments, e.g. the first of igamma) that torch does not differentiate at all.
    MissingMode("torch", "any", "NotImplementedError", r"the derivative for '.+' is not implemented",
                "a torch operator with respect to this argument"),
    # torch/autograd/function.py, Function.apply: torch.func needs setup_context (adcheck falls
    # back to classic autograd for first derivatives; second derivatives are torch.func's).
    MissingMode("torch", "any", "RuntimeError", r"must override the setup_context staticmethod",
                "{function} under torch.func (it defines no setup_context)"),
    # torch/_functorch/autograd_function.py, custom_function_call_vmap; torch/autograd/function.py,
    # Function.vmap: a Function that torch.func cannot batch.
    MissingMode("torch", "any", "RuntimeError", r"You tried to vmap over \S+, but it does not have vmap support",
                "{function} under torch.func.vmap (it defines no vmap rule)"),
    MissingMode("torch", "any", "NotImplementedError", r"To use autograd\.Function with vmap, you must either override",
                "{function} under torch.func.vmap (it defines no vmap rule)"),
    # autograd/core.py, VJPNode.__init__ and defvjp_argnums: a primitive without a VJP for an argument.
    MissingMode("autograd", "rev", "NotImplementedError", r"VJP of \S+ wrt argnums? .+ not defined",
                "an autograd primitive without a VJP for that argument"),
    # autograd/numpy/linalg.py (norm, svd), numpy_vjps.py (sort, partition, rollaxis), fft.py:
    # gradients autograd declines for some arguments.
    MissingMode("autograd", "rev", "NotImplementedError", r"[Gg]radient of .+ not implemented|gradient for .+ not implemented",
                "an autograd.numpy function with these arguments"),
)


def missing_mode(exc: BaseException, backend: str) -> MissingMode | None:
    """The table's entry that ``exc``, raised in ``backend``, is; None when it is a failure."""
    if backend not in BACKEND_MODES or not isinstance(exc, Exception):
        return None
    framework, mode = BACKEND_MODES[backend]
    try:
        return next((entry for entry in MISSING_MODES if entry.matches(exc, framework, mode)), None)
    except Exception:  # noqa: BLE001 - a user exception whose __str__ raises is not the framework's
        return None


def describe_missing(entry: MissingMode, exc: BaseException, sentence: str, where: str) -> str:
    """The not-applicable row's message: the missing mode, the framework's ``sentence`` (its
    exception in one line) and ``where`` (" at path:line" in the user's code, or "")."""
    construct = entry.construct.format(function=_function_name(exc))
    mode = MODE_WORDS[entry.mode]
    return f"{FRAMEWORK_NAMES[entry.framework]} has no {mode + ' ' if mode else ''}derivative of {construct}: {sentence}{where}"


def _function_name(exc: BaseException) -> str:
    """``torch.autograd.Function NoJvpExp``: the Function whose rule is missing, from the frame that
    raised (``BackwardCFunction.apply_jvp`` holds it as ``self._forward_cls``, ``Function.apply`` as
    ``cls``); "a torch.autograd.Function" when no frame says."""
    try:
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            owner = getattr(frame.f_locals.get("self"), "_forward_cls", None) or frame.f_locals.get("cls")
            name = getattr(owner, "__qualname__", None) if isinstance(owner, type) else None
            if name and any(base.__name__ == "Function" for base in owner.__mro__[1:]):
                return f"torch.autograd.Function {name}"
    except Exception:  # noqa: BLE001 - a name is a courtesy; the row stands without it
        pass
    return "a torch.autograd.Function"
