"""The baseline: known failures recorded in ``.adcheck-baseline.json``, so a CI gate fails only on new ones.

A failure is keyed by (case, subject): the subject is a backend name, ``lint:CODE`` for a lint
finding, or ``*`` when nothing could be checked. The file is sorted JSON, written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

BASELINE_FILE = ".adcheck-baseline.json"
BASELINE_VERSION = 1
NOTHING_CHECKED = "*"


@dataclass(frozen=True)
class Failure:
    case: str
    subject: str  # backend name, "lint:ADC101", or "*" when no backend could be checked
    status: str  # "disagree", "error", "inconclusive", "unusable", "unchecked", or the finding's severity

    @property
    def key(self) -> tuple[str, str]:
        return (self.case, self.subject)

    def __str__(self) -> str:
        subject = "no AD backend could be checked" if self.subject == NOTHING_CHECKED else f"{self.subject}: {self.status}"
        return f"{self.case} ({subject})"


def read_baseline(path: Path) -> dict[tuple[str, str], str]:
    """(case, subject) -> status; a missing file is an empty baseline."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the baseline ({exc}); delete it or rerun with --update-baseline") from None
    failures = data.get("failures") if isinstance(data, dict) else None
    if not isinstance(failures, dict) or not all(isinstance(v, dict) for v in failures.values()):
        raise ConfigError(f"{path}: failures: expected {{case: {{backend: status}}}}; rerun with --update-baseline")
    return {(case, subject): str(status) for case, subjects in failures.items() for subject, status in subjects.items()}


def baseline_text(failures) -> str:
    """Stable JSON: sorted keys, one entry per (case, subject), a trailing newline."""
    table: dict[str, dict[str, str]] = {}
    for failure in failures:
        table.setdefault(failure.case, {})[failure.subject] = failure.status
    return json.dumps({"version": BASELINE_VERSION, "failures": table}, indent=2, sort_keys=True) + "\n"


def write_baseline(path: Path, failures) -> None:
    """Replace the baseline atomically: a full disk or a kill leaves the old file as it was."""
    from .fileio import write_text_atomic

    write_text_atomic(path, baseline_text(failures))
