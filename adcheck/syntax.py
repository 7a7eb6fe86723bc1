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


class TreeMemo:
    """Results computed from a parsed tree, kept as long as the tree is: a file checked at many
    cases (``adcheck check``) is parsed once and analysed once. Keyed by the tree object itself,
    which the summary cache keeps alive; thread-safe."""

    def __init__(self, size: int = 64):
        self.size = size
        self.entries: dict[tuple[int, str], tuple[object, object]] = {}
        self.lock = threading.Lock()

    def get(self, tree, what: str, compute):
        key = (id(tree), what)
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry[0] is tree:
                return entry[1]
        value = compute()
        with self.lock:
            if len(self.entries) >= self.size:
                self.entries.pop(next(iter(self.entries)))
            self.entries[key] = (tree, value)
        return value


MEMO = TreeMemo()
