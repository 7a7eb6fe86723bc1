"""ADC5xx, hand-written derivative rules.

ADC501 is static: the user's own ``jax.custom_vjp``/``custom_jvp``, autograd ``@primitive`` with
``defvjp``/``defjvp``, or ``torch.autograd.Function``, reported on the definition and where the rule
is registered once the analysis reaches a name that uses it. Its ``explains`` names the backends
that run the rule instead of the code. (ADC502, a wrong rule inside an installed library, is found
at run time, not here.)
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from ..facts import ModuleFacts

RuleSink = Callable[[str, ast.AST, str, tuple[str, ...]], None]  # (code, node, message, explains)


class CustomRules:
    """Reports the derivative rule behind a name of the module, each time the analysis reaches it."""

    family = "ADC5"

    def __init__(self, module: ModuleFacts, sink: RuleSink):
        self.module = module
        self._sink = sink

    def reached(self, name: str) -> None:
        custom = self.module.customs.get(name)
        if custom is None:
            return
        users = backend_list(custom.explains)
        for node, how in custom.definitions:
            self._sink("ADC501", node, f"`{name}` has a user-defined derivative rule ({how}): {users}",
                       custom.explains)
        for node, how, explains in custom.registrations:
            self._sink("ADC501", node, f"{how} registers a derivative rule for `{name}`: {backend_list(explains)}",
                       explains)

    def reach_all(self) -> None:
        for name in self.module.customs:
            self.reached(name)


def backend_list(explains: tuple[str, ...]) -> str:
    """Which backends a rule stands in for, as the end of a sentence."""
    if not explains:
        return "no backend here uses it (autograd's jacobian is reverse-mode)"
    verb = "uses" if len(explains) == 1 else "use"
    return f"{', '.join(explains)} {verb} the rule instead of differentiating the code"
