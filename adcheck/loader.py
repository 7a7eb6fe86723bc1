"""Find the user's function from ``file.py:func`` or ``package.module:func`` and import it.

A worker imports the user's code with a *flavour*: under ``autograd`` the names ``numpy`` and
``scipy.special`` (and friends) resolve to autograd's wrappers, under ``jax`` to ``jax.numpy`` and
``jax.scipy``. The rebinding lives in the user's modules' own ``__builtins__`` (a private
``__import__``), so installed libraries — autograd and jax among them — keep the real numpy.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import importlib.machinery
import importlib.util
import os
import re
import sys
import sysconfig
import types
from dataclasses import dataclass, field
from pathlib import Path

from . import syntax
from .errors import TargetError

FRAMEWORKS = ("numpy", "autograd", "jax", "torch", "array-api")


@dataclass(frozen=True)
class Target:
    """A parsed ``TARGET``: where the code is and which attribute path names the callable."""

    text: str
    path: Path | None  # the .py file, or None for an importable module name
    module: str  # the module name (derived from the file name for a path)
    attribute: str  # "func", "obj", "Class.method"
    # A callable given as a Python object (``adcheck.check``), not imported from a file: a
    # ``GivenFunction``. ``path`` is then the file it was defined in, when it has one.
    function: GivenFunction | None = field(default=None, compare=False, repr=False)

    @property
    def root(self) -> Path:
        """The directory whose modules count as user code (and get rebound).

        Found without running any of the user's code; see ``ModuleLayout.root``.
        """
        return module_layout(self).root

    @property
    def file(self) -> Path:
        if self.path is not None:
            return self.path
        return Path(_find_spec(self.module).origin)


@dataclass(frozen=True)
class ModuleLayout:
    """Where a target's module sits in the import system: what Python would import it as, and from
    which directory. Worked out from the file system alone, so the parent process runs none of the
    user's code to learn it."""

    name: str  # the dotted name Python imports the module under: "mypkg.sub.mod"
    origin: Path  # its source file
    base: Path  # the directory its top-level package (or the module itself) is imported from
    installed: bool  # inside site-packages or the standard library

    @property
    def is_package(self) -> bool:
        return self.origin.name == "__init__.py"

    @property
    def root(self) -> Path:
        """The user-code boundary: modules whose files lie under it are imported with the flavour.

        For a module of the user's own it is ``base``: the directory Python would import the
        target's top-level package from (for a lone file, that file's directory), so every module
        of the package, and the modules beside it, are rebound.
        """
        if not self.installed:
            return self.base
        # An installed module's base is site-packages (or the standard library): treating all of
        # that as user code would re-import numpy and scipy as "user" modules. Only the module's
        # own top-level package (or the module file itself) counts.
        depth = self.name.count(".") + self.is_package
        return self.origin.parents[depth - 1] if depth else self.origin


@dataclass(frozen=True)
class GivenFunction:
    """The callable ``adcheck.check`` was given, as a worker receives it.

    For a worker process it travels pickled (``payload``: standard pickle, or cloudpickle for a
    closure or a lambda), and each task unpickles a fresh copy, as a file target is imported
    afresh; for a run in this process (isolation "none") it is the object itself (``obj``),
    which never leaves the process.
    """

    payload: bytes | None = None
    obj: object = field(default=None, compare=False)

    def load(self):
        if self.payload is None:
            return self.obj
        import pickle

        return pickle.loads(self.payload)  # cloudpickle's output needs only cloudpickle importable

    def __reduce__(self):
        if self.payload is None:
            raise TypeError("a function given for an in-process run cannot be sent to a worker")
        return (GivenFunction, (self.payload,))


# The name a module gets when its file name is not one Python could import (``my-func.py``): a
# name no installed module uses, so ``sys.modules`` cannot confuse the two.
_PLACEHOLDER_NAME = "adcheck_user_module"


def module_layout(target: Target) -> ModuleLayout:
    """Where ``target``'s module sits; see ``ModuleLayout``."""
    if target.path is None and target.function is not None:  # defined in a notebook or a string
        return ModuleLayout(name=target.module, origin=Path.cwd() / "<function>", base=Path.cwd(), installed=False)
    if target.path is not None:
        try:
            stat = os.stat(target.path)
        except OSError:
            return _file_layout(target.path)  # the loader reports the missing file
        return _known_file_layout(target.path, stat.st_size, stat.st_mtime_ns)
    spec = _find_spec(target.module)
    origin = Path(os.path.abspath(spec.origin))  # not resolved: its parents are the sys.path entry's
    depth = spec.name.count(".") + (origin.name == "__init__.py")
    return ModuleLayout(name=spec.name, origin=origin, base=origin.parents[depth],
                        installed=_is_installed_location(origin))


def _is_package_directory(directory: Path) -> bool:
    return directory.name.isidentifier() and (directory / "__init__.py").is_file()


@functools.lru_cache(maxsize=256)
def _known_file_layout(path: Path, size: int, mtime: int) -> ModuleLayout:
    """``_file_layout`` once per version of the file: a case's parent and every one of its
    workers ask for it several times (0.17 ms each: it resolves paths and reads the file)."""
    return _file_layout(path)


def _file_layout(path: Path) -> ModuleLayout:
    """A file's dotted name and base, as ``python -m`` from the right directory would import it.

    The package root is found by walking up through directories that hold an ``__init__.py``.
    A file whose relative imports reach above that (a namespace package, which has no
    ``__init__.py`` to find) takes as many more directories as its deepest relative import needs,
    and no more: reaching further up would make a whole checkout count as user code.
    """
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem if path.stem.isidentifier() else _PLACEHOLDER_NAME]
    directory = path.parent
    while _is_package_directory(directory):
        parts.insert(0, directory.name)
        directory = directory.parent
    if not parts:  # an __init__.py in a directory whose name Python cannot import
        parts, directory = [_PLACEHOLDER_NAME], path.parent.parent
    installed = _is_installed_location(path)
    if not installed:
        depth = len(parts) - (not is_package)  # how many package levels the name has
        missing = _deepest_relative_import(path, depth) - depth
        namespace = []
        candidate = directory
        while len(namespace) < missing and candidate.name.isidentifier():
            namespace.insert(0, candidate.name)
            candidate = candidate.parent
        if namespace and len(namespace) == missing:
            parts, directory = namespace + parts, candidate
    return ModuleLayout(name=".".join(parts), origin=path, base=directory, installed=installed)


def _deepest_relative_import(path: Path, enough: int = 0) -> int:
    """The most leading dots of any ``from . import`` in the file (0 when it has none).

    A scan of the bytes answers when it finds no more than ``enough`` dots (a package's own
    relative imports, the common case); only a file that seems to reach higher is parsed, so a
    ``from ..`` in a string or a comment does not count.
    """
    try:
        data = path.read_bytes()
    except OSError:
        return 0
    dots = max((len(found) for found in re.findall(rb"\bfrom\s*(\.+)", data)), default=0)
    if dots <= enough:
        return dots
    try:
        tree = syntax.parse(importlib.util.decode_source(data), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, RecursionError, MemoryError):
        return 0  # the loader reports the file's real problem
    return max((node.level for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)), default=0)


def resolved(path) -> Path:
    """``Path(path).resolve()``, remembered for the process: a warm worker resolves the same few
    files for every case and backend (the target, its root, each module it imports), and a
    resolve is a system call per path component. Symlinks are taken not to move during a run."""
    text = os.fspath(path)
    return _resolved(text if os.path.isabs(text) else os.path.join(os.getcwd(), text))


@functools.lru_cache(maxsize=4096)
def _resolved(absolute: str) -> Path:
    return Path(absolute).resolve()


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    return tuple(Path(paths[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key))


def _is_installed_location(path: Path) -> bool:
    """Is ``path`` inside the standard library or a site-packages directory?"""
    return _is_installed_resolved(resolved(path))


@functools.lru_cache(maxsize=4096)
def _is_installed_resolved(path: Path) -> bool:
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return True
    return any(path.is_relative_to(root) for root in _installed_roots())


# Compiled user modules, by file and its size and modification time: a warm worker that imports
# the same file for case after case compiles it once. Each import still executes it afresh into a
# new module, so the code object is all that is shared, and code objects are immutable.
_COMPILED: dict[tuple, object] = {}


def _compiled(origin: str):
    try:
        stat = os.stat(origin)
        key = (origin, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None
    if key is not None and key in _COMPILED:
        return _COMPILED[key]
    # Bytes, so a coding declaration is honoured; dont_inherit, so this file's
    # ``from __future__ import annotations`` does not leak into the user's code.
    code = compile(Path(origin).read_bytes(), origin, "exec", dont_inherit=True)
    if key is not None:
        _COMPILED[key] = code
    return code


def _find_spec_without_importing(module: str):
    """``module``'s spec, found the way the import system finds it, but without importing its
    parent packages: ``importlib.util.find_spec("mypkg.core")`` runs ``mypkg/__init__.py``, which
    here would be the user's code running in the parent process."""
    head, *rest = module.split(".")
    spec = importlib.util.find_spec(head)  # a top-level name: imports nothing
    name = head
    for part in rest:
        if spec is None:
            return None
        loaded = sys.modules.get(name)
        locations = getattr(loaded, "__path__", None) if loaded is not None else spec.submodule_search_locations
        if locations is None:
            return None
        name = f"{name}.{part}"
        spec = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if find is not None and (spec := find(name, list(locations))) is not None:
                break
    return spec


def _find_spec(module: str):
    try:
        spec = _find_spec_without_importing(module)
        if spec is None and module.rpartition(".")[0] in sys.modules:
            # e.g. ``os.path``: a name a loaded module put in sys.modules; asking costs no import
            spec = importlib.util.find_spec(module)
    except ImportError as exc:
        raise TargetError(f"cannot find module {module!r}: {exc}",
                          hint="give path/to/file.py:func or a module on sys.path") from None
    except ValueError:  # e.g. a module in sys.modules without __spec__
        spec = None
    except Exception as exc:  # noqa: BLE001 - an odd finder on sys.meta_path failed
        raise TargetError(f"cannot find module {module!r}: {type(exc).__name__}: {exc}") from None
    if spec is None or spec.origin in (None, "built-in", "frozen") or not spec.origin.endswith(".py"):
        raise TargetError(f"cannot find module {module!r}", hint="give path/to/file.py:func or a module on sys.path")
    return spec


def parse_target(text: str, base: Path | None = None) -> Target:
    """The one parser of ``path/to/file.py:func`` and ``package.module:func``; a relative file path
    is taken from ``base`` (default: the working directory)."""
    location, sep, attribute = text.rpartition(":")
    if not sep or not location or not attribute:
        raise TargetError(f"target {text!r} must look like path/to/file.py:func or package.module:func")
    if not all(part.isidentifier() for part in attribute.split(".")):
        raise TargetError(f"target {text!r}: {attribute!r} is not a Python name")
    if location.endswith(".py") or "/" in location or "\\" in location:
        path = Path(location)
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if not path.is_file():
            raise TargetError(f"target {text!r}: no such file {location if base is None else path}")
        return Target(text=text, path=path.resolve(), module=path.stem, attribute=attribute)
    if not all(part.isidentifier() for part in location.split(".")):
        raise TargetError(f"target {text!r}: {location!r} is neither a .py file nor a module name")
    return Target(text=text, path=None, module=location, attribute=attribute)


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


# What a stand-in answers from the real module: its metadata. Never __path__ (the stand-in is not
# a package to import from) or the import system's own attributes.
REAL_MODULE_DUNDERS = frozenset({"__version__", "__all__", "__file__"})


def _namespace(name: str, table: RebindingTable, primary: str | None) -> types.ModuleType:
    """A stand-in for the module ``name``: rebound submodules from ``table`` first, then the names
    the module ``primary`` has, then the real module's. Each name is resolved once and cached on
    the stand-in, so hot loops pay a plain attribute lookup.
    """
    proxy = types.ModuleType(name)

    def __getattr__(attr):
        if attr in REAL_MODULE_DUNDERS:  # `if np.__version__ >= "2"` asks about numpy, whatever computes
            return getattr(importlib.import_module(name), attr)
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


def _nothing_watches() -> None:
    """No one fingerprints this process before user code runs (the default)."""


# Called by ``UserCodeLoader.load`` before it runs any of the user's code: a worker that serves
# several tasks fingerprints itself there, after adcheck's own set-up (``pristine.Watch``).
before_user_code = _nothing_watches


class UserCodeLoader:
    """Imports the target's module, and the user modules it imports, fresh and with a flavour.

    Imports follow Python's own rules: a package's ``__init__`` runs before its submodules,
    relative imports resolve against ``__package__``, a regular module anywhere on ``sys.path``
    wins over a namespace directory, builtin and frozen modules over any file. The one difference:
    a module whose source lies under the target's root (and not in site-packages or the standard
    library) is executed anew with this loader's ``__builtins__``, so its own imports are rebound
    too. Everything else is imported the ordinary way and keeps the real numpy.
    """

    def __init__(self, target: Target, flavour: str = "numpy"):
        self.target = target
        self.flavour = flavour
        self.layout = module_layout(target)
        self.root = resolved(self.layout.root)
        self.table = rebinding_table(flavour)
        self.modules: dict[str, types.ModuleType] = {}
        self.builtins = dict(builtins.__dict__)
        self.builtins["__import__"] = self._import
        # Top-level user modules are looked for where Python would find the target's top-level
        # package. An installed target has no such place: only the target file itself is rebound.
        self.search = [] if self.layout.installed else [str(self.layout.base)]
        # A module inside a package may import a sibling by plain name (``import helpers``), which
        # works when Python runs the file as a script. Honoured as a last resort only, for names
        # nothing installed has, so a package's own ``torch.py`` never hides the real torch.
        inside_package = target.path is not None and target.path.parent != self.layout.base
        self.script_directory = str(target.path.parent) if inside_package and not self.layout.installed else None
        self._initial_path = set(_path_entries())
        self._not_user: set[str] = set()  # names already found not to be user code ...
        self._not_user_path = tuple(sys.path)  # ... while sys.path was this

    # --- finding user modules ---------------------------------------------------------------

    def _is_user_location(self, location: str) -> bool:
        path = resolved(location)
        return path.is_relative_to(self.root) and not _is_installed_location(path)

    def _is_user_spec(self, spec) -> bool:
        if spec.has_location and spec.origin:
            return spec.origin.endswith(".py") and self._is_user_location(spec.origin)
        # a namespace package: user code when one of its portions is
        return any(self._is_user_location(p) for p in spec.submodule_search_locations or ())

    def _top_level_spec(self, name: str):
        if name in sys.builtin_module_names or importlib.machinery.FrozenImporter.find_spec(name) is not None:
            return None  # Python finds these before looking at any directory
        # Directories the user's code put on sys.path count too (a package that vendors code).
        added = [entry for entry in _path_entries() if entry not in self._initial_path]
        spec = _path_spec(name, self.search + added)
        installed = _installed_spec(name) if spec is None or not spec.has_location else None
        if spec is not None and not spec.has_location and installed is not None and installed.has_location:
            return None  # a regular module anywhere on sys.path wins over a namespace directory
        if spec is None and installed is None and self.script_directory:
            spec = _path_spec(name, [self.script_directory])
        return spec

    def _import_user(self, name: str) -> types.ModuleType | None:
        """The user module ``name``, imported now if need be; None when ``name`` is not user code."""
        if name in self.modules:
            return self.modules[name]
        if self._not_user_path != tuple(sys.path):  # a new directory may hold user code
            self._not_user.clear()
            self._not_user_path = tuple(sys.path)
        if name in self._not_user:
            return None
        parent = name.rpartition(".")[0]
        if parent:
            package = self._import_user(parent)  # its __init__ runs first, as in Python
            if name in self.modules:  # ... and may have imported this very module
                return self.modules[name]
            locations = getattr(package, "__path__", None) if package is not None else None
            spec = _path_spec(name, list(locations)) if locations is not None else None
        else:
            spec = self._top_level_spec(name)
        if spec is None or not self._is_user_spec(spec):
            self._not_user.add(name)
            return None
        return self._execute(spec)

    # --- executing them ---------------------------------------------------------------------

    def _claims_sys_modules(self, spec) -> bool:
        """May this user module go into ``sys.modules`` (where pickle, dataclasses and
        ``importlib.import_module`` look for it)?

        Not when that would hide a module already there from another file (adcheck and its
        libraries keep theirs), a standard-library name (adcheck may import it later), or for a
        file in an installed location (the real package's own imports must get the real module).
        """
        top = spec.name.partition(".")[0]
        if top in sys.stdlib_module_names or top in sys.builtin_module_names:
            return False
        if spec.has_location and spec.origin and _is_installed_location(Path(spec.origin)):
            return False
        existing = sys.modules.get(spec.name)
        return existing is None or _same_source(existing, spec)

    def _execute(self, spec) -> types.ModuleType:
        name = spec.name
        module = importlib.util.module_from_spec(spec)
        module.__builtins__ = self.builtins
        claimed = self._claims_sys_modules(spec)
        self.modules[name] = module
        if claimed:
            sys.modules[name] = module  # before running it, as Python does: cyclic imports find it
        try:
            if spec.has_location and spec.origin:
                exec(_compiled(spec.origin), module.__dict__)
        except BaseException:
            del self.modules[name]
            if claimed and sys.modules.get(name) is module:
                del sys.modules[name]
            raise
        if claimed:  # a module may replace itself in sys.modules; Python returns the replacement
            module = self.modules[name] = sys.modules.get(name, module)
        parent, _, child = name.rpartition(".")
        if parent in self.modules:
            setattr(self.modules[parent], child, module)
        return module

    def _load_target_file(self, path: Path) -> types.ModuleType:
        """The target file itself, under its dotted name, after the packages that contain it.

        The containing packages are taken from the directories the file is in, not searched for,
        so another ``mypkg`` elsewhere on sys.path cannot stand in for the target's own.
        """
        parts = self.layout.name.split(".")
        directory = self.layout.base
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            directory = directory / parts[depth - 1]
            if package in self.modules or self.layout.installed:
                continue
            init = directory / "__init__.py"
            if init.is_file():
                spec = importlib.util.spec_from_file_location(package, init,
                                                              submodule_search_locations=[str(directory)])
            else:  # a namespace package
                spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
                spec.submodule_search_locations = [str(directory)]
            self._execute(spec)
        existing = self.modules.get(self.layout.name)  # a package __init__ may have imported it
        if existing is not None and resolved(getattr(existing, "__file__", None) or "") == path:
            return existing
        locations = [str(path.parent)] if self.layout.is_package else None
        spec = importlib.util.spec_from_file_location(self.layout.name, path, submodule_search_locations=locations)
        return self._execute(spec)

    # --- the import hook ----------------------------------------------------------------------

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            name = importlib.util.resolve_name("." * level + name, _package_of(globals))
        top = name.partition(".")[0]
        if name in self.table:
            return self.table.resolve(name if fromlist else top)
        if not fromlist and top in self.table:  # ``import numpy.random``: binds the name numpy
            builtins.__import__(name)
            return self.table.resolve(top)
        module = self._import_user(name)
        if module is None:
            return builtins.__import__(name, globals, locals, fromlist, 0)
        if fromlist:
            self._import_from(module, name, fromlist)
            return module
        return self.modules[top] if top in self.modules else importlib.import_module(top)

    def _import_from(self, module, name: str, fromlist) -> None:
        """``from name import a, b``: import the submodules among ``a, b`` (Python's _handle_fromlist)."""
        if not hasattr(module, "__path__"):
            return
        for item in fromlist:
            if not isinstance(item, str):
                continue
            if item == "*":
                everything = getattr(module, "__all__", None)
                if isinstance(everything, (list, tuple)):
                    self._import_from(module, name, [x for x in everything if x != "*"])
                continue
            if hasattr(module, item):
                continue
            child = f"{name}.{item}"
            if self._import_user(child) is None and sys.modules.get(name) is module:
                # Not user code (a compiled extension inside the package, say): the ordinary
                # import finds it through the package's __path__.
                try:
                    importlib.import_module(child)
                except ModuleNotFoundError as exc:
                    if exc.name != child:
                        raise

    def load(self):
        """Import the target's module and return the callable it names (a given function: a
        fresh copy of it, or the object itself in process)."""
        before_user_code()
        target = self.target
        if target.function is not None:
            return target.function.load()
        if not self.layout.installed and str(self.layout.base) not in _path_entries():
            # Last on sys.path, as the directory Python would import the target from: what the
            # user's code imports by name through importlib (or a multiprocessing child) is found,
            # and nothing installed is hidden.
            sys.path.append(str(self.layout.base))
        if target.path is not None:
            module = self._load_target_file(target.path)
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


def _path_entries() -> tuple[str, ...]:
    return _absolute_entries(os.getcwd(), tuple(entry for entry in sys.path if isinstance(entry, str)))


@functools.lru_cache(maxsize=64)
def _absolute_entries(cwd: str, entries: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(os.path.abspath(os.path.join(cwd, entry or os.curdir)) for entry in entries)


def _path_spec(name: str, locations: list[str]):
    try:
        return importlib.machinery.PathFinder.find_spec(name, locations)
    except (ImportError, ValueError):
        return None


def _installed_spec(name: str):
    """The spec the ordinary import would use for the top-level ``name``; imports nothing."""
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _package_of(globals) -> str:
    """The package a relative import is relative to, as Python works it out."""
    globals = globals or {}
    package = globals.get("__package__")
    if package is None:
        spec = globals.get("__spec__")
        if spec is not None:
            package = spec.parent
        else:
            name = globals.get("__name__", "")
            package = name if "__path__" in globals else name.rpartition(".")[0]
    if not package:
        raise ImportError("attempted relative import with no known parent package")
    return package


def _same_source(module, spec) -> bool:
    """Was ``module`` made from the same file (or namespace directories) as ``spec`` describes?"""
    file = getattr(module, "__file__", None)
    if spec.has_location and spec.origin:
        return bool(file) and resolved(file) == resolved(spec.origin)
    paths = getattr(module, "__path__", None)
    if file or paths is None:
        return False
    try:
        return bool({Path(p).resolve() for p in paths} & {Path(p).resolve() for p in spec.submodule_search_locations})
    except TypeError:
        return False
