"""The rule families, one module each: a family raises only its own codes."""

from .custom_rules import CustomRules
from .purity import PurityChecker
from .smoothness import SmoothnessChecker
from .state import StateChecker
from .trace import TraceChecker

# The per-function families, in the order their findings were always collected.
FAMILIES = (StateChecker, TraceChecker, SmoothnessChecker, PurityChecker)

__all__ = ["FAMILIES", "CustomRules", "PurityChecker", "SmoothnessChecker", "StateChecker", "TraceChecker"]
