"""Find the user's function from ``file.py:func`` or ``package.module:func`` and import it.

A worker imports the user's code with a *flavour*: under ``autograd`` the names ``numpy`` and
``scipy.special`` (and friends) resolve to autograd's wrappers, under ``jax`` to ``jax.numpy`` and
``jax.scipy``. The rebinding lives in the user's modules' own ``__builtins__`` (a private
``__import__``), so installed libraries — autograd and jax among them — keep the real numpy.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import importlib.machinery
import importlib.util
import sys
import sysconfig
import types
from dataclasses import dataclass
from pathlib import Path

from . import syntax
from .errors import InputError, TargetError

FRAMEWORKS = ("numpy", "autograd", "jax", "torch", "array-api")


@dataclass(frozen=True)
class Target:
    """A parsed ``TARGET``: where the code is and which attribute path names the callable."""

    text: str
    path: Path | None  # the .py file, or None for an importable module name
    module: str  # the module name (derived from the file name for a path)
    attribute: str  # "func", "obj", "Class.method"

    @property
    def root(self) -> Path:
        """The directory whose modules count as user code (and get rebound)."""
        if self.path is not None:
            return self.path.parent
        spec = _find_spec(self.module)
        origin = Path(spec.origin)
        depth = self.module.count(".") + (1 if origin.name == "__init__.py" else 0)
        if not _is_installed_location(origin):
            return origin.parents[depth]
        # An installed module's parent directory is site-packages (or the standard library):
        # treating all of that as user code would re-import numpy and scipy as "user" modules.
        # Only the module's own top-level package (or the module file itself) counts.
        return origin.parents[depth - 1] if depth else origin

    @property
    def file(self) -> Path:
        if self.path is not None:
            return self.path
        return Path(_find_spec(self.module).origin)


def _is_installed_location(path: Path) -> bool:
    """Is ``path`` inside the standard library or a site-packages directory?"""
    resolved = path.resolve()
    if "site-packages" in resolved.parts or "dist-packages" in resolved.parts:
        return True
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        location = sysconfig.get_paths().get(key)
        if location and resolved.is_relative_to(Path(location).resolve()):
            return True
    return False


def _find_spec(module: str):
    try:
        spec = importlib.util.find_spec(module)
    except ImportError as exc:  # a parent package is missing (ModuleNotFoundError) or fails to import
        raise TargetError(f"cannot find module {module!r}: {exc}",
                          hint="give path/to/file.py:func or a module on sys.path") from None
    except ValueError:  # e.g. a module in sys.modules without __spec__
        spec = None
    except Exception as exc:  # noqa: BLE001 - the package's __init__ ran and failed
        raise TargetError(f"cannot find module {module!r}: importing its package failed: "
                          f"{type(exc).__name__}: {exc}") from None
    if spec is None or spec.origin in (None, "built-in", "frozen") or not spec.origin.endswith(".py"):
        raise TargetError(f"cannot find module {module!r}", hint="give path/to/file.py:func or a module on sys.path")
    return spec


def parse_target(text: str) -> Target:
    location, sep, attribute = text.rpartition(":")
    if not sep or not location or not attribute:
        raise TargetError(f"target {text!r} must look like path/to/file.py:func or package.module:func")
    if not all(part.isidentifier() for part in attribute.split(".")):
        raise TargetError(f"target {text!r}: {attribute!r} is not a Python name")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if not path.is_file():
            raise TargetError(f"target {text!r}: no such file {location}")
        return Target(text=text, path=path.resolve(), module=path.stem, attribute=attribute)
    if not all(part.isidentifier() for part in location.split(".")):
        raise TargetError(f"target {text!r}: {location!r} is neither a .py file nor a module name")
    return Target(text=text, path=None, module=location, attribute=attribute)


# --- framework detection (static, on the import statements) -------------------------------------

_FRAMEWORK_IMPORTS = {
    "array_api_compat": "array-api",
    "torch": "torch",
    "jax": "jax",
    "autograd": "autograd",
}
_PRIORITY = ("array-api", "torch", "jax", "autograd")


def imported_top_level_names(tree: ast.Module) -> set[str]:
    """The top-level package of every absolute import anywhere in ``tree``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def read_source(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from None


def parse_source(path: Path) -> ast.Module:
    source = read_source(path)
    try:
        return syntax.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(f"{path}:{exc.lineno}: syntax error: {exc.msg}",
                          hint="fix the file; adcheck has not run any of it") from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        raise TargetError(f"{path}: cannot parse: {exc}") from None


def detect_framework(path: Path) -> str:
    """What the module is written against: numpy, autograd, jax, torch or array-api."""
    names = imported_top_level_names(parse_source(path))
    found = {_FRAMEWORK_IMPORTS[name] for name in names if name in _FRAMEWORK_IMPORTS}
    for framework in _PRIORITY:
        if framework in found:
            return framework
    return "numpy"


# --- static checks in the parent, before any worker starts ---------------------------------------
#
# Why static: importing the user's module here would run its top-level code in the process that
# has to survive it (and pay for importing jax or torch once more). Each check stays silent when
# the code is too dynamic to judge (``from x import *``, a module ``__getattr__``, ``sys.path``
# edits); the worker then reports whatever really happens.

_DYNAMIC_CALLS = frozenset({"globals", "vars", "setattr", "exec", "eval", "__import__"})


def preflight(target: Target, n_arguments: int | None = None) -> None:
    """Refuse a target that cannot work: missing packages, a missing function, a wrong argument count.

    Runs none of the user's code.
    """
    path = target.file
    tree = parse_source(path)
    where = _display_path(target)
    check_imports_installed(tree, where, target.root)
    function = check_attribute_defined(tree, where, target)
    if function is not None and n_arguments is not None:
        check_argument_count(function, n_arguments, target.attribute, where=f"{where}:{function.lineno}")


def _display_path(target: Target) -> str:
    if target.path is not None:
        return target.text.rpartition(":")[0]
    return str(target.file)


def _is_dynamic(tree: ast.Module) -> bool:
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


def check_imports_installed(tree: ast.Module, where: str, root: Path) -> None:
    """Every unconditional top-level ``import`` names a module that exists.

    Imports inside ``try`` (optional dependencies), ``if`` or functions are left to run time.
    """
    if _is_dynamic(tree):
        return
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            names = [alias.name.split(".")[0] for alias in statement.names]
        elif isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module:
            names = [statement.module.split(".")[0]]
        else:
            continue
        for name in names:
            if name in sys.builtin_module_names or _user_module_exists(name, [root, Path.cwd()]):
                continue
            try:
                found = importlib.util.find_spec(name) is not None
            except (ImportError, ValueError):
                found = True  # odd, but not provably missing: let the worker find out
            if not found:
                raise TargetError(
                    f"{where}:{statement.lineno}: imports {name!r}, which is not installed in this environment",
                    hint="install it, or run adcheck from the environment that has it",
                )


def _top_level_bindings(tree: ast.Module) -> dict[str, list[ast.AST]]:
    """Names bound at module level (not inside functions or classes), each with its binding nodes."""
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


def check_attribute_defined(tree: ast.Module, where: str, target: Target) -> ast.FunctionDef | None:
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
    if isinstance(node, ast.FunctionDef) and not node.decorator_list:
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
    signature = f"{name}({_signature_text(function)})"
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


def _signature_text(function: ast.FunctionDef) -> str:
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


# --- rebinding -----------------------------------------------------------------------------------


class RebindingTable(dict):
    """Module name -> the module to serve instead. A value may be a module's import path, imported
    on first use: ``autograd.scipy`` alone pulls in scipy.stats and scipy.integrate (seconds of
    import), which a function that never imports scipy should not pay for."""

    def resolve(self, name: str):
        value = self[name]
        if isinstance(value, str):
            value = self[name] = importlib.import_module(value)
        return value


def _namespace(name: str, table: RebindingTable, primary: str | None) -> types.ModuleType:
    """A stand-in for the module ``name``: rebound submodules from ``table`` first, then the names
    the module ``primary`` has, then the real module's. Each name is resolved once and cached on
    the stand-in, so hot loops pay a plain attribute lookup.
    """
    proxy = types.ModuleType(name)

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        full = f"{name}.{attr}"
        if full in table:
            value = table.resolve(full)
        else:
            stand_in = importlib.import_module(primary) if primary else None
            try:
                value = getattr(stand_in, attr)
            except AttributeError:
                value = getattr(importlib.import_module(name), attr)
        setattr(proxy, attr, value)
        return value

    proxy.__getattr__ = __getattr__
    return proxy


def _autograd_extend_shim() -> types.ModuleType:
    """Under JAX an autograd primitive is differentiated through its body: rules are ignored."""
    shim = types.ModuleType("autograd.extend")
    shim.primitive = lambda func: func
    for name in ("defvjp", "defjvp", "defvjp_argnum", "defjvp_argnum", "defvjp_argnums", "def_linear"):
        setattr(shim, name, lambda *args, **kwargs: None)
    return shim


def rebinding_table(flavour: str) -> RebindingTable:
    """Module name -> module to serve instead, for the user's imports under ``flavour``."""
    table = RebindingTable()
    if flavour == "autograd":
        for sub in ("linalg", "fft", "random"):
            table[f"numpy.{sub}"] = f"autograd.numpy.{sub}"
        # Not find_spec: that imports autograd.scipy, whose __init__ imports every submodule.
        for sub in ("special", "stats", "signal", "linalg", "misc", "integrate"):
            table[f"scipy.{sub}"] = f"autograd.scipy.{sub}"
        table["numpy"] = _namespace("numpy", table, "autograd.numpy")
        table["scipy"] = _namespace("scipy", table, None)
    elif flavour == "jax":
        table["autograd.extend"] = _autograd_extend_shim()
        for sub in ("linalg", "fft"):
            table[f"numpy.{sub}"] = table[f"autograd.numpy.{sub}"] = f"jax.numpy.{sub}"
        for sub in ("special", "stats", "signal", "linalg"):
            table[f"scipy.{sub}"] = table[f"autograd.scipy.{sub}"] = f"jax.scipy.{sub}"
        for dist in ("norm", "t", "multivariate_normal", "gamma", "beta", "poisson"):
            table[f"scipy.stats.{dist}"] = table[f"autograd.scipy.stats.{dist}"] = f"jax.scipy.stats.{dist}"
        table["numpy"] = _namespace("numpy", table, "jax.numpy")
        table["scipy"] = _namespace("scipy", table, "jax.scipy")
        table["autograd.numpy"] = _namespace("autograd.numpy", table, "jax.numpy")
        table["autograd.scipy"] = _namespace("autograd.scipy", table, "jax.scipy")
        table["autograd"] = _namespace("autograd", table, None)
    return table


class UserCodeLoader:
    """Imports the target's module, and the user modules it imports, fresh and with a flavour."""

    def __init__(self, target: Target, flavour: str = "numpy"):
        self.target = target
        self.flavour = flavour
        self.root = target.root.resolve()
        self.table = rebinding_table(flavour)
        self.modules: dict[str, types.ModuleType] = {}
        self.builtins = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import

    # A name counts as user code when its source file lies under the target's root directory.
    def _user_origin(self, name: str) -> Path | None:
        if name in self.modules:
            return None
        parent = name.rpartition(".")[0]
        if parent and parent not in self.modules and self._user_origin(parent) is None:
            return None
        search = None
        if parent:
            search = getattr(self.modules[parent], "__path__", None)
            if search is None:
                return None
        try:
            if parent:
                spec = importlib.machinery.PathFinder.find_spec(name, search)
            else:
                spec = importlib.machinery.PathFinder.find_spec(name, [str(self.root)])
        except (ImportError, ValueError):
            return None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return None
        origin = Path(spec.origin).resolve()
        return origin if origin.is_relative_to(self.root) else None

    def _load_user_module(self, name: str, origin: Path) -> types.ModuleType:
        parent = name.rpartition(".")[0]
        if parent and parent not in self.modules:
            self._import_user(parent)
        module = types.ModuleType(name)
        module.__file__ = str(origin)
        module.__builtins__ = self.builtins
        if origin.name == "__init__.py":
            module.__path__ = [str(origin.parent)]
            module.__package__ = name
        else:
            module.__package__ = parent
        self.modules[name] = module
        sys.modules[name] = module  # the worker is a fresh process: this registry is ours alone
        if parent:
            setattr(self.modules[parent], name.rpartition(".")[2], module)
        source = origin.read_text(encoding="utf-8")
        code = compile(source, str(origin), "exec")
        exec(code, module.__dict__)
        return module

    def _import_user(self, name: str) -> types.ModuleType | None:
        if name in self.modules:
            return self.modules[name]
        origin = self._user_origin(name)
        if origin is None:
            return None
        return self._load_user_module(name, origin)

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            package = (globals or {}).get("__package__") or ""
            name = importlib.util.resolve_name("." * level + name if name else "." * level, package)
            if name.endswith("."):
                name = name.rstrip(".")
        if name in self.table:
            return self.table.resolve(name if fromlist else name.split(".")[0])
        user = self._import_user(name)
        if user is not None:
            if fromlist:
                for item in fromlist:
                    if item != "*" and not hasattr(user, item):
                        self._import_user(f"{name}.{item}")
                return user
            return self.modules[name.split(".")[0]]
        return builtins.__import__(name, globals, locals, fromlist, level)

    def load(self):
        """Import the target's module and return the callable it names."""
        target = self.target
        if target.path is not None:
            module = self._load_user_module(_module_name(target.path), target.path)
        else:
            module = self._import_user(target.module)
            if module is None:
                module = importlib.import_module(target.module)
        obj = module
        for part in target.attribute.split("."):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                raise TargetError(
                    f"target {target.text!r}: {module.__name__} has no attribute {target.attribute!r}"
                ) from None
        if not callable(obj):
            raise TargetError(f"target {target.text!r} is a {type(obj).__name__}, not a callable")
        return obj


def _module_name(path: Path) -> str:
    # A name no installed module uses, so ``sys.modules`` cannot confuse the two.
    return path.stem if path.stem.isidentifier() else "adcheck_user_module"
