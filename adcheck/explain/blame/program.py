"""What every framework's replay hands the checker: the applications of derivative rules, in
program order, each with the rule's owner, the user line that called it and its local problem."""

from __future__ import annotations

import ast
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...backends.calling import UserCodeError, is_user_file
from .local import LocalProblem


class ReplayError(UserCodeError):
    """The computation cannot be replayed primitive by primitive (the report says why, as a note)."""


@dataclass(frozen=True)
class Rule:
    """Who wrote a derivative rule, and what to call it in a message."""

    name: str  # "jax.numpy.sinc", "my_sin", "aten.sinc"
    user: bool  # the user's own rule (ADC501) or an installed library's (ADC502)
    library: str = ""  # the distribution that owns it: "jax", "autograd", "torch"
    version: str = ""
    kind: str = ""  # "custom_vjp", "custom_jvp", "defvjp", "torch.autograd.Function", "primitive", "jit"
    definition: tuple[str, int] | None = None  # where the rule itself (bwd, jvp, backward) is defined
    function: str = ""  # the rule function's name: "my_sin_bwd"
    # A torch.autograd.Function: per differentiable operand of the local problem, the name forward
    # gives it, and its position among forward's inputs (which is its gradient's place in the tuple
    # backward returns).
    operand_names: tuple[str, ...] = ()
    operand_slots: tuple[int, ...] = ()

    @property
    def key(self) -> tuple:
        return (self.name, self.kind, self.definition)


@dataclass(frozen=True)
class Site:
    """The line of the user's code that applied the rule (the innermost frame in the user's files)."""

    path: str
    line: int
    col: int = 1
    function: str = ""  # the user function that frame is in


@dataclass
class Application:
    """One application of a derivative rule, as the program made it."""

    rule: Rule
    site: Site | None
    problem: Callable[[], LocalProblem | None]  # the rule alone, at the inputs it saw (built on demand)
    directions: Callable[[], np.ndarray]  # (n_in, K): how the program moves its operands
    second: Callable[[], LocalProblem | None] = lambda: None  # the derivative of the rule (order 2)
    children: Callable[[], list[Application]] | None = None  # a unit's insides (checked when it is wrong)
    report_unit: bool = True  # a wrong unit whose insides are all right is itself the finding


# --- the program's own directions -------------------------------------------------------------------

# The program is evaluated a small step either side of the input along a few random moves, and
# each primitive's operands recorded: their differences are the directions in which the program
# moves them (see ``local``). Only a direction is wanted, so any accuracy will do; the step is
# small to stay clear of kinks and domain edges as far as possible.
DIRECTION_STEP = 1e-6
N_DIRECTIONS = 2
DIRECTION_SEED = 11


def program_moves(x0: np.ndarray) -> tuple[list[np.ndarray], float]:
    """(unit moves of the input, the step along them): the same in every framework's replay."""
    from ...finite_differences import typical_scale

    rng = np.random.default_rng(DIRECTION_SEED)
    moves = []
    for _ in range(N_DIRECTIONS):
        move = rng.standard_normal(x0.size)
        moves.append(move / np.linalg.norm(move))
    return moves, DIRECTION_STEP * typical_scale(x0)


# --- where code lives -----------------------------------------------------------------------------


def user_root(task) -> Path | None:
    try:
        return Path(task.target.root).resolve()
    except Exception:  # noqa: BLE001 - e.g. the module vanished
        return None


@functools.lru_cache(maxsize=4096)
def _is_user(filename: str, root: str) -> bool:
    try:
        return is_user_file(filename, Path(root))
    except Exception:  # noqa: BLE001
        return False


def is_user(filename: str | None, root: Path | None) -> bool:
    return bool(filename) and root is not None and _is_user(filename, str(root))


def innermost_user_frame(frames, root: Path | None) -> int | None:
    """Index of the innermost frame (``frames`` innermost first) in the user's files, or None.

    ``frames`` are (filename, line, function name) tuples.
    """
    for index, (filename, _, _) in enumerate(frames):
        if is_user(filename, root):
            return index
    return None


def called_function(frames, root: Path | None) -> tuple[str, str] | None:
    """(file, function) of the library function the user's innermost frame called, if any."""
    index = innermost_user_frame(frames, root)
    if not index:
        return None
    filename, _, function = frames[index - 1]
    return filename, function


def site_on_stack(frame, root: Path | None) -> Site | None:
    """The innermost frame of the interpreter's stack, from ``frame`` outwards, in the user's files."""
    while frame is not None and root is not None:
        code = frame.f_code
        if is_user(code.co_filename, root):
            return Site(code.co_filename, frame.f_lineno or 0, _column(frame), code.co_name)
        frame = frame.f_back
    return None


def _column(frame) -> int:
    """The column (from 1) of the expression the frame is executing, where Python records it."""
    try:
        positions = list(frame.f_code.co_positions())
        _, _, col, _ = positions[frame.f_lasti // 2]
        return (col or 0) + 1
    except Exception:  # noqa: BLE001 - no position information: the line's start
        return 1


def definition_line(path: str, line: int) -> int:
    """The ``def`` line of the function whose definition starts at ``line`` (a code object's first
    line is its first decorator's: ``@staticmethod``, ``@soft.defjvp``); ``line`` if none is found."""
    from ..probes import parse_user_file

    tree = parse_user_file(path) if path and line else None
    if tree is None:
        return line
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.lineno == line or any(d.lineno == line for d in node.decorator_list)):
            return node.lineno
    return line


def return_line(path: str, line: int) -> int:
    """The line of the one ``return`` of the function defined at ``line`` (its own, not a nested
    function's), or 0 when it has none or several."""
    from ..probes import parse_user_file

    tree = parse_user_file(path) if path and line else None
    if tree is None:
        return 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno == line:
            returns = [r.lineno for r in _own_nodes(node) if isinstance(r, ast.Return) and r.value is not None]
            return returns[0] if len(returns) == 1 else 0
    return 0


def _own_nodes(function: ast.AST):
    """The nodes of ``function``'s body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


# --- libraries -------------------------------------------------------------------------------------


def library_of(path: str | None) -> str:
    """The top-level package a file belongs to (``.../site-packages/jax/_src/x.py`` -> ``jax``)."""
    if not path:
        return ""
    parts = Path(path).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = parts.index(marker)
            if index + 1 < len(parts):
                return parts[index + 1].removesuffix(".py")
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and "." not in name and os.path.dirname(file) and path.startswith(os.path.dirname(file) + os.sep):
            return name
    return ""


@functools.lru_cache(maxsize=64)
def version_of(package: str) -> str:
    """The installed version of the distribution that provides top-level ``package``."""
    from importlib import metadata

    try:
        return metadata.version(package)  # jax, torch, autograd: the distribution has the package's name
    except Exception:  # noqa: BLE001 - another name: look it up (a scan of every installed distribution)
        pass
    try:
        distributions = metadata.packages_distributions().get(package) or [package]
        return metadata.version(distributions[0])
    except Exception:  # noqa: BLE001
        module = sys.modules.get(package)
        return str(getattr(module, "__version__", "")) if module is not None else ""


def library_rule(name: str, path: str | None, kind: str, function: str = "", line: int = 0,
                 default_library: str = "") -> Rule:
    library = library_of(path) or default_library
    return Rule(name, False, library, version_of(library) if library else "", kind,
                (path, line) if path else None, function)


def parse_source_info(text: str | None) -> tuple[str, str, int] | None:
    """(function, path, line) from JAX's ``func_src_info`` ("my_sin_bwd at /p/m.py:16")."""
    if not text or " at " not in text:
        return None
    function, _, where = text.rpartition(" at ")
    path, _, line = where.rpartition(":")
    try:
        return function, path, int(line)
    except ValueError:
        return function, where, 0


