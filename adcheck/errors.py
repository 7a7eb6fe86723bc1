"""Exit codes and the project error type: every error a user can cause carries its exit code."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; documented in the README."""

    OK = 0  # every applicable backend agrees (kinks allowed; inconclusive entries unless --fail-on inconclusive)
    FAILED = 1  # a disagreement, a backend error, or a function whose value changes between calls
    USAGE = 2  # bad target or input, the function cannot be called at all, or no AD backend can run it
    INTERNAL = 3  # a bug in adcheck itself
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


class AdcheckError(Exception):
    """An error the user can fix; printed as one line, never as a traceback."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TargetError(AdcheckError):
    """The target cannot be parsed, found, or imported."""


class InputError(AdcheckError):
    """An ``--input``/``--random`` value cannot be turned into arrays."""


class ConfigError(AdcheckError):
    """``[tool.adcheck]`` or a case definition is malformed."""
