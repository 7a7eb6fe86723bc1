"""The user's own objects, made a target (``adcheck.check``, through ``prepare``).

A callable and the Python values it is called with become what a run needs: the framework its
code is written for, a ``Target`` (the function imported from its file where its imports must be
rebound, else sent to the workers pickled or run in this process), its ``SourceSummary`` and its
``Arguments`` (a torch.nn.Module's parameters first, read from a copy of it).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
from pathlib import Path

from .model import Framework


def _underlying(f):
    """The Python function whose source and globals say what ``f`` is written for."""
    for _ in range(8):
        if getattr(f, "__wrapped__", None) is not None and not inspect.isfunction(f):
            f = f.__wrapped__  # jax.jit and functools.wraps-style wrappers keep the user's function here
        elif isinstance(f, functools.partial):
            f = f.func
        elif inspect.ismethod(f):
            f = f.__func__
        elif inspect.isfunction(f):
            return inspect.unwrap(f)
        elif callable(f) and not isinstance(f, type):
            forward = getattr(type(f), "forward", None)
            f = forward if _is_module(f) and forward is not None else type(f).__call__
        else:
            return f
    return f


def _is_module(obj) -> bool:
    torch = __import__("sys").modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def _packages_reached(f, depth: int = 0, seen: set | None = None) -> set[str]:
    """Top-level packages ``f``'s code refers to, through its globals, closure and the user
    functions it calls (two levels down)."""
    seen = set() if seen is None else seen
    found: set[str] = set()
    values = []
    if isinstance(f, functools.partial):
        values += [*f.args, *f.keywords.values()]
    if inspect.ismethod(f):
        values.append(f.__self__)
    function = _underlying(f)
    if id(function) in seen:
        return found
    seen.add(id(function))
    if inspect.isfunction(function):
        try:
            names = inspect.getclosurevars(function)
            values += [*names.nonlocals.values(), *names.globals.values()]
        except (TypeError, ValueError):  # a function whose code getclosurevars cannot read: its module speaks
            pass
        found.add((function.__module__ or "").partition(".")[0])
    elif function is not None:
        found.add((getattr(function, "__module__", "") or "").partition(".")[0])
    for value in values:
        if isinstance(value, types.ModuleType):
            found.add(value.__name__.partition(".")[0])
        elif inspect.isfunction(value) and depth < 2:
            found |= _packages_reached(value, depth + 1, seen)
        else:
            module = getattr(value, "__module__", None) if callable(value) else type(value).__module__
            found.add((module or "").partition(".")[0])
    return found


def _framework(f, kinds: set) -> Framework:
    from .source import framework_of

    if "torch" in kinds or _is_module(f):
        return Framework.TORCH
    if "jax" in kinds:
        return Framework.JAX
    return framework_of(_packages_reached(f))


def _parameter_names(f, module: bool) -> tuple[str, ...]:
    try:
        signature = inspect.signature(f.forward if module else f)
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in signature.parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def _pickled(f) -> tuple[bytes | None, str]:
    """``f`` pickled for a worker (the user's own modules by value, so a worker need not import
    them), or None and why it cannot be."""
    import pickle

    try:
        import cloudpickle
    except ImportError:  # without it, what the standard pickle can take
        cloudpickle = None
    if cloudpickle is None:
        try:
            return pickle.dumps(f), ""
        except Exception as exc:  # noqa: BLE001 - any object's __reduce__ may fail in its own way
            return None, f"{type(exc).__name__}: {exc}"
    registered = []
    for module in _user_modules_of(f):
        try:
            cloudpickle.register_pickle_by_value(module)
            registered.append(module)
        except ValueError:  # not in sys.modules under its name (pytest's importlib mode): by value anyway
            pass
    try:
        return cloudpickle.dumps(f), ""
    except Exception as exc:  # noqa: BLE001 - a lock, a generator, an open file in the closure
        return None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}"
    finally:
        for module in registered:
            cloudpickle.unregister_pickle_by_value(module)


def _user_modules_of(f) -> list:
    """The modules of the user's own code ``f`` is defined in (not installed libraries)."""
    import sys

    from .loader import _is_installed_location

    function = _underlying(f)
    name = getattr(function, "__module__", None)
    module = sys.modules.get(name) if name else None
    file = getattr(module, "__file__", None)
    if module is None or name == "__main__" or file is None or _is_installed_location(Path(file)):
        return []
    return [module]


def _given_target(f, payload: bytes | None, module: bool):
    from .loader import GivenFunction, Target

    from .loader import _is_installed_location

    function = _underlying(f)
    code = getattr(function, "__code__", None)
    file = Path(code.co_filename) if code is not None else None
    path = file.resolve() if file is not None and file.suffix == ".py" and file.is_file() else None
    if module and path is not None and _is_installed_location(path):
        path = None  # torch.nn.Sequential: the user's model, not torch's file, is what is checked
    name = getattr(function, "__name__", None) or type(f).__name__
    qualname = getattr(function, "__qualname__", name)
    if module:
        qualname = name = type(f).__name__
    elif isinstance(f, functools.partial):
        qualname = f"partial({qualname})"
    elif inspect.ismethod(f):
        qualname = f"{type(f.__self__).__name__}.{name}"
    shown = f"{_display(path)}:{qualname}" if path is not None else qualname
    given = GivenFunction(payload) if payload is not None else GivenFunction(None, f)
    return Target(text=shown, path=path, module=getattr(function, "__module__", None) or "__main__",
                  attribute=name if name.isidentifier() else "f", function=given)


def _display(path: Path) -> str:
    from .model import display_path

    return display_path(str(path))


def _summary(target, f, framework: Framework, names: tuple[str, ...]):
    """The ``SourceSummary`` of a given function: its file parsed (for the lint), its line."""
    import ast

    from .source import SourceSummary, parsed_file

    function = _underlying(f)
    code = getattr(function, "__code__", None)
    line = code.co_firstlineno if code is not None else None
    if target.path is not None:
        try:
            source, tree = parsed_file(target.path)
            return SourceSummary(path=target.path, source=source, tree=tree, framework=framework,
                                 definition_line=line, reached=frozenset({str(framework)}), parameters=names)
        except Exception:  # noqa: BLE001 - an unreadable source costs the lint, not the check
            pass
    return SourceSummary(path=target.path or Path("<function>"), source="", tree=ast.Module(body=[], type_ignores=[]),
                         framework=framework, definition_line=None, reached=frozenset({str(framework)}),
                         parameters=names)


def module_level_target(func) -> str:
    """``file.py:qualname`` for a module-level function (or a method of a module-level class)."""
    unwrapped = inspect.unwrap(func)  # functools.wraps-style decorators
    if getattr(unwrapped, "_is_autograd_primitive", False) and callable(getattr(unwrapped, "fun", None)):
        unwrapped = unwrapped.fun  # autograd's @primitive keeps the user's function here
    code = getattr(unwrapped, "__code__", None)
    qualname = getattr(unwrapped, "__qualname__", None)
    if code is None or not qualname:
        raise TypeError(f"adcheck needs a Python function, got {type(func).__name__}")
    if "<locals>" in qualname or "<lambda>" in qualname:
        raise TypeError(
            f"{qualname} is defined inside a function or is a lambda; adcheck imports the function "
            "from its file in a fresh process, so define it at module level"
        )
    return f"{code.co_filename}:{qualname}"


def _file_route(f, framework: Framework):
    """``file.py:func`` for a module-level function written for numpy (or autograd): rebinding
    its imports, as the command line does, lets autograd and JAX differentiate it. Else None."""
    if framework not in (Framework.NUMPY, Framework.AUTOGRAD) or not inspect.isfunction(f):
        return None
    try:
        text = module_level_target(f)
    except TypeError:  # a closure or a lambda: checked as the object it is
        return None
    if not text.partition(".py:")[1] or not Path(text.rpartition(":")[0]).is_file():
        return None
    from .loader import parse_target

    return parse_target(text)


def _wrt(wrt, raw: list, names: tuple[str, ...]):
    from .inputs import select, validate_wrt

    if wrt is None:
        return {(i, ()) for i in range(len(raw))}
    if isinstance(wrt, str):
        return select(raw, names, wrt, "wrt")
    return {(i, ()) for i in validate_wrt(list(wrt) if isinstance(wrt, (list, tuple)) else wrt, len(raw), "wrt")}


def given_arguments(f, args, wrt):
    """(the ``Arguments`` of ``f``'s call at ``args``, the framework of the code, the arguments'
    names); a module's parameters come first, as ``params``, in float64 copies."""
    from .inputs import numpy_tree, promote

    kinds: set = set()
    raw = [numpy_tree(a, f"argument {i}", kinds) for i, a in enumerate(args)]
    module = _is_module(f)
    framework = _framework(f, kinds)
    names = _parameter_names(f, module)
    if module:
        import copy

        from .backends.calling import module_parameters

        parameters, names = module_parameters(copy.deepcopy(f))  # float64 copies; the caller's module is left as it is
        raw, names = [parameters, *raw], ("params", *names)
        if isinstance(wrt, (int, list, tuple)):  # indices count the inputs, as on the command line
            wrt = [int(i) + 1 for i in ([wrt] if isinstance(wrt, int) else wrt)]
    names = tuple(names[i] if i < len(names) else f"arg{i}" for i in range(len(raw)))
    arguments = dataclasses.replace(promote(raw, _wrt(wrt, raw, names), names), module_target=module)
    return arguments, framework, names


def route(f, framework, names, isolation: str, module: bool):
    """(target, summary, where it runs: "process" or "none", notes): code that must be rebound is
    imported from its file in workers; anything else is sent to them pickled, or runs here."""
    notes = []
    target = None if module else _file_route(f, framework)
    if target is not None:
        from .source import summarize

        if isolation == "none":
            notes.append(f"{framework} code is differentiated by rebinding its imports in a fresh import of its file: "
                         "it ran in worker processes although isolation='none' was asked")
        return target, summarize(target), "process", notes
    payload, why = (None, "") if isolation == "none" else _pickled(f)
    ran = "process" if payload is not None else "none"
    if isolation == "process" and payload is None:
        notes.append(f"the function cannot be pickled for a worker process ({why}): it ran in this process, "
                     "without a timeout or a memory limit")
    given = f
    if module and payload is None:
        import copy

        given = copy.deepcopy(f)  # the backends make it float64: not the caller's module
    target = _given_target(given, payload, module)
    if ran == "none":
        notes.append("isolation: ran in this process (isolation='none')")
    return target, _summary(target, f, framework, names), ran, notes
