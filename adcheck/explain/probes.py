"""Runtime probes: call the user's function a few more times and watch what changes.

They run in the plain-numpy ``fd`` worker *after* the reference value and FD Jacobian are done,
on a FRESH import of the user's module (a second ``UserCodeLoader``). Why a fresh import: the FD
has already called the function hundreds of times, so the worker's own copy carries whatever
state those calls left; a fresh copy starts exactly where the reference's first call started, so
``before -> after`` in a message is the state of one call from import, and nothing the probes do
can reach the reference (which is finished anyway). Every call gets fresh copies of the inputs.

The first probe call is traced (``sys.settrace``, frames of files under the target's root only)
to record which lines of the user's code ran. It is a call on a fresh import with the reference's
input, so it runs the same lines as the reference's first call, without slowing the FD down.

Codes: ADC601 impure, ADC602 input mutated, ADC603 state changed, ADC605 integer input
promoted, ADC606 float32 precision, ADC403 with a runtime message when a jitted value differs
from the un-jitted one; each with the one severity the rule catalog gives it. ADC604 (NaN/inf in
an AD Jacobian where FD is finite) needs every backend's result and is computed in ``link``.
"""

from __future__ import annotations

import ast
import copy
import functools
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import syntax
from ..backends.calling import user_compilation_off
from ..lint.catalog import make_finding
from ..loader import resolved
from ..model import Finding, ProbeResult

MAX_REPR = 60  # characters of a value shown in a message
MAX_STATE_FINDINGS = 8  # ADC603 findings per run: the first few name the problem


def parse_user_file(path: str) -> ast.Module | None:
    """The syntax tree of a user's file, parsed once while it does not change; None when it
    cannot be read or parsed."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _parse_user_file(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _parse_user_file(path: str, size: int, mtime: int) -> ast.Module | None:
    try:
        return syntax.parse(syntax.read_python(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def user_source(path: str) -> str:
    """A user's file's text (``syntax.read_python``), read once while it does not change: a warm
    worker probes the same file for every case. Raises what ``read_python`` raises."""
    stat = os.stat(path)
    return _user_source(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _user_source(path: str, size: int, mtime: int) -> str:
    return syntax.read_python(path)


# Two identical calls of the same code in numpy agree bit for bit; this relative tolerance only
# keeps threaded reductions (a BLAS summing in another order) from raising a false alarm.
SAME_VALUE_RTOL = 1e-12


@dataclass
class _Collected:
    findings: list[Finding] = field(default_factory=list)
    executed_lines: dict[str, list[int]] | None = None

    def result(self) -> ProbeResult:
        lines = None if self.executed_lines is None else {p: tuple(n) for p, n in self.executed_lines.items()}
        return ProbeResult(tuple(self.findings), lines)


def probe(task, value, random_state=None) -> ProbeResult:
    """Findings and the lines of user code that ran, from a fresh import of the user's module.

    ``random_state``: ``random_states()`` as they were before the reference imported the module;
    the fresh import starts from them too, so a module that draws at import (a torch module's
    initial weights) builds what the reference's import built. The probes' own arithmetic runs
    under adcheck's error state, the user's calls under the one their module's import leaves
    (``finite_differences.in_users_error_state``)."""
    from ..finite_differences import own_error_state

    if random_state is not None:
        random_state()
    outside = np.geterr()
    with own_error_state():
        collected = _collect(task, value, outside)
    return collected.result()


def random_states():
    """A function that puts numpy's, Python's and (when loaded) torch's global random states
    back to what they are now."""
    import random

    saved_numpy, saved_python = np.random.get_state(), random.getstate()
    torch = sys.modules.get("torch")
    saved_torch = torch.get_rng_state() if torch is not None else None

    def restore():
        np.random.set_state(saved_numpy)
        random.setstate(saved_python)
        if saved_torch is not None:
            torch.set_rng_state(saved_torch)
        elif "torch" in sys.modules:  # loaded by the user's module: it started from torch's first seed
            sys.modules["torch"].manual_seed(sys.modules["torch"].initial_seed())

    return restore


def _collect(task, value, outside: dict) -> _Collected:
    from ..finite_differences import in_users_error_state
    from ..loader import UserCodeLoader

    result = _Collected()
    root = resolved(task.target.root)
    result.findings += _argument_findings(task)
    try:
        loader = UserCodeLoader(task.target, "numpy")
        call = in_users_error_state(loader.load, outside)
    except Exception:  # noqa: BLE001 - the reference imported it; a second import failing is no finding
        return result
    site = _Site(task.target, call.__wrapped__, loader, root, call)

    make_args = _argument_maker(task)
    before = _snapshot(site)
    args = make_args()
    pristine = make_args()
    try:
        # The calls are made as the reference made them (eagerly with --contexts); the module was
        # imported as written, so its jitted functions keep what they compiled at import.
        with user_compilation_off(task):
            first, lines = _traced(lambda: _flat_output(call(*_convert(args, task.framework))), root)
    except Exception:  # noqa: BLE001 - a probe call that fails tells us nothing more than fd did
        return result
    result.executed_lines = lines
    after = _snapshot(site)

    result.findings += _mutation_findings(site, args, pristine, task.arguments.names)
    state = _state_findings(site, before, after)

    try:
        with user_compilation_off(task):
            second = _flat_output(call(*_convert(make_args(), task.framework)))
    except Exception:  # noqa: BLE001
        second = None
    differs = [(label, v) for label, v in (("the reference's first call", value), ("a second call", second))
               if v is not None and _values_differ(first, v)]
    if not differs:
        # Every call returned the same value: state that was only created or filled in (a lazy
        # cache, a memo) changed nothing the derivative sees.
        state = [f for f in state if not f.message.endswith(LAZY_FILL)]
    result.findings += state
    if differs:
        label, other = differs[0]
        k = _first_difference(first, other)
        cause = "the function keeps state between calls (see ADC603)" if state else "randomness, time or a cache?"
        result.findings.append(site.finding(
            "ADC601",
            f"two identical calls return different values: output {k} is {_short(first[k])}, then {_short(other[k])} "
            f"in {label}; {cause}"))
    if second is not None:
        result.findings += _jit_findings(site, task, make_args, None if task.eager else second)
    return result


# --- where things are in the user's file ------------------------------------------------------


class _Site:
    """The target, its module, and where names are defined in its file."""

    def __init__(self, target, func, loader, root: Path, call=None):
        self.target = target
        self.func = func
        self.call = call or func  # the function as the probes call it (in its module's numpy error state)
        self.root = root
        self.loader = loader
        self.path = str(resolved(target.file))
        self.module = next((m for m in loader.modules.values()
                            if getattr(m, "__file__", None) and resolved(m.__file__) == Path(self.path)), None)

    def tree(self, path: str) -> ast.Module | None:
        return parse_user_file(path)

    def is_user_file(self, filename: str | None) -> bool:
        if not filename:
            return False
        path = Path(filename)
        return path.is_absolute() and resolved(path).is_relative_to(self.root) and "site-packages" not in path.parts

    def target_line(self) -> int:
        name = self.target.attribute.split(".")[-1]
        return definition_line(self.path, name, self.tree(self.path)) or 1

    def finding(self, code, message, path=None, line=None, proven: bool = False) -> Finding:
        return make_finding(code, path or self.path, line or self.target_line(), 1, message, proven=proven)


def definition_line(path: str, name: str, tree: ast.Module | None = None) -> int | None:
    """The line that defines ``name`` at module level of ``path`` (def, class or assignment), else anywhere."""
    if tree is None or tree is parse_user_file(path):  # the file as it is: its index is kept with its tree
        try:
            stat = os.stat(path)
        except OSError:
            return None
        return _file_definitions(str(path), stat.st_size, stat.st_mtime_ns).get(name)
    return _definitions(tree).get(name)


@functools.lru_cache(maxsize=64)
def _file_definitions(path: str, size: int, mtime: int) -> dict[str, int]:
    tree = _parse_user_file(path, size, mtime)
    return _definitions(tree) if tree is not None else {}


def _definitions(tree: ast.Module) -> dict[str, int]:
    """{name: line} for every name a def, class or assignment defines: the module-level
    definition when there is one, else the first met walking the tree."""
    lines: dict[str, int] = {}
    for nodes in (tree.body, ast.walk(tree)):
        for node in nodes:
            for name in _defined_names(node):
                lines.setdefault(name, node.lineno)
    return lines


def _defined_names(node) -> tuple[str, ...]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, ast.Assign):
        return tuple(t.id for t in node.targets if isinstance(t, ast.Name))
    if isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        return (node.target.id,) if isinstance(node.target, ast.Name) else ()
    return ()


def _def_line(code: types.CodeType) -> int:
    """The ``def`` line of a function (``co_firstlineno`` is the first decorator's)."""
    try:
        lines = user_source(code.co_filename).splitlines()
    except (OSError, UnicodeDecodeError, SyntaxError):
        return code.co_firstlineno
    for number in range(code.co_firstlineno, min(len(lines), code.co_firstlineno + 50) + 1):
        text = lines[number - 1].lstrip()
        if text.startswith(("def ", "async def ")) or "lambda" in text:
            return number
    return code.co_firstlineno


# --- calling ---------------------------------------------------------------------------------


def _argument_maker(task):
    """Fresh copies of the reference's arguments, in the dtype the fd worker calls with."""
    arguments = task.arguments
    x0 = arguments.flat().astype(np.float64)

    def make():
        return arguments.build(np.array(x0, dtype=arguments.dtype, copy=True), wrap=lambda a: np.array(a, copy=True))

    return make


def _arrays_in(tree, path=""):
    """(path, array) for every array in an argument (a pytree)."""
    if isinstance(tree, dict):
        return [item for key, child in tree.items() for item in _arrays_in(child, f'{path}["{key}"]')]
    if isinstance(tree, (list, tuple)):
        return [item for i, child in enumerate(tree) for item in _arrays_in(child, f"{path}[{i}]")]
    return [(path, tree)] if isinstance(tree, np.ndarray) else []


def _convert(args, framework: str):
    if framework != "torch":
        return args
    import torch

    def convert(tree):
        if isinstance(tree, dict):
            return {key: convert(child) for key, child in tree.items()}
        if isinstance(tree, (list, tuple)):
            return type(tree)(convert(child) for child in tree)
        return torch.from_numpy(tree) if isinstance(tree, np.ndarray) else tree

    return [convert(a) for a in args]


def _flat_output(out) -> np.ndarray:
    from ..backends.calling import flat_output

    return flat_output(out)


def _traced(call, root: Path):
    """Run ``call()`` recording the lines executed in files under ``root``."""
    lines: dict[str, set[int]] = {}
    user: dict[str, str | None] = {}  # co_filename -> resolved path, or None for library code

    def resolve(filename: str) -> str | None:
        if filename not in user:
            path = Path(filename)
            inside = path.is_absolute() and "site-packages" not in path.parts and resolved(path).is_relative_to(root)
            user[filename] = str(resolved(path)) if inside else None
        return user[filename]

    def local(frame, event, arg):
        if event == "line":
            lines[resolve(frame.f_code.co_filename)].add(frame.f_lineno)
        return local

    def global_trace(frame, event, arg):
        path = resolve(frame.f_code.co_filename)
        if path is None:
            return None
        lines.setdefault(path, set()).add(frame.f_lineno)
        return local

    previous = sys.gettrace()
    sys.settrace(global_trace)
    try:
        out = call()
    finally:
        sys.settrace(previous)
    return out, {path: sorted(numbers) for path, numbers in lines.items()}


def _values_differ(a: np.ndarray, b: np.ndarray) -> bool:
    """Outside float64 comparison tolerance (two calls of the same code in numpy agree bit for bit;
    the tolerance only keeps threaded reductions from raising a false alarm)."""
    if a.shape != b.shape:
        return True
    finite = np.abs(b[np.isfinite(b)])
    atol = SAME_VALUE_RTOL * (float(finite.max()) if finite.size else 0.0)
    same = (np.abs(a - b) <= atol + SAME_VALUE_RTOL * np.abs(b)) | (np.isnan(a) & np.isnan(b)) | (a == b)
    return not bool(np.all(same))


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    if a.shape != b.shape:
        return 0
    bad = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return int(np.argmax(bad))


# --- findings --------------------------------------------------------------------------------


def _argument_findings(task) -> list[Finding]:
    from ..verdict.tolerances import TOLERANCES

    path = str(resolved(task.target.file))
    line = definition_line(path, task.target.attribute.split(".")[-1], parse_user_file(path)) or 1
    findings = []
    for info in task.arguments.info:
        if not info.differentiated:
            continue
        if info.promoted_from:
            findings.append(make_finding(
                "ADC605", path, line, 1,
                f"argument {info.name or info.index} is {info.promoted_from}; promoted to {info.dtype} to differentiate it "
                "(integer arithmetic in the function, such as // or indexing, is not differentiable)"))
        elif info.dtype == "float32":
            rtol = TOLERANCES["float32"].rtol
            findings.append(make_finding(
                "ADC606", path, line, 1,
                f"argument {info.name or info.index} is float32: derivatives are compared to float32 precision (rtol {rtol:g}); "
                "pass float64 for a sharper check"))
    return findings


def _mutation_findings(site: _Site, args, pristine, names) -> list[Finding]:
    findings = []
    for name, now_tree, before_tree in zip(names, args, pristine):
        for (path, now), (_, before) in zip(_arrays_in(now_tree), _arrays_in(before_tree)):
            if not np.array_equal(now, before, equal_nan=True):
                k = _first_difference(np.ravel(now), np.ravel(before))
                findings.append(site.finding(
                    "ADC602",
                    f"the call modified argument {name}{path} in place (entry {k}: {_short(np.ravel(before)[k])} -> "
                    f"{_short(np.ravel(now)[k])}); AD backends see the input before the change"))
    return findings


# The end of an ADC603 message whose change only adds (a new attribute, new keys of a dict):
# dropped when the calls' values agree (``_collect``).
LAZY_FILL = "(filled in, nothing replaced)"


def _state_findings(site: _Site, before: dict, after: dict) -> list[Finding]:
    findings = []
    for key, (label, path, line, old) in before.items():
        if key not in after:
            continue
        new = after[key][3]
        if not _same(old, new):
            filled = f" {LAZY_FILL}" if _only_added(old, new) else ""
            findings.append(make_finding("ADC603", path, line, 1,
                                    f"state changed by one call: {label} changed {_short(old)} -> {_short(new)}"
                                    f"{filled}"))
    for key, (label, path, line, new) in after.items():
        if key not in before:
            findings.append(make_finding("ADC603", path, line, 1,
                                    f"state changed by one call: {label} was created ({_short(new)}) {LAZY_FILL}"))
    return findings[:MAX_STATE_FINDINGS]


def _only_added(old, new) -> bool:
    """``new`` is the mapping ``old`` with keys added and none changed: a cache or memo being
    filled. (A list that grows is a log or an accumulator, and stays a change.)"""
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() <= new.keys() and all(_same(old[k], new[k]) for k in old)
    return False


def _jit_findings(site: _Site, task, make_args, jitted_value: np.ndarray | None) -> list[Finding]:
    """A jitted function compared with the same call op by op: a stale trace shows as a difference.

    ``jitted_value``: a call's value with the user's jit as written, when one was made (None:
    the probe's calls were eager, ``--contexts``; one more call is made here)."""
    if not _uses_jit(site):
        return []
    try:
        import jax

        if jitted_value is None:
            jitted_value = _flat_output(site.func(*_convert(make_args(), task.framework)))
        with jax.disable_jit():
            eager = _flat_output(site.call(*_convert(make_args(), task.framework)))
    except Exception:  # noqa: BLE001 - code that only runs jitted is not this probe's business
        return []
    if not _values_differ(jitted_value, eager):
        return []
    k = _first_difference(jitted_value, eager)
    return [site.finding(
        "ADC403",
        f"jitted value differs from un-jitted value (output {k}: {_short(jitted_value[k])} jitted, "
        f"{_short(eager[k])} under jax.disable_jit()): stale global captured at trace time", proven=True)]


def _uses_jit(site: _Site) -> bool:
    if "jax" not in sys.modules:
        return False
    obj = site.func
    if hasattr(obj, "lower") and hasattr(obj, "__wrapped__"):
        return True
    try:
        source = user_source(site.path)
    except (OSError, UnicodeDecodeError, SyntaxError):
        return False
    return "jit" in source


# --- state snapshots -------------------------------------------------------------------------


def _snapshot(site: _Site) -> dict:
    """{key: (label, path, line, copy of the value)} for the state the target can read or write."""
    return _Snapshot(site).take()


class _Snapshot:
    """The state the target can reach: module-level instances of the user's classes, the target's
    closure, defaults and the globals it reads, followed into the user's functions and classes."""

    def __init__(self, site: _Site):
        self.site = site
        self.state: dict = {}
        self.seen_code: set = set()
        self.seen_objects: set[int] = set()

    def take(self) -> dict:
        site = self.site
        target = site.func
        target_line = site.target_line()
        # Module-level instances first, so a bound method's object is named where it is defined.
        if site.module is not None:
            for name, value in list(vars(site.module).items()):
                if _is_user_instance(value, site):
                    self.visit_instance(value, f"{type(value).__name__} instance {name}", site.path,
                                        definition_line(site.path, name, site.tree(site.path)) or 1)
        function = self.user_function(target)
        if function is not None:
            self.visit_function(function)
        bound_self = getattr(target, "__self__", None)
        if bound_self is not None and _is_user_instance(bound_self, site):
            self.visit_instance(bound_self, f"{type(bound_self).__name__} instance (bound to the target)", site.path,
                                target_line)
        if _is_user_instance(target, site):
            self.visit_instance(target, f"{type(target).__name__} instance {site.target.attribute}", site.path,
                                target_line)
        self.reach_wrapper(target, site.target.attribute, site.path, target_line)
        return self.state

    def user_function(self, obj) -> types.FunctionType | None:
        for _ in range(10):  # unwrap bound methods, jit/lru_cache wrappers, autograd primitives, custom_vjp
            if isinstance(obj, types.FunctionType):
                return obj if self.site.is_user_file(obj.__code__.co_filename) else None
            inner = (getattr(obj, "__func__", None) or getattr(obj, "__wrapped__", None) or getattr(obj, "fun", None))
            if inner is None or inner is obj:
                return None
            obj = inner
        return None

    def add(self, key, label, path, line, value) -> None:
        try:
            self.state[key] = (label, path, line, _freeze(value))
        except Exception:  # noqa: BLE001 - a value we cannot copy is a value we cannot watch
            pass

    def visit_instance(self, obj, label, path, line) -> None:
        if id(obj) in self.seen_objects:
            return
        self.seen_objects.add(id(obj))
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            for attr, value in list(attributes.items()):
                self.add(("attr", id(obj), attr), f"{label}: attribute {attr}", path, line, value)
        self.visit_methods(type(obj))

    def visit_methods(self, cls) -> None:
        for member in vars(cls).values():
            function = self.user_function(member)
            if function is not None:
                self.visit_function(function)

    def visit_function(self, function: types.FunctionType) -> None:
        code = function.__code__
        if code in self.seen_code:
            return
        self.seen_code.add(code)
        path = str(resolved(code.co_filename))
        line = _def_line(code)
        for name, cell in zip(code.co_freevars, function.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            self.add(("cell", id(cell)), f"closure variable {name} of {function.__name__}", path, line, value)
            self.reach(value, f"closure variable {name}", path, line)
        for i, value in enumerate(function.__defaults__ or ()):
            self.add(("default", code, i), f"default argument {i} of {function.__name__}", path, line, value)
        for name, value in (function.__kwdefaults__ or {}).items():
            self.add(("kwdefault", code, name), f"default argument {name} of {function.__name__}", path, line, value)
        self.visit_globals(function, path, line)

    def visit_globals(self, function: types.FunctionType, path: str, line: int) -> None:
        """The module globals ``function`` reads: values watched, the user's functions and classes followed."""
        module_globals = function.__globals__
        module_file = module_globals.get("__file__")
        for name in sorted(_names_read(function.__code__)):
            value = module_globals.get(name, _MISSING)
            if value is _MISSING or isinstance(value, types.ModuleType):
                continue
            global_line = definition_line(module_file, name, self.site.tree(module_file)) if module_file else None
            where = str(resolved(module_file)) if module_file else path
            if isinstance(value, type):
                self.visit_methods(value)
                continue
            if callable(value) and self.user_function(value) is not None:
                self.visit_function(self.user_function(value))
                self.reach_wrapper(value, name, where, global_line or line)
                continue
            self.add(("global", id(module_globals), name), f"global {name}", where, global_line or line, value)
            self.reach(value, f"{type(value).__name__} instance {name}", where, global_line or line)

    def reach_wrapper(self, obj, name, path, line) -> None:
        # functools.lru_cache and friends keep their cache outside __dict__: watch its size.
        info = getattr(obj, "cache_info", None)
        if callable(info):
            try:
                self.add(("cache", id(obj)), f"cache of {name} (entries)", path, line, info().currsize)
            except Exception:  # noqa: BLE001 - a cache whose size cannot be read is not watched
                pass

    def reach(self, value, label, path, line) -> None:
        if _is_user_instance(value, self.site):
            self.visit_instance(value, label, path, line)


_MISSING = object()


def _names_read(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_read(const)
    return names


def _is_user_instance(value, site: _Site) -> bool:
    cls = type(value)
    if isinstance(value, (type, types.ModuleType, types.FunctionType)):
        return False
    # The loader's own registry, not sys.modules: an earlier import of the same file (another
    # loader in this process) may still be there under the name.
    module = site.loader.modules.get(cls.__module__)
    return module is not None and site.is_user_file(getattr(module, "__file__", None))


def _freeze(value):
    """A copy to compare with later: arrays and containers deep-copied, the rest as is."""
    if isinstance(value, (types.ModuleType, types.FunctionType, type)):
        raise TypeError("not state")
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, dict, set, tuple, bytearray)):
        return copy.deepcopy(value)
    if hasattr(value, "detach") and hasattr(value, "clone"):  # a torch tensor
        return value.detach().clone()
    return value


# How deep ``_same`` follows objects that have no equality of their own.
MAX_STATE_DEPTH = 6


def _same(a, b, depth: int = 0) -> bool:
    """Equal state, not identity: arrays and tensors by value, containers element by element, a
    torch module by its parameters and buffers, other objects without an ``==`` of their own by
    their attributes (a snapshot is a deep copy: the same state in another object)."""
    if a is b:
        return True
    if type(a) is not type(b) or depth > MAX_STATE_DEPTH:
        return False
    if _is_torch_module(a):
        return a.training == b.training and _same(dict(a.state_dict(keep_vars=False)),
                                                  dict(b.state_dict(keep_vars=False)), depth + 1)
    if type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__") and not callable(a):
        return _same(vars(a), vars(b), depth + 1)
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, depth + 1) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], depth + 1) for k in a)
    if hasattr(a, "detach") and hasattr(a, "clone"):
        import torch

        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        equal_nan = a.is_floating_point() or a.is_complex()  # NaN stays NaN: no change
        return bool(torch.equal(a, b)) or (equal_nan and bool(torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)))
    try:
        result = a == b
        if isinstance(result, bool):
            return result or (isinstance(a, float) and a != a and b != b)
        return bool(np.all(result))
    except Exception:  # noqa: BLE001 - objects without equality: compare what they show
        return repr(a) == repr(b)


def _is_torch_module(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.nn.Module)


def _short(value) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        text = np.array2string(value, threshold=6, edgeitems=2, precision=6, separator=", ").replace("\n", "")
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001
            text = f"<{type(value).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."
