"""``--add-case``: keep a failure the search found as a regression case of the project.

The shrunk input is appended to the nearest ``pyproject.toml`` with a ``[tool.adcheck]`` table
(else the one in the working directory, created if need be) as a ``[[tool.adcheck.case]]``, so
``adcheck check`` checks it from then on and ``--update-baseline`` can accept it while it is being
fixed. The file is appended to, never rewritten: its comments and layout stay as they are.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..config import PYPROJECT, display_path, find_pyproject
from ..errors import ConfigError


def case_text(target_text: str, input_args: tuple[str, ...], wrt: tuple[int, ...] | None, comment: str) -> str:
    """The ``[[tool.adcheck.case]]`` table (TOML reads the JSON number lists as they are)."""
    lines = ["", f"[[tool.adcheck.case]]  # {comment}", f"target = {json.dumps(target_text)}",
             f"inputs = [{', '.join(_toml(text) for text in input_args)}]"]
    if wrt is not None:
        lines.append(f"wrt = {json.dumps(list(wrt))}")
    return "\n".join(lines) + "\n"


def _toml(argument_json: str) -> str:
    """An ``--input`` JSON text as TOML: the same, but a ``{"$complex": [re, im]}`` leaf (the only
    object an array argument's JSON holds) as TOML's inline table ``{ "$complex" = [re, im] }``."""
    return argument_json.replace('{"$complex": ', '{ "$complex" = ').replace("]}", "] }")


def append_case(target, failure, arguments, start: Path, *, seed: int, count: int) -> str:
    """Append the failure's input as a case; returns the pyproject's path as shown to the user.
    A pytree argument or a torch module cannot be written as a case's ``inputs``: a ConfigError."""
    from ..inputs import Slot

    if arguments.module_target or not all(isinstance(s, Slot) for s in arguments.skeletons):
        raise ConfigError("--add-case: a case's inputs are arrays, one per argument; this function takes a dict, "
                          "list or module argument (paste the --input line into a test instead)")
    pyproject = find_pyproject(start) or start.resolve() / PYPROJECT
    if target.path is None:
        target_text = target.text
    else:
        target_text = f"{display_path(target.path, pyproject.parent)}:{target.attribute}"
    differentiated = tuple(sorted({leaf.argument for leaf in arguments.leaves if leaf.differentiated}))
    wrt = None if len(differentiated) == arguments.n_arguments else differentiated
    text = case_text(target_text, failure.input_args, wrt, f"found by adcheck run --search {count} --seed {seed}")
    try:
        existing = pyproject.read_text(encoding="utf-8") if pyproject.exists() else ""
        with open(pyproject, "a", encoding="utf-8") as handle:
            handle.write(("\n" if existing and not existing.endswith("\n") else "") + text)
    except OSError as exc:
        raise ConfigError(f"--add-case: cannot write {pyproject}: {exc.strerror or exc}") from None
    return display_path(pyproject, Path.cwd())
