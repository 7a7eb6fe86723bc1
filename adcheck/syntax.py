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
    which the summary cache keeps alive; thread-safe.

    Once, even when the cases of ``check -j N`` ask at the same moment (they start together, and
    several of them may be cases of one file): the first computes, the others wait for its value.
    """

    def __init__(self, size: int = 64):
        self.size = size
        self.entries: dict[tuple[int, str], tuple[object, object]] = {}
        self.lock = threading.Lock()
        self.computing: dict[tuple[int, str], threading.RLock] = {}  # re-entrant: compute may ask again

    def get(self, tree, what: str, compute):
        key = (id(tree), what)
        with self.lock:
            value = self._kept(key, tree)
            if value is not _MISSING:
                return value
            busy = self.computing.setdefault(key, threading.RLock())
        with busy:
            with self.lock:
                value = self._kept(key, tree)
            if value is not _MISSING:
                return value
            try:
                value = compute()
                with self.lock:
                    if len(self.entries) >= self.size:
                        self.entries.pop(next(iter(self.entries)))
                    self.entries[key] = (tree, value)
            finally:
                with self.lock:
                    self.computing.pop(key, None)
        return value

    def _kept(self, key, tree):
        entry = self.entries.get(key)
        return entry[1] if entry is not None and entry[0] is tree else _MISSING


_MISSING = object()


MEMO = TreeMemo()
