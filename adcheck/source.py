"""The target's source, parsed once per run: what it is written for, where it is defined, and
whether it can work at all.

``summarize`` reads and parses the target's file once; preflight, the lint and the linking of
causes all read the same ``SourceSummary``. Nothing here runs the user's code: importing the
module in the parent would run its top-level code in the process that has to survive it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import syntax
from .errors import InputError, TargetError
from .model import Framework

# What an import means for the code that reaches it.
FRAMEWORK_PACKAGES = {
    "numpy": Framework.NUMPY,
    "scipy": Framework.NUMPY,
    "autograd": Framework.AUTOGRAD,
    "jax": Framework.JAX,
    "jaxlib": Framework.JAX,
    "flax": Framework.JAX,
    "equinox": Framework.JAX,
    "optax": Framework.JAX,
    "haiku": Framework.JAX,
    "torch": Framework.TORCH,
    "functorch": Framework.TORCH,
    "array_api_compat": Framework.ARRAY_API,
}
# When the code reaches several, the one that decides how it must be run.
PRIORITY = (Framework.ARRAY_API, Framework.TORCH, Framework.JAX, Framework.AUTOGRAD, Framework.NUMPY)
MAX_FOLLOWED_FILES = 16  # helper modules of the user's followed for reachability


@dataclass(frozen=True)
class SourceSummary:
    path: Path
    source: str
    tree: ast.Module
    framework: Framework
    definition_line: int | None  # the def/class/assignment of the target, when it can be found
    reached: frozenset[str] = field(default_factory=frozenset)  # framework packages the target reaches
    parameters: tuple[str, ...] = ()  # the target's positional parameter names, when they can be read
    maybe_module: bool = False  # torch code whose target may be an nn.Module (an instance or a factory)


def read_source(path: Path) -> str:
    try:
        return syntax.read_python(path)
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from None


def parse_source(path: Path, source: str | None = None) -> ast.Module:
    source = read_source(path) if source is None else source
    try:
        return syntax.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(f"{path}:{exc.lineno}: syntax error: {exc.msg}",
                          hint="fix the file; adcheck has not run any of it") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise TargetError(f"{path}: cannot parse: {exc}") from None


# Parsed files by path, size and modification time: the cases of ``adcheck check`` that share a
# file parse it once. A changed file has another key.
_PARSED: dict[tuple, tuple[str, ast.Module]] = {}
_PARSED_LOCK = threading.Lock()
_PARSED_SIZE = 64


def parsed_file(path: Path) -> tuple[str, ast.Module]:
    """(source, tree) of a Python file, parsed once while it does not change."""
    try:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    with _PARSED_LOCK:
        if key is not None and key in _PARSED:
            return _PARSED[key]
    source = read_source(path)
    tree = parse_source(path, source)
    if key is not None:
        with _PARSED_LOCK:
            if len(_PARSED) >= _PARSED_SIZE:
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[key] = (source, tree)
    return source, tree


def summarize(target) -> SourceSummary:
    """Parse the target's file once and work out what the target is written for."""
    path = target.file
    source, tree = parsed_file(path)
    reached = reached_packages(tree, target.attribute, path)
    return SourceSummary(path=path, source=source, tree=tree, framework=framework_of(reached),
                         definition_line=definition_line(tree, target.attribute), reached=frozenset(reached),
                         parameters=parameter_names(tree, target.attribute),
                         maybe_module=framework_of(reached) == Framework.TORCH and _maybe_module(tree, target.attribute))


def framework_of(packages) -> Framework:
    found = {FRAMEWORK_PACKAGES[p] for p in packages if p in FRAMEWORK_PACKAGES}
    return next((f for f in PRIORITY if f in found), Framework.NUMPY)


# --- reachability ------------------------------------------------------------------------------------


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``"""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    names = [node.test.left, *node.test.comparators]
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
        isinstance(n, ast.Constant) and n.value == "__main__" for n in names)


def module_statements(body, main_guard: bool = False):
    """Statements that run at import (into if/try/with blocks, not functions; into the main
    guard only when ``main_guard``)."""
    for node in body:
        if not main_guard and _is_main_guard(node):
            continue
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for child in ("body", "orelse", "finalbody"):
                yield from module_statements(getattr(node, child, []), main_guard)
            for handler in getattr(node, "handlers", []):
                yield from module_statements(handler.body, main_guard)


@dataclass
class _ModuleIndex:
    """Module-level names: which are imports (of what), which are definitions (which nodes)."""

    imports: dict[str, tuple[str, int, str | None]]  # name -> (module, level, imported attribute)
    definitions: dict[str, list[ast.AST]]


def _index(tree: ast.Module) -> _ModuleIndex:
    """The module's index, built once per parsed tree (a file's cases share its tree)."""
    return syntax.MEMO.get(tree, "module index", lambda: _build_index(tree))


def _build_index(tree: ast.Module) -> _ModuleIndex:
    imports, definitions = {}, {}
    for node in module_statements(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = (alias.name if alias.asname else
                                                                    alias.name.split(".")[0], 0, None)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    imports[alias.asname or alias.name] = (node.module or "", node.level, alias.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            definitions.setdefault(node.name, []).append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        definitions.setdefault(name.id, []).append(node)
    return _ModuleIndex(imports, definitions)


# The names each definition uses, once per node of a parsed tree: every case of a function walks
# the same definitions (a function with ten @adcheck.case decorators is a few hundred nodes).
_NAMES_USED = syntax.TreeMemo(size=1024)


def _names_used(node: ast.AST) -> frozenset[str]:
    return _NAMES_USED.get(node, "names used", lambda: _walk_names_used(node))


def _walk_names_used(node: ast.AST) -> frozenset[str]:
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            names.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):  # imports inside the function
            for alias in child.names:
                module = child.module if isinstance(child, ast.ImportFrom) else alias.name
                if module and not getattr(child, "level", 0):
                    names.add(f"import:{module.split('.')[0]}")
    return frozenset(names)


def reached_packages(tree: ast.Module, attribute: str, path: Path) -> set[str]:
    """The top-level packages the target reaches: through the names its code uses, the module's
    functions and classes those name, and the user's helper modules they import from.

    A module whose target reaches nothing (a re-export it cannot follow, a lambda built by a
    factory) is judged by every import that runs when it is imported.
    """
    found: set[str] = set()
    followed = {path.resolve()}
    queue = [(tree, path, attribute.split(".")[0])]
    seen: set[tuple[Path, str]] = set()
    indexes: dict[Path, _ModuleIndex] = {}
    while queue:
        module_tree, module_path, name = queue.pop()
        if (module_path, name) in seen:
            continue
        seen.add((module_path, name))
        index = indexes.setdefault(module_path, _index(module_tree))
        if name in index.imports:
            module, level, imported = index.imports[name]
            helper = _user_module(module_path, module, level, imported)
            if helper is not None and len(followed) < MAX_FOLLOWED_FILES:
                helper_path, helper_tree = helper
                followed.add(helper_path.resolve())
                if imported and imported in _index(helper_tree).definitions | _index(helper_tree).imports:
                    queue.append((helper_tree, helper_path, imported))
                else:
                    found |= _file_imports(helper_tree)
            elif level == 0 and module:
                found.add(module.split(".")[0])
            continue
        for node in index.definitions.get(name, []):
            for used in _names_used(node):
                if used.startswith("import:"):
                    found.add(used.removeprefix("import:"))
                elif used != name or isinstance(node, ast.ClassDef):
                    queue.append((module_tree, module_path, used))
    if not found & set(FRAMEWORK_PACKAGES):
        found |= _file_imports(tree)
    return found


def _file_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in module_statements(tree.body):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _user_module(from_path: Path, module: str, level: int, imported: str | None):
    """(path, tree) of the user's module an import names, when it is a file beside the target."""
    base = from_path.parent
    for _ in range(max(0, level - 1)):
        base = base.parent
    parts = [p for p in module.split(".") if p] if module else []
    candidates = []
    if level == 0 and parts:
        candidates += [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
    elif level:
        if parts:
            candidates += [base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")]
        elif imported:
            candidates += [base / f"{imported}.py", base / "__init__.py"]
    for candidate in candidates:
        if candidate.is_file():
            try:
                return candidate, parsed_file(candidate)[1]
            except TargetError:  # unreadable or not Python: not followed
                return None
    return None


def definition_line(tree: ast.Module, attribute: str) -> int | None:
    """The line of the target's ``def``/``class``/assignment (a method's ``def`` inside its class)."""
    parts = attribute.split(".")
    body = tree.body
    line = None
    for part in parts:
        node = _defining(body, part)
        if node is None:
            return line
        line = node.lineno
        body = node.body if isinstance(node, ast.ClassDef) else []
    return line


def _maybe_module(tree: ast.Module, attribute: str) -> bool:
    """Bound by an assignment (an instance), or a def without positional parameters (a factory)."""
    node = _defining(tree.body, attribute.split(".")[0])
    if node is None or "." in attribute:
        return False
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return True
    return isinstance(node, ast.FunctionDef) and not (node.args.posonlyargs or node.args.args)


def parameter_names(tree: ast.Module, attribute: str) -> tuple[str, ...]:
    """The positional parameters the target takes, by name (a method's ``self`` left out), or ()."""
    body, node, in_class = tree.body, None, False
    for part in attribute.split("."):
        node = _defining(body, part)
        if node is None:
            return ()
        in_class = isinstance(node, ast.ClassDef)
        body = node.body if in_class else []
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name):
        cls = _defining(tree.body, node.value.func.id)  # an instance: its class's __call__
        node = _defining(cls.body, "__call__") if isinstance(cls, ast.ClassDef) else None
        in_class = True
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return ()
    names = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    method = "." in attribute or in_class
    return tuple(names[1:] if method and not static and names else names)


def _defining(body, name: str):
    for node in module_statements(body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node
    return None


# --- static checks in the parent, before any worker starts ---------------------------------------
#
# Each check stays silent when the code is too dynamic to judge (``from x import *``, a module
# ``__getattr__``, ``sys.path`` edits); the worker then reports whatever really happens.

_DYNAMIC_CALLS = frozenset({"globals", "vars", "setattr", "exec", "eval", "__import__"})


def preflight(target, summary: SourceSummary, n_arguments: int | None = None) -> None:
    """Refuse a target that cannot work: missing packages, a missing function, a wrong argument count.

    A function given as an object (``adcheck.check``) exists, and its imports have run."""
    if getattr(target, "function", None) is not None:
        return
    where = target.text.rpartition(":")[0] if target.path is not None else str(summary.path)
    check_imports_installed(summary.tree, where, [summary.path.parent, target.root])
    function = check_attribute_defined(summary.tree, where, target)
    if function is not None and n_arguments is not None:
        check_argument_count(function, n_arguments, target.attribute, where=f"{where}:{function.lineno}")
        if isinstance(function, ast.AsyncFunctionDef):
            raise TargetError(f"{where}:{function.lineno}: {target.attribute} is an async function; adcheck "
                              "differentiates plain functions", hint="wrap it in a function that runs it")


def _is_dynamic(tree: ast.Module) -> bool:
    return syntax.MEMO.get(tree, "dynamic", lambda: _dynamic(tree))


def _dynamic(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC_CALLS:
            return True
        if isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name) \
                and node.value.id == "sys":
            return True
    return any(isinstance(node, ast.FunctionDef) and node.name == "__getattr__" for node in tree.body)


def _user_module_exists(name: str, directories: list[Path]) -> bool:
    return any((d / f"{name}.py").is_file() or (d / name).is_dir() for d in directories)


def check_imports_installed(tree: ast.Module, where: str, directories: list[Path]) -> None:
    """Every unconditional top-level ``import`` names a module that exists.

    Imports inside ``try`` (optional dependencies), ``if`` or functions are left to run time.
    A file that passed once passes again while it is the same tree.
    """
    if _is_dynamic(tree):
        return
    problem = syntax.MEMO.get(tree, f"missing import from {directories}",
                              lambda: _missing_import(tree, where, directories))
    if problem is not None:
        raise problem


def _missing_import(tree: ast.Module, where: str, directories: list[Path]) -> TargetError | None:
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            names = [alias.name.split(".")[0] for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            names = [statement.module.split(".")[0]]
        else:
            continue
        for name in names:
            if name in sys.builtin_module_names or _user_module_exists(name, [*directories, Path.cwd()]):
                continue
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = True  # odd, but not provably missing: let the worker find out
            if not found:
                return TargetError(
                    f"{where}:{statement.lineno}: imports {name!r}, which is not installed in this environment",
                    hint="install it, or run adcheck from the environment that has it",
                )
    return None


def _top_level_bindings(tree: ast.Module) -> dict[str, list[ast.AST]]:
    """Names bound at module level (not inside functions or classes), each with its binding nodes."""
    return syntax.MEMO.get(tree, "bindings", lambda: _bindings(tree))


def _bindings(tree: ast.Module) -> dict[str, list[ast.AST]]:
    bindings: dict[str, list[ast.AST]] = {}

    def bind(name: str, node: ast.AST) -> None:
        bindings.setdefault(name, []).append(node)

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bind(node.name, node)
            for inner in ast.walk(node):  # ``global name`` inside a function binds at module level
                if isinstance(inner, ast.Global):
                    for name in inner.names:
                        bind(name, inner)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bind(alias.asname or alias.name.split(".")[0], node)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bind(node.id, node)
            return
        if isinstance(node, ast.Lambda):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in tree.body:
        visit(statement)
    return bindings


def check_attribute_defined(tree: ast.Module, where: str, target):
    """The target's first name is bound in its module; returns its ``def`` when that is all it is.

    The ``def`` comes back only for a plain, undecorated function bound once, whose signature is
    then known without running anything.
    """
    if _is_dynamic(tree):
        return None
    head = target.attribute.split(".")[0]
    bindings = _top_level_bindings(tree)
    if head not in bindings:
        if target.file.name == "__init__.py" and _user_module_exists(head, [target.file.parent]):
            return None  # ``package:submodule.func``
        functions = [node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_")]
        listed = ", ".join(functions[:8]) + (", ..." if len(functions) > 8 else "")
        raise TargetError(
            f"target {target.text!r}: {where} defines no {head!r}",
            hint=f"functions there: {listed}" if functions else "it defines no public functions",
        )
    nodes = bindings[head]
    if "." in target.attribute or len(nodes) != 1:
        return None
    node = nodes[0]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.decorator_list:
        return node
    return None


def check_argument_count(function: ast.FunctionDef, given: int, name: str | None = None,
                         where: str | None = None) -> None:
    """``given`` positional arguments (one per ``--input``/``--random``) fit the function's signature."""
    name = name or function.name
    prefix = f"{where}: " if where else ""
    spec = function.args
    positional = [*spec.posonlyargs, *spec.args]
    n_required = len(positional) - len(spec.defaults)
    required_keywords = [a.arg for a, default in zip(spec.kwonlyargs, spec.kw_defaults) if default is None]
    signature = f"{name}({signature_text(function)})"
    if required_keywords:
        raise InputError(
            f"{prefix}{signature} has required keyword-only arguments ({', '.join(required_keywords)}); "
            "adcheck passes inputs by position",
            hint="give them defaults, or wrap the function",
        )
    too_many = spec.vararg is None and given > len(positional)
    if given >= n_required and not too_many:
        return
    if spec.vararg is not None:
        takes = f"at least {n_required}"
    elif n_required == len(positional):
        takes = f"{n_required}"
    else:
        takes = f"{n_required} to {len(positional)}"
    plural = "" if takes == "1" else "s"
    raise InputError(
        f"{prefix}{signature} takes {takes} argument{plural} but got {given}",
        hint="give one --input or --random per positional argument",
    )


def signature_text(function: ast.FunctionDef) -> str:
    spec = function.args
    positional = [*spec.posonlyargs, *spec.args]
    first_default = len(positional) - len(spec.defaults)
    parts = [a.arg + ("=..." if i >= first_default else "") for i, a in enumerate(positional)]
    if spec.vararg is not None:
        parts.append(f"*{spec.vararg.arg}")
    elif spec.kwonlyargs:
        parts.append("*")
    parts.extend(a.arg + ("" if d is None else "=...") for a, d in zip(spec.kwonlyargs, spec.kw_defaults))
    if spec.kwarg is not None:
        parts.append(f"**{spec.kwarg.arg}")
    return ", ".join(parts)
