"""The closed sets of values a setting takes: one list each, read by the settings' validation and
by the command line's choices alike (and cheap to import: ``adcheck --help`` reads it)."""

from __future__ import annotations

from enum import StrEnum


class FailOn(StrEnum):
    """What fails a run, from most to least lenient: each level fails on everything before it too."""

    ERROR = "error"  # a backend error, or a case where no AD backend could be checked
    DISAGREE = "disagree"  # and a disagreement with the reference (or an impure function)
    INCONCLUSIVE = "inconclusive"  # and entries nothing could verify
    WARNING = "warning"  # and lint findings of severity error or warning

    @property
    def level(self) -> int:
        return list(FailOn).index(self)

    def includes(self, other: FailOn) -> bool:
        return self.level >= other.level


class ModeChoice(StrEnum):
    AUTO = "auto"  # fast when a full FD Jacobian would cost more than AUTO_FULL_SECONDS (settings.choose_mode)
    FULL = "full"
    FAST = "fast"


class DeviceChoice(StrEnum):
    CPU = "cpu"
    GPU = "gpu"
    AUTO = "auto"  # the GPU when there is one


CONTEXTS = ("eager", "jit", "compile", "float32", "bfloat16", "float16", "cpu", "gpu")
