"""``ast.parse`` behind a lock.

``adcheck check -j N`` runs cases in threads, and each parses the user's files (preflight,
framework detection, the lint). CPython 3.11's parser is not safe to run in several threads at
once: it fails at random with "SystemError: AST constructor recursion depth mismatch". Parsing
is a few milliseconds a file, so one lock costs nothing measurable.
"""

import ast
import importlib.util
import threading
from pathlib import Path

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    with _LOCK:
        return ast.parse(source, filename=filename)


def read_python(path) -> str:
    """A Python source file's text, decoded as Python decodes it: a ``# -*- coding: latin-1 -*-``
    declaration or a UTF-8 byte-order mark is honoured, and line endings are normalised.

    Raises ``OSError`` when the file cannot be read, ``UnicodeDecodeError`` or ``SyntaxError``
    when its bytes are not what its declaration says.
    """
    return importlib.util.decode_source(Path(path).read_bytes())
