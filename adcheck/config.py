"""Cases to check: ``[tool.adcheck]`` in ``pyproject.toml`` and ``@adcheck.case`` decorators.

Both are read as data, never executed: the TOML with ``tomllib``, the decorators by parsing the
file with ``ast`` and ``literal_eval``-ing their keyword arguments. A mistake is a ``ConfigError``
naming the file and the key, raised before any backend starts.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import syntax
from .errors import AdcheckError, ConfigError, InputError
from .settings import Settings, validated
from .source import module_statements

PYPROJECT = "pyproject.toml"

# Settings a case may set, and those only [tool.adcheck] may (they apply to the whole run).
CASE_SETTINGS = ("backends", "rtol", "atol", "timeout", "mode", "order", "contexts", "search")
GLOBAL_SETTINGS = (*CASE_SETTINGS, "fail-on", "memory-limit", "lint", "jobs", "blame", "blame-primitives",
                   "blame-seconds", "device")
# Keys of [tool.adcheck] and of each [[tool.adcheck.case]]; anything else is a typo we report.
GLOBAL_KEYS = (*GLOBAL_SETTINGS, "case")
CASE_KEYS = ("target", "input", "inputs", "random", "inputs-from", "seed", "wrt", *CASE_SETTINGS)
DECORATOR_KEYS = ("input", "inputs", "random", "seed", "wrt", *CASE_SETTINGS)

# Directories never searched for decorated cases.
SKIPPED_DIRECTORIES = frozenset({"__pycache__", "node_modules", "site-packages", "build", "dist"})


@dataclass(frozen=True)
class Case:
    """One function and its inputs: what ``check_target`` needs, plus where it was defined."""

    target: str  # "funcs.py:good", relative to the project root when it lies under it
    file: Path | None  # the resolved .py file (None for a package.module target)
    attribute: str
    origin: str  # where the case is defined, for messages: "pyproject.toml: tool.adcheck.case[1]"
    arguments: tuple[np.ndarray, ...] = ()  # explicit inputs (empty: random shapes)
    random: tuple[tuple[int, ...], ...] = ()
    random_dtypes: tuple[np.dtype, ...] = ()  # per random shape: float64 unless "3x4:complex128" says otherwise
    seed: int = 0
    wrt: tuple[int, ...] | None = None  # None: every argument
    inputs_from: str = ""  # "/abs/make.py:make_inputs": the arguments a function of the user's returns
    settings: Settings = Settings()  # this case's layer: over [tool.adcheck], under the command line
    name: str = ""  # unique among the cases of one run: the target, or target[2] for a second case

    @property
    def run_target(self) -> str:
        """The target text ``check_target`` can resolve from any working directory."""
        if self.file is None:
            return self.target
        return f"{self.file}:{self.attribute}"

    @property
    def n_arguments(self) -> int | None:
        """None for ``inputs-from``: known only once the function has run."""
        return None if self.inputs_from else len(self.arguments) or len(self.random)


@dataclass(frozen=True)
class Project:
    """What ``adcheck check`` found: the pyproject (if any), its settings and every case."""

    root: Path  # the pyproject's directory, or the working directory without one
    pyproject: Path | None
    settings: Settings = Settings()  # [tool.adcheck]'s layer
    cases: tuple[Case, ...] = field(default_factory=tuple)


# --- finding the pyproject -------------------------------------------------------------------


def has_adcheck_table(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):  # load_pyproject says why
        # A broken file still counts: load_project reports what is wrong with it.
        return "[tool.adcheck" in _read_or_empty(path)
    return isinstance(data.get("tool"), dict) and "adcheck" in data["tool"]


def _read_or_empty(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` that has a ``[tool.adcheck]`` table.

    Like ruff with ``[tool.ruff]``, a pyproject without our table is passed over, so a package's
    own pyproject inside a larger repository does not hide the repository's configuration.
    """
    start = start.resolve()
    for directory in (start, *start.parents):
        candidate = directory / PYPROJECT
        if candidate.is_file() and has_adcheck_table(candidate):
            return candidate
    return None


# --- validating values -----------------------------------------------------------------------


class _Where:
    """Builds error messages that name the file and the key."""

    def __init__(self, file: Path | str, prefix: str):
        self.file = file
        self.prefix = prefix

    def key(self, key: str) -> str:
        if self.prefix.startswith("@"):  # a decorator: @adcheck.case(input=...)
            return f"{self.prefix}({key.partition('[')[0].replace('-', '_')}=...)"
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str | None, message: str) -> ConfigError:
        where = f"{self.file}: {self.key(key)}" if key else f"{self.file}: {self.prefix}"
        return ConfigError(f"{where}: {message}")


def settings_layer(data: dict, where: _Where, keys: tuple[str, ...]) -> Settings:
    """The settings among ``data``'s keys, each validated by ``adcheck.settings`` with its key named."""
    values = {key.replace("-", "_"): data[key] for key in keys if key in data}
    try:
        return validated({key: where.key(key.replace("_", "-")) for key in values}, **values)
    except AdcheckError as exc:
        raise ConfigError(f"{where.file}: {exc}") from None


def _argument(value, where: _Where, key: str) -> np.ndarray:
    from .inputs import as_numeric_array

    try:
        return as_numeric_array(value, where.key(key))
    except InputError as exc:
        raise ConfigError(f"{where.file}: {exc}") from None


_SHAPE_FORMS = "a shape like 100, \"3x4\" or [3, 4], or with a dtype \"3x4:complex128\""


def _shape(value, where: _Where, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """A random argument's shape and dtype, spelt as ``--random`` takes it (``"3x4:complex128"``)
    or as a shape alone (float64)."""
    from .inputs import RANDOM_DTYPES, parse_random

    if isinstance(value, bool):
        raise where.error(key, f"expected {_SHAPE_FORMS}, got {value!r}")
    if isinstance(value, int):
        value = [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        value = "x".join(map(str, value))
    if not isinstance(value, str):
        raise where.error(key, f"expected {_SHAPE_FORMS}, got {value!r}")
    shape_text, colon, dtype_text = value.partition(":")
    if colon and dtype_text.strip() not in RANDOM_DTYPES:
        raise where.error(key, f"unknown dtype {dtype_text.strip()[:20]!r} in {value!r}; use one of "
                               f"{', '.join(RANDOM_DTYPES)}")
    try:
        return parse_random(value)
    except InputError:
        raise where.error(key, f"expected {_SHAPE_FORMS}, got {value!r}") from None


def case_from_mapping(data: dict, where: _Where, root: Path, *, target: str | None = None,
                      allowed: tuple[str, ...] = CASE_KEYS) -> Case:
    """Validate one case's keys (from TOML or a decorator) and turn them into a ``Case``."""
    for key in data:
        if key not in allowed:
            raise where.error(key, f"unknown key; expected one of {', '.join(allowed)}")
    if target is None:
        if "target" not in data:
            raise where.error("target", "missing; give target = \"path/to/file.py:func\"")
        target = data["target"]
        if not isinstance(target, str):
            raise where.error("target", f"expected a string like \"funcs.py:good\", got {target!r}")
    file, attribute, display = _resolve_target(target, where, root)

    arguments, random, inputs_from = _case_inputs(data, where, root)
    n_arguments = len(arguments) or len(random)

    from .inputs import validate_wrt
    from .settings import seed as valid_seed

    seed = data.get("seed", 0)
    try:
        valid_seed(seed, where.key("seed"))
    except AdcheckError as exc:
        raise ConfigError(f"{where.file}: {exc}") from None
    if "seed" in data and not random and not data.get("search"):
        raise where.error("seed", "only used with random or search")

    wrt = data.get("wrt")
    if wrt is not None:
        try:  # (with inputs-from the count is checked once the function has run)
            wrt = validate_wrt(wrt, 2**31 if inputs_from else n_arguments, where.key("wrt"))
        except InputError as exc:
            raise ConfigError(f"{where.file}: {exc}") from None

    return Case(
        target=display,
        file=file,
        attribute=attribute,
        origin=f"{where.file}: {where.prefix}" if where.prefix else str(where.file),
        arguments=arguments,
        random=tuple(shape for shape, _ in random),
        random_dtypes=tuple(dtype for _, dtype in random),
        seed=seed,
        wrt=wrt,
        inputs_from=inputs_from,
        settings=settings_layer(data, where, CASE_SETTINGS),
    )


def _case_inputs(data: dict, where: _Where, root: Path):
    """(arguments, random shapes, inputs-from function) of a case: exactly one of its four ways
    of giving the inputs."""
    given = [key for key in ("input", "inputs", "random", "inputs-from") if data.get(key) is not None]
    if len(given) != 1:
        raise where.error(given[1] if len(given) > 1 else "input",
                          "give exactly one of input (one argument), inputs (a list, one per argument), random "
                          "(shapes) or inputs-from (\"file.py:make_inputs\", a function returning the arguments)")
    if "inputs-from" in given:
        return (), (), _inputs_function(data["inputs-from"], where, root)
    if "input" in given:
        return (_argument(data["input"], where, "input"),), (), ""
    if "inputs" in given:
        values = data["inputs"]
        if not isinstance(values, (list, tuple)) or not values:
            raise where.error("inputs", f"expected a non-empty list with one entry per argument, got {values!r}")
        return tuple(_argument(v, where, f"inputs[{i}]") for i, v in enumerate(values)), (), ""
    shapes = data["random"]
    if isinstance(shapes, (int, str)) and not isinstance(shapes, bool):
        shapes = [shapes]
    if not isinstance(shapes, (list, tuple)) or not shapes:
        raise where.error("random", f"expected a list of shapes, one per argument, got {shapes!r}")
    return (), tuple(_shape(s, where, f"random[{i}]") for i, s in enumerate(shapes)), ""  # (shape, dtype) each


def _inputs_function(text, where: _Where, root: Path) -> str:
    """``inputs-from``: a ``file.py:func`` whose file exists and defines ``func`` (checked without
    running it), as an absolute target."""
    if not isinstance(text, str):
        raise where.error("inputs-from", f"expected a string like \"make.py:make_inputs\", got {text!r}")
    from .errors import TargetError
    from .loader import parse_target

    try:
        target = parse_target(text, base=root)
    except TargetError as exc:
        raise where.error("inputs-from", exc.message) from None
    if target.path is None:
        return text
    _check_defined(target, text, "inputs-from", where)
    return f"{target.path}:{target.attribute}"


def _check_defined(target, text: str, key: str, where: _Where) -> None:
    """The file binds the target's first name at its top level, or an error suggesting the nearest one."""
    import difflib

    names = _top_level_names(target.path, where)
    head = target.attribute.split(".")[0]
    if names is not None and head not in names:
        close = difflib.get_close_matches(head, sorted(names), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
        raise where.error(key, f"{text!r}: {target.path.name} defines no {head!r}{suggestion}")


def _resolve_target(text: str, where: _Where, root: Path) -> tuple[Path | None, str, str]:
    """Check the target exists (statically: the file and a top-level name) and resolve its path."""
    from .errors import TargetError
    from .loader import parse_target

    try:
        target = parse_target(text, base=root)
    except TargetError as exc:
        raise where.error("target", exc.message) from None
    if target.path is None:
        return None, target.attribute, text  # an importable module: found (or not) when the case runs
    _check_defined(target, text, "target", where)
    return target.path, target.attribute, f"{display_path(target.path, root)}:{target.attribute}"


def _top_level_names(path: Path, where: _Where) -> frozenset[str] | None:
    """Names bound at module level; None when the module may bind names we cannot see (``import *``)."""
    try:
        stat = path.stat()
        return _names_bound_in(str(path), stat.st_size, stat.st_mtime_ns)
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error("target", f"cannot read {path}: {exc}") from None
    except SyntaxError as exc:
        raise where.error("target", f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None


@functools.lru_cache(maxsize=256)
def _names_bound_in(path: str, size: int, mtime: int) -> frozenset[str] | None:
    """``_top_level_names`` of the file as it is (size and time of change): a file of many
    cases is parsed once, not once per case."""
    tree = syntax.parse(syntax.read_python(path), filename=path)
    names: set[str] = set()
    # A name bound under the main guard counts: the run, not the configuration, says it is missing.
    for node in module_statements(tree.body, main_guard=True):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return frozenset(names)


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (forward slashes) when it lies under it, else absolute."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


# --- [tool.adcheck] ----------------------------------------------------------------------------


def load_pyproject(pyproject: Path) -> tuple[Settings, list[Case]]:
    shown = display_path(pyproject, Path.cwd())
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: not valid TOML ({exc})") from None
    except RecursionError:  # tomllib parses nested arrays recursively
        raise ConfigError(f"{shown}: arrays or tables nested too deep to read") from None
    table = data.get("tool", {}).get("adcheck")
    if table is None:
        return Settings(), []
    where = _Where(shown, "tool.adcheck")
    if not isinstance(table, dict):
        raise where.error(None, "expected a table")
    for key in table:
        if key not in GLOBAL_KEYS:
            raise where.error(key, f"unknown key; expected one of {', '.join(GLOBAL_KEYS)}")
    settings = settings_layer(table, where, GLOBAL_SETTINGS)
    entries = table.get("case", [])
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        raise where.error("case", "expected [[tool.adcheck.case]] tables")
    cases = []
    for number, entry in enumerate(entries, start=1):
        case_where = _Where(shown, f"tool.adcheck.case[{number}]")
        if not isinstance(entry, dict):
            raise case_where.error(None, "expected a table")
        cases.append(case_from_mapping(entry, case_where, pyproject.parent))
    return settings, cases


# --- @adcheck.case decorators -----------------------------------------------------------------


def python_files(paths: list[Path]) -> list[Path]:
    """Every ``.py`` file named or under a named directory, sorted, skipping hidden and build dirs.

    A named file that is not Python (a pyproject.toml handed over by pre-commit) is passed over.
    """
    found = set()
    for path in paths:
        if path.is_file():
            if path.suffix == ".py":
                found.add(path.resolve())
        elif path.is_dir():
            for file in path.rglob("*.py"):
                relative = file.relative_to(path).parts[:-1]
                if any(part.startswith(".") or part in SKIPPED_DIRECTORIES or part.endswith(".egg-info")
                       for part in relative):
                    continue
                found.add(file.resolve())
        else:
            raise ConfigError(f"{path}: no such file or directory")
    return sorted(found)


def _case_decorator_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """Names under which the file can reach the decorator: (module aliases, function aliases)."""
    modules, functions = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "adcheck":
                    modules.add(alias.asname or "adcheck")
        elif isinstance(node, ast.ImportFrom) and node.module == "adcheck" and node.level == 0:
            for alias in node.names:
                if alias.name == "case":
                    functions.add(alias.asname or "case")
    return modules, functions


def _is_case_decorator(node: ast.expr, modules: set[str], functions: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "case" and isinstance(func.value, ast.Name):
        return func.value.id in modules
    return isinstance(func, ast.Name) and func.id in functions


def _decorated_functions(body, prefix: str = ""):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _decorated_functions(node.body, prefix + node.name + ".")


def discover_decorated_cases(path: Path, root: Path) -> list[Case]:
    """The ``@adcheck.case(...)`` cases in one file, in source order, without importing it."""
    shown = display_path(path, Path.cwd())
    try:
        source = syntax.read_python(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{shown}: cannot read ({exc})") from None
    if "case" not in source or "adcheck" not in source:
        return []  # most files: skip the parse
    try:
        tree = syntax.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{shown}:{exc.lineno}: syntax error: {exc.msg}") from None
    modules, functions = _case_decorator_names(tree)
    if not modules and not functions:
        return []
    cases = []
    for qualname, node in _decorated_functions(tree.body):
        for decorator in node.decorator_list:
            if not _is_case_decorator(decorator, modules, functions):
                continue
            where = _Where(f"{shown}:{decorator.lineno}", "@adcheck.case")
            if decorator.args:
                raise where.error(None, "takes keyword arguments only (input=, inputs=, random=, seed=, wrt=, ...)")
            data = {}
            for keyword in decorator.keywords:
                if keyword.arg is None:
                    raise where.error(None, "**kwargs cannot be read statically; write the keywords out")
                try:
                    data[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    raise where.error(keyword.arg, "must be a literal (numbers, lists, strings)") from None
            target = f"{path}:{qualname}"
            cases.append(case_from_mapping(data, where, root, target=target, allowed=DECORATOR_KEYS))
    return cases


# --- everything ------------------------------------------------------------------------------


def unique_names(cases: list[Case]) -> tuple[Case, ...]:
    """Name each case by its target; a target checked more than once gets ``[2]``, ``[3]``..."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    named = []
    for case in cases:
        seen[case.target] = seen.get(case.target, 0) + 1
        name = case.target if seen[case.target] == 1 else f"{case.target}[{seen[case.target]}]"
        named.append(replace(case, name=name))
    return tuple(named)


def load_project(paths: list[Path] | None = None, *, start: Path | None = None,
                 pyproject: Path | None = None) -> Project:
    """The pyproject above ``start`` (or the one given) and the decorated cases under ``paths``."""
    start = start or Path.cwd()
    if pyproject is None:
        pyproject = find_pyproject(start)
    elif not pyproject.is_file():
        raise ConfigError(f"{pyproject}: no such file")
    settings, cases = Settings(), []
    root = start.resolve()
    if pyproject is not None:
        pyproject = pyproject.resolve()
        root = pyproject.parent
        settings, cases = load_pyproject(pyproject)
    for file in python_files(list(paths or [])):
        cases.extend(discover_decorated_cases(file, root))
    return Project(root=root, pyproject=pyproject, settings=settings, cases=unique_names(cases))
