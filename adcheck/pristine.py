"""Whether a warm worker is still as clean as it was before any user code ran in it.

A worker of ``adcheck check`` serves task after task, so that JAX and torch are imported and
their operations compiled once, not once per case. Each task imports the user's module afresh,
and the worker puts back the process state it knows how to (``workers._ProcessState``). What
else a module can change stays in the process: a framework's namespace (``jnp.sin = jnp.cos``),
a registered derivative rule of a library function, an entry of ``sys.modules``, JAX's or
torch's configuration, a signal handler or an alarm, an import hook, a trace function, a thread
left running. Those are not put back but detected: the worker fingerprints itself just before
the first user code of its life runs (``user_code_starts``, after adcheck's own set-up), and
compares at the end of every task, before ``_ProcessState`` puts back what it knows
(``Watch.task_ends``). A worker that differs in anything serves no further task; the next one
goes to a fresh worker forked from the fork server, which has imported the frameworks and never
any user code.

Why detect rather than fork every case's worker afresh: a fresh worker pays JAX's start and the
lowering of every operation again (the 200-case benchmark ran six times slower that way; README,
Speed), where comparing cost 1.7 ms a task in a worker with numpy, scipy, JAX and autograd loaded.

What is compared, each for a reason:

- The namespaces of the frameworks' public modules (``numpy``, ``numpy.linalg``, ``jax.numpy``,
  ``scipy.special``, ``torch.nn.functional``, ``autograd.numpy``, ``math``, ``builtins``, ...) and
  of the classes users patch (``torch.Tensor``): every public name must still hold the object it
  held (or, for a value compared by value, an equal one of the same type). A name added is a
  change too, unless it holds a module (importing a submodule sets one on its package). Names
  with a leading underscore are the library's own state (a flag set on first use) and are not
  compared.
- What a framework's own import changes (``torch._dynamo``, imported on torch's first function
  transform, wraps ``torch.manual_seed``; a public module imported on first use) is the
  framework's when the process was clean as the import began: an import hook (``_Announcer``)
  sees the outermost import of a framework's modules begin and end, before the code that
  imported them goes on, and the fingerprint takes in what it changed. A framework module that
  appears in ``sys.modules`` any other way is a change.
- The derivative-rule registries of autograd and JAX: every rule registered at the fingerprint
  is still the same object (the user's own new primitives may add rules).
- ``sys.modules``: every module present is still there, the same object; ``sys.meta_path`` and
  ``sys.path_hooks``.
- Process settings: JAX's configuration (the effective values), torch's global modes, numpy's
  error state, error callback and print options, the handler of every signal, the interval
  timers (``signal.alarm``), the trace and profile functions, the garbage collector's switches,
  the Python threads alive.

Not watched: installed packages other than these frameworks, deeper modules than
``MAX_DEPTH``, and mutable objects changed in place (an array constant's entries, a cache's
contents); the user's own modules are imported afresh for every task anyway.
"""

from __future__ import annotations

import _signal
import gc
import signal
import sys
import threading
import types

# The packages whose public modules a user's code may patch and a later case would then run
# with: the array frameworks and the standard library's numerics. adcheck's own modules are
# not watched: a user's module that patches adcheck is out of reach of any check.
FRAMEWORKS = frozenset({"numpy", "scipy", "jax", "autograd", "torch", "array_api_compat", "array_api_strict",
                        "math", "cmath", "builtins", "operator", "functools", "random"})

# Public modules this many dotted parts deep at most (``jax.scipy.special``): deeper ones are
# implementation (torch has 600 public modules; the first three levels hold every name its users
# call, and a fingerprint of all of them costs a worker several milliseconds a task).
MAX_DEPTH = 3

# Classes whose attributes users patch (a method of ``torch.Tensor``), watched like a module's
# namespace when their module is loaded: (module, attribute path).
CLASSES = (("torch", "Tensor"), ("torch.nn", "Module"), ("autograd.numpy.numpy_boxes", "ArrayBox"))

# Registries of derivative rules, keyed by primitive: a rule registered for a library's
# primitive (``defvjp(anp.sin, ...)``) changes every later derivative of it. (module, attribute)
REGISTRIES = (("autograd.core", "primitive_vjps"), ("autograd.core", "primitive_jvps"),
              ("jax._src.interpreters.ad", "primitive_jvps"), ("jax._src.interpreters.ad", "primitive_transposes"))

# Objects in watched namespaces whose own attributes hold a derivative rule: JAX's custom_jvp and
# custom_vjp functions (``jax.nn.relu.defjvp(...)`` replaces the rule of the library's relu).
RULE_HOLDERS = (("jax._src.custom_derivatives", "custom_jvp"), ("jax._src.custom_derivatives", "custom_vjp"))

_MISSING = object()


def _watched_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in FRAMEWORKS and len(parts) <= MAX_DEPTH and not any(p.startswith("_") for p in parts)


def _loaded(module: str, path: str):
    found = sys.modules.get(module)
    for part in path.split("."):
        found = getattr(found, part, None) if found is not None else None
    return found


class _Namespaces:
    """The names in a set of namespaces (modules' and classes' ``__dict__``) and what each held.

    An unchanged set compares in C: a list of dicts against copies of them, each name's value
    compared by identity first (so an array or a function is the same only as itself, and
    comparing costs a tenth of a millisecond where the identities of every value, as numbers,
    cost ten times that); a value replaced by an *equal* one (a float by the same float) counts
    as the same.
    """

    def __init__(self, owners: dict[str, object]):
        self.owners: dict[str, object] = {}
        self.saved: dict[str, dict] = {}  # copies: they also keep the objects alive
        self.add(owners)

    def add(self, owners: dict[str, object]) -> None:
        for label, owner in owners.items():
            if label not in self.owners:
                self.owners[label] = owner
                self.saved[label] = dict(vars(owner))
        self._spaces = list(self.saved.values())
        self._owners = list(self.owners.values())

    def differences(self) -> list[str]:
        try:
            if list(map(vars, self._owners)) == self._spaces:
                return []
        except Exception:  # noqa: BLE001 - a replaced value whose == fails (an array): look name by name
            pass
        changed, accepted = [], {}
        for label, owner in self.owners.items():
            now, before = vars(owner), self.saved[label]
            if now == before:
                continue
            replaced = [name for name, value in before.items() if not name.startswith("_")
                        and now.get(name, _MISSING) is not value and not _equal(now.get(name, _MISSING), value)]
            added = [name for name in now if name not in before and not name.startswith("_")
                     and not isinstance(now[name], types.ModuleType)]
            if replaced or added:
                changed += [f"{label}.{name}" for name in (*replaced, *added)]
            else:
                accepted[label] = dict(now)  # a submodule imported, a library's private flag set
        if not changed and accepted:
            self.saved.update(accepted)
            self._spaces = list(self.saved.values())
        return changed

    def retake(self) -> None:
        """What every namespace holds now is what it should hold."""
        self.saved = {label: dict(vars(owner)) for label, owner in self.owners.items()}
        self._spaces = list(self.saved.values())


def _equal(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - no answer is no proof of sameness
        return False


def _settings() -> dict[str, object]:
    """Process-wide settings a user's module can change, by name: compared with ``==``."""
    import numpy as np

    settings: dict[str, object] = {
        "numpy error state": np.geterr(),
        "numpy error callback": np.geterrcall(),
        "numpy print options": np.get_printoptions(),
        "trace function": sys.gettrace(),
        "profile function": sys.getprofile(),
        "sys.meta_path": list(map(id, sys.meta_path)),
        "sys.path_hooks": list(map(id, sys.path_hooks)),
        "sys.excepthook": sys.excepthook,
        "recursion limit": sys.getrecursionlimit(),
        "garbage collector": (gc.isenabled(), gc.get_threshold()),
        "Python threads": sorted(thread.ident or 0 for thread in threading.enumerate()),
        "signal handlers": list(map(_handler, _SIGNALS)),
        "interval timers": [signal.getitimer(which) for which in _TIMERS],
    }
    jax = sys.modules.get("jax")
    config = getattr(jax, "config", None)
    if config is not None:
        try:
            settings["JAX configuration"] = dict(config.values)
        except Exception:  # noqa: BLE001 - another JAX's internals: compare what there is
            settings["JAX configuration"] = None
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "is_grad_enabled"):
        try:
            settings["torch modes"] = (
                torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.is_anomaly_enabled(),
                torch.are_deterministic_algorithms_enabled(), torch.get_default_dtype(),
                str(torch.get_default_device()), torch.get_num_threads(), torch.get_float32_matmul_precision())
        except Exception:  # noqa: BLE001 - a torch without one of these: compare what there is
            settings["torch modes"] = None
    return settings


_SIGNALS = tuple(int(s) for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))
# The handler as the C module gives it: ``signal.getsignal`` makes an enum of each default handler
# in Python, a quarter of a comparison's cost.
_handler = getattr(_signal, "getsignal", signal.getsignal)
_TIMERS = (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)


class _Fingerprint:
    """What ``Watch`` compares, taken when no user code had run in the process yet."""

    def __init__(self):
        self.modules = dict(sys.modules)
        self.namespaces = _Namespaces(self._new_owners())
        self.registries: dict[str, dict] = {}
        self.settings: dict[str, object] = {}
        self._take_framework_state()

    def _take_framework_state(self) -> None:
        """The registries and settings of the frameworks imported since the last look."""
        for name, value in _settings().items():
            self.settings.setdefault(name, value)  # JAX's configuration, once JAX is imported
        for m, a in REGISTRIES:
            registry = _loaded(m, a)
            if f"{m}.{a}" not in self.registries and isinstance(registry, dict):
                self.registries[f"{m}.{a}"] = dict(registry)

    def retake(self) -> None:
        """After a framework's own import, begun while the process was clean: what it changed
        (torch._dynamo wraps ``torch.manual_seed``; JAX defines the options of a module) is the
        framework's."""
        for name, module in list(sys.modules.items()):
            if name not in self.modules and name.partition(".")[0] in FRAMEWORKS:
                self.modules[name] = module  # put there under another name (torch.classes)
        self.namespaces.add(self._new_owners(self.namespaces.owners))
        self.namespaces.retake()
        self.registries, self.settings = {}, {}
        self._take_framework_state()

    @staticmethod
    def _new_owners(known=(), modules=None) -> dict[str, object]:
        """The namespaces to watch among ``modules`` (default: every module loaded) and the classes
        and rule holders they hold, less those ``known`` already."""
        modules = list(sys.modules.items()) if modules is None else modules
        owners = {name: module for name, module in modules
                  if name not in known and isinstance(module, types.ModuleType) and _watched_module(name)}
        for module, path in CLASSES:
            cls = _loaded(module, path)
            if isinstance(cls, type) and f"{module}.{path}" not in known:
                owners[f"{module}.{path}"] = cls
        holders = tuple(t for t in (_loaded(m, a) for m, a in RULE_HOLDERS) if isinstance(t, type))
        if holders:
            for name, module in list(owners.items()):
                if isinstance(module, types.ModuleType):
                    for attribute, value in list(vars(module).items()):
                        if type(value) in holders:
                            owners.setdefault(f"{name}.{attribute}", value)
        return owners

    def extend(self) -> None:
        """Take in what adcheck's own set-up imported since, before the user's code runs again."""
        new = set(sys.modules).difference(self.modules)
        if not new:
            return
        for name in new:
            self.modules[name] = sys.modules[name]
        self.namespaces.add(self._new_owners(self.namespaces.owners))
        self._take_framework_state()

    def adopt(self, module: types.ModuleType) -> None:
        """A framework module that has just been imported, its own code run and nothing else."""
        name = module.__name__
        module = sys.modules.get(name, module)  # a module may put another object in its place (torch.backends.*)
        self.modules[name] = module
        self.namespaces.add(self._new_owners(self.namespaces.owners, [(name, module)]))
        self._take_framework_state()

    def differences(self, present_when_user_code_began: set[str]) -> list[str]:
        found = []
        modules = sys.modules
        if not self.modules.items() <= modules.items():  # modules compare by identity
            found += [f"sys.modules[{name!r}]" for name, module in self.modules.items()
                      if modules.get(name) is not module]
        late = [name for name in set(modules).difference(present_when_user_code_began)
                if _watched_module(name) and name not in self.modules]
        found += [f"{name} (first imported while the user's code ran)" for name in sorted(late)]
        found += self.namespaces.differences()
        for label, saved in self.registries.items():
            now = _loaded(*label.rsplit(".", 1))
            if not isinstance(now, dict) or not saved.items() <= now.items():  # rules compare by identity
                found.append(label)
        now = _settings()
        found += [name for name, value in self.settings.items() if _differs(now.get(name, _MISSING), value)]
        return found


def _differs(a, b) -> bool:
    try:
        return bool(a != b)
    except Exception:  # noqa: BLE001 - a value that cannot even be compared is no proof of sameness
        return True


class _Announcer:
    """An import hook for the frameworks' modules: ``before(name)`` when the outermost of a chain of
    their imports begins, ``after(modules)`` once it has finished (before the code that imported
    them continues), with every module it imported. Not as each module's own code ends: a package
    may still change its submodules while it imports the rest of itself (``autograd.numpy``
    replaces ``numpy_wrapper.where``), and a private module may change a public one
    (``torch._dynamo`` wraps ``torch.manual_seed``)."""

    def __init__(self, before, after):
        self.before, self.after = before, after
        self.depth = 0  # announced imports under way, one inside another
        self.finished: list[types.ModuleType] = []  # imported, to announce when the outermost ends

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in FRAMEWORKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # not announced: a change when the task ends, never a module unseen
        spec.loader = _AnnouncingLoader(spec.loader, self)
        return spec

    def executed(self, module, run) -> None:
        if self.depth == 0:
            self.before(module.__name__)
        self.depth += 1
        try:
            run(module)
        finally:
            self.finished.append(module)
            try:
                # What ``after`` itself imports (torch imports a module on first use) belongs to
                # this chain: announced with it, never a chain of its own.
                while self.depth == 1 and self.finished:
                    finished, self.finished = self.finished, []
                    self.after(finished)
            finally:
                self.depth -= 1


class _AnnouncingLoader:
    """``loader``, which also tells the ``_Announcer`` of the module it has executed; the module
    keeps ``loader`` itself as its ``__loader__``."""

    def __init__(self, loader, announcer: _Announcer):
        self.loader, self.announcer = loader, announcer

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = self.loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        self.announcer.executed(module, self.loader.exec_module)


class Watch:
    """One worker's watch over its own cleanliness: ``user_code_starts`` before each import of
    user code (``loader.UserCodeLoader.load`` calls it), ``task_ends`` once a task's state has
    been put back."""

    def __init__(self):
        self.fingerprint: _Fingerprint | None = None
        self.present: set[str] | None = None  # sys.modules when user code first ran in this task
        self.framework_owns_import = False  # the import under way began in a clean process
        sys.meta_path.insert(0, _Announcer(self._import_begins, self._imported))

    def _import_begins(self, name: str) -> None:
        # Before the user's code in a task runs, only adcheck has run since the last check. The
        # module about to run its code is in sys.modules already.
        self.framework_owns_import = self.fingerprint is not None and (
            self.present is None or not self.fingerprint.differences(self.present | {name}))

    def _imported(self, modules: list[types.ModuleType]) -> None:
        if self.fingerprint is None:
            return
        for module in modules:
            if _watched_module(getattr(module, "__name__", "")):
                self.fingerprint.adopt(module)
        if self.framework_owns_import:
            self.fingerprint.retake()

    def user_code_starts(self) -> None:
        if self.present is not None:
            return  # not the task's first import of user code
        if self.fingerprint is None:
            self.fingerprint = _Fingerprint()
        else:
            self.fingerprint.extend()
        self.present = set(sys.modules)

    def fingerprinted_modules(self) -> dict[str, types.ModuleType]:
        """The modules the fingerprint holds (none before the first user code): present when the
        worker became pristine, adopted from a framework's import, or imported by adcheck's set-up.
        They are the process's, not the user's, and outlive every task."""
        return self.fingerprint.modules if self.fingerprint is not None else {}

    def task_ends(self) -> list[str]:
        """What differs from the fingerprint (empty: clean); nothing to compare if no user code ran."""
        present, self.present = self.present, None
        if present is None or self.fingerprint is None:
            return []
        return self.fingerprint.differences(present)
