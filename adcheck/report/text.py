"""Untrusted text made safe to show: the one sanitising function every report format uses.

A report repeats what the user's code and files said: an exception's message, a dict key, a
parameter name, a file name. Any of them can hold a NUL, an ESC that starts a terminal control
sequence (an OSC sequence can retitle the window or write a hyperlink, even through a pipe into
``less -R`` or a CI log viewer), a byte that is not UTF-8 (a file name Python decoded with
``surrogateescape``: a lone surrogate, which no UTF-8 writer accepts), or a character XML 1.0
forbids (a JUnit file with one does not parse). ``printable`` writes each such character as a
visible escape, the way ``repr`` would: ``\\x1b``, ``\\x00``, ``\\xff`` (the original byte of an
undecodable file name), ``\\ud800``, so the report says what was there and stays valid whatever
the text. Newlines and tabs stay: they are layout.
"""

from __future__ import annotations

import re

# What cannot be shown as it is:
# - C0 controls but tab and newline (ESC, NUL, BEL, carriage return, which overwrites a line),
#   DEL and the C1 controls (0x9b is a one-character CSI on some terminals);
# - surrogates: a lone one cannot be encoded in UTF-8 (U+DC80..U+DCFF are surrogateescape's bytes);
# - U+FFFE and U+FFFF, which XML 1.0 forbids;
# - the bidirectional overrides and isolates, which reorder what a reader sees ("Trojan source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte the name really holds
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character, lone surrogate and XML-forbidden character written
    as a visible escape (``\\x1b``, ``\\xff``); tabs and newlines kept."""
    if _UNSAFE.search(text) is None:  # the usual case: nothing to copy
        return text
    return _UNSAFE.sub(_escape, text)


def printable_line(text: str) -> str:
    """``printable``, and a newline written as ``\\n`` too: for what must stay on one line."""
    return printable(text).replace("\n", "\\n")


def is_printable(text: str) -> bool:
    """Whether ``printable(text)`` is ``text`` itself."""
    return _UNSAFE.search(text) is None
