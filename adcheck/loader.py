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
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from .errors import TargetError

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
        return origin.parents[depth]

    @property
    def file(self) -> Path:
        if self.path is not None:
            return self.path
        return Path(_find_spec(self.module).origin)


def _find_spec(module: str):
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        raise TargetError(f"cannot find module {module!r}: {exc}") from None
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


def imported_top_level_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
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
        return ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise TargetError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None


def detect_framework(path: Path) -> str:
    """What the module is written against: numpy, autograd, jax, torch or array-api."""
    tree = parse_source(path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    found = {_FRAMEWORK_IMPORTS[name] for name in names if name in _FRAMEWORK_IMPORTS}
    for framework in _PRIORITY:
        if framework in found:
            return framework
    return "numpy"


# --- rebinding -----------------------------------------------------------------------------------


def _namespace(name: str, table: dict, primary: types.ModuleType | None) -> types.ModuleType:
    """A stand-in for the module ``name``: rebound submodules from ``table`` first, then the names
    ``primary`` has, then the real module's. Each name is resolved once and cached on the module,
    so hot loops pay a plain attribute lookup.
    """
    proxy = types.ModuleType(name)

    def __getattr__(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        full = f"{name}.{attr}"
        if full in table:
            value = table[full]
        elif primary is not None and hasattr(primary, attr):
            value = getattr(primary, attr)
        else:
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


def rebinding_table(flavour: str) -> dict[str, object]:
    """Module name -> module to serve instead, for the user's imports under ``flavour``."""
    if flavour == "autograd":
        import autograd.numpy as anp
        import autograd.scipy as ascipy

        table = {}
        for sub in ("linalg", "fft", "random"):
            table[f"numpy.{sub}"] = getattr(anp, sub)
        for sub in ("special", "stats", "signal", "linalg", "misc", "integrate"):
            try:
                table[f"scipy.{sub}"] = importlib.import_module(f"autograd.scipy.{sub}")
            except ImportError:
                pass
        table["numpy"] = _namespace("numpy", table, anp)
        table["scipy"] = _namespace("scipy", table, ascipy)
        return table
    if flavour == "jax":
        import jax.numpy as jnp
        import jax.scipy as jscipy

        table = {"autograd.extend": _autograd_extend_shim()}
        for sub in ("linalg", "fft"):
            table[f"numpy.{sub}"] = getattr(jnp, sub)
            table[f"autograd.numpy.{sub}"] = getattr(jnp, sub)
        for sub in ("special", "stats", "signal", "linalg"):
            module = importlib.import_module(f"jax.scipy.{sub}")
            table[f"scipy.{sub}"] = module
            table[f"autograd.scipy.{sub}"] = module
        for dist in ("norm", "t", "multivariate_normal", "gamma", "beta", "poisson"):
            if hasattr(jscipy.stats, dist):
                table[f"scipy.stats.{dist}"] = getattr(jscipy.stats, dist)
                table[f"autograd.scipy.stats.{dist}"] = getattr(jscipy.stats, dist)
        table["numpy"] = _namespace("numpy", table, jnp)
        table["scipy"] = _namespace("scipy", table, jscipy)
        table["autograd.numpy"] = _namespace("autograd.numpy", table, jnp)
        table["autograd.scipy"] = _namespace("autograd.scipy", table, jscipy)
        table["autograd"] = _namespace("autograd", table, None)
        return table
    return {}


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
            return self.table[name] if fromlist else self.table[name.split(".")[0]]
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
