"""``ast.parse`` behind a lock.

``adcheck check -j N`` runs cases in threads, and each parses the user's files (preflight,
framework detection, the lint). CPython 3.11's parser is not safe to run in several threads at
once: it fails at random with "SystemError: AST constructor recursion depth mismatch". Parsing
is a few milliseconds a file, so one lock costs nothing measurable.
"""

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)
