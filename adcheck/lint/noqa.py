"""``# noqa`` (every code) and ``# noqa: CODE[, CODE...]`` on a finding's line silence it."""

from __future__ import annotations

import re

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def noqa_lines(source: str) -> dict[int, frozenset[str] | None]:
    """Line -> the codes silenced there (None: all of them)."""
    silenced = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _NOQA.search(line)
        if match:
            codes = match.group("codes")
            silenced[number] = frozenset(c.upper() for c in re.split(r"[\s,]+", codes) if c) if codes else None
    return silenced


def is_silenced(silenced: dict[int, frozenset[str] | None], line: int, code: str) -> bool:
    if line not in silenced:
        return False
    codes = silenced[line]
    return codes is None or code in codes
