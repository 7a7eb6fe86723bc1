"""The baseline: known failures recorded in ``.adcheck-baseline.json``, so a CI gate fails only on new ones.

A failure is keyed by (case, subject): the subject is a backend name, ``lint:CODE`` for a lint
finding, or ``*`` when nothing could be checked. The file is sorted JSON, written atomically.
"""

from __future__ import annotations

import json
import os
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
    """(case, subject) -> status; a missing file is an empty baseline.

    The file is held to its schema: an object with ``version`` (1) and ``failures``
    ({case: {subject: status}}, all strings), nothing else; the message names the key that is wrong.
    """
    from .fileio import read_json

    if not path.is_file():
        return {}
    repair = "rerun with --update-baseline to rewrite it"
    data = read_json(path, "the baseline", error=_BaselineError(repair))
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with version and failures; {repair}")
    unknown = sorted(set(data) - {"version", "failures"})
    if unknown:
        raise ConfigError(f"{path}: {unknown[0]}: unknown key in a baseline (expected version, failures); {repair}")
    version = data.get("version", BASELINE_VERSION)
    if version != BASELINE_VERSION or isinstance(version, bool):
        raise ConfigError(f"{path}: version: {json.dumps(version)[:40]} is not a baseline version this adcheck "
                          f"reads (it reads {BASELINE_VERSION}); {repair}, or upgrade adcheck")
    failures = data.get("failures")
    if not isinstance(failures, dict):
        raise ConfigError(f"{path}: failures: expected {{case: {{backend: status}}}}; {repair}")
    for case, subjects in failures.items():
        if not isinstance(subjects, dict):
            raise ConfigError(f"{path}: failures.{case}: expected {{backend: status}}; {repair}")
        for subject, status in subjects.items():
            if not isinstance(status, str):
                raise ConfigError(f"{path}: failures.{case}.{subject}: expected a status string; {repair}")
    return {(case, subject): status for case, subjects in failures.items() for subject, status in subjects.items()}


class _BaselineError:
    """A ``ConfigError`` maker for ``fileio.read_json`` that ends with how to repair the baseline."""

    def __init__(self, repair: str):
        self.repair = repair

    def __call__(self, message: str) -> ConfigError:
        return ConfigError(f"{message}; {self.repair}")


def refuse_replacing_a_linked_file(path: Path) -> None:
    """``--update-baseline`` through a symbolic link writes the file the link points to. Refuse
    when that file is not a baseline (nor a damaged one, such as a merge conflict): the link was
    pointed at the wrong file, and rewriting it would lose that file."""
    if not path.is_symlink() or not path.is_file():
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # unreadable: the write reports what is wrong with it
    if not text.strip() or '"failures"' in text:
        return
    target = os.path.realpath(path)
    raise ConfigError(f"{path} is a symbolic link to {target}, which is not an adcheck baseline; "
                      "refusing to overwrite it", hint="point the link at a baseline, or remove it")


def baseline_text(failures) -> str:
    """Stable JSON: sorted keys, one entry per (case, subject), a trailing newline."""
    table: dict[str, dict[str, str]] = {}
    for failure in failures:
        table.setdefault(failure.case, {})[failure.subject] = failure.status
    return json.dumps({"version": BASELINE_VERSION, "failures": table}, indent=2, sort_keys=True) + "\n"


def write_baseline(path: Path, failures) -> None:
    """Replace the baseline atomically: a full disk or a kill leaves the old file as it was."""
    from .fileio import write_text_atomic

    refuse_replacing_a_linked_file(path)
    write_text_atomic(path, baseline_text(failures))
