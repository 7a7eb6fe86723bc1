"""The backend registry: what each backend runs, in which modes and orders, and how.

A backend declares its name, the code it runs as written (``native``), the code it runs through
adcheck's rebinding of the user's imports (``rebinds``: numpy code under autograd or JAX), the
modes and derivative orders it supports, its other capabilities (``Capability``), how to tell it
is installed, and a loader of its implementation (``Implementation``: imported lazily, inside
the worker process, so ``adcheck --help`` never pays for jax or torch). ``run`` asks the
registry; a combination a backend does not support is a ``not-applicable`` row with the reason,
never a crash. Adding a backend is one module with ``compute`` (and what its capabilities
promise) and one ``register`` line here; ``tests/test_backend_matrix.py`` holds every entry to
what it declares.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from ..errors import AdcheckError
from ..model import BackendRun, Framework, Mode, NearbyResult, rules_of

ALL_FRAMEWORKS = frozenset(Framework)
BOTH_MODES = frozenset(Mode)


@dataclass(frozen=True)
class Rebinding:
    flavour: str  # the loader's rebinding table (loader.rebinding_table)
    description: str  # "numpy rebound to jax.numpy"


class Capability(StrEnum):
    """What a backend can do beyond ``compute`` at the modes and orders it declares."""

    NEARBY = "nearby"  # the function's values near the input as it runs the code (rebound code may differ there)
    CONTEXTS = "contexts"  # --contexts: its derivative under jit/compile, in lower precision, on another device
    BLAME = "blame"  # a per-primitive replay of its derivative rules (``explain.blame``, by ``rules``)


class Implementation(Protocol):
    """What a backend's module provides to the worker."""

    def compute(self, task) -> BackendRun:
        """The backend's run at ``task``'s input (a ``task.Task``): ``value`` and the Jacobian (full mode) or its
        products (fast mode), the second order and contexts when the task asks and the backend
        declares them; a reference run for the reference."""

    def nearby(self, task) -> NearbyResult:
        """``Capability.NEARBY`` only: the values at ``calling.nearby_points`` (``NearbyResult.nearby``)."""


def _implementation(module: str) -> Callable[[], Implementation]:
    """A loader of ``adcheck.backends.<module>``, called in the worker."""
    return functools.partial(importlib.import_module, f"{__name__}.{module}")


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # the distribution whose presence makes the backend available
    load: Callable[[], Implementation]  # imports the implementation (in the worker)
    description: str
    native: frozenset[Framework]
    rebinds: dict[Framework, Rebinding]
    modes: frozenset[Mode] = BOTH_MODES
    orders: frozenset[int] = frozenset({1, 2})
    capabilities: frozenset[Capability] = frozenset()
    install_hint: str = ""
    reference: bool = False

    @property
    def rules(self) -> str | None:
        """Whose derivative rules it runs (``model.RULES_OF_BACKEND``: jax-fwd and jax-rev share
        JAX's): the blame replay's framework, and which backends are independent witnesses."""
        return rules_of(self.name)

    def is_installed(self) -> bool:
        return _installed(self.package)

    def version(self) -> str | None:
        import importlib.metadata  # here: only ``adcheck backends`` asks, and the import costs every run 15 ms

        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def compute(self, task):
        return self.load().compute(task)

    def nearby(self, task):
        """The function's values near the input as this backend runs it (``calling.values_nearby``):
        rebound code that agrees at the input may compute another function a step away."""
        self.check_capable(Capability.NEARBY)
        return self.load().nearby(task)

    def check_capable(self, capability: Capability) -> None:
        if capability not in self.capabilities:
            raise Unsupported(f"{self.name} cannot give {capability.value} ({CAPABILITY_WORDS[capability]})")

    @property
    def runs(self) -> tuple[str, ...]:
        """Every framework whose code it can run, natively or rebound, in a stable order."""
        return tuple(str(f) for f in Framework if f in self.native or f in self.rebinds)

    def rebinding(self, framework: str, installed_target: bool, given: bool = False) -> Rebinding | None:
        """How this backend runs ``framework`` code: None natively; raises ``Unsupported`` when it cannot.

        ``given``: the function is a Python object (``adcheck.check``), not imported from its
        file, so its imports cannot be rebound."""
        framework = Framework(framework)
        if framework in self.native:
            return None
        if framework in self.rebinds and given:
            raise Unsupported(
                f"{self.name} runs {framework} code only by rebinding its imports, which needs the function "
                f"imported from its file (define it at module level, or write it for {self.name.split('-')[0]})")
        if framework in self.rebinds:
            if installed_target:
                raise Unsupported(
                    f"{self.name} cannot run {framework} code inside an installed package: adcheck rebinds "
                    f"{framework} only in your own files (wrap the function in a file of yours that is written "
                    f"for {self.name.split('-')[0]})")
            return self.rebinds[framework]
        raise Unsupported(f"{self.name} cannot run {framework} code (it runs {', '.join(self.runs)})")

    def check_supports(self, mode: Mode, order: int) -> None:
        if mode not in self.modes:
            raise Unsupported(f"{self.name} does not support --mode {mode}")
        if order not in self.orders:
            raise Unsupported(f"{self.name} does not support --order {order}")


@functools.lru_cache(maxsize=None)
def _installed(package: str) -> bool:
    """Whether ``package`` can be imported here: asked once per process (``adcheck check`` plans
    every case)."""
    return importlib.util.find_spec(package) is not None


class Unsupported(Exception):
    """A backend cannot run this code, mode or order: the message is the reason shown."""


CAPABILITY_WORDS = {
    Capability.NEARBY: "the function's values near the input",
    Capability.CONTEXTS: "its derivative in other execution contexts",
    Capability.BLAME: "a per-primitive replay of its rules",
}


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


NUMPY_UNDER_AUTOGRAD = Rebinding("autograd", "numpy rebound to autograd.numpy")
NUMPY_UNDER_JAX = Rebinding("jax", "numpy rebound to jax.numpy")
AUTOGRAD_UNDER_JAX = Rebinding("jax", "autograd.numpy rebound to jax.numpy")
TORCH_HINT = "pip install 'adcheck[torch]'"

register(Backend("fd", "scipy", _implementation("fd"),
                 "adaptive Richardson finite differences (scipy.differentiate) with error estimates; complex step "
                 "and a Taylor test where those cannot settle an entry",
                 native=ALL_FRAMEWORKS, rebinds={}, capabilities=frozenset({Capability.NEARBY}), reference=True))
register(Backend("autograd", "autograd", _implementation("autograd_backend"),
                 "autograd reverse mode; numpy is rebound to autograd.numpy",
                 native=frozenset({Framework.AUTOGRAD}), rebinds={Framework.NUMPY: NUMPY_UNDER_AUTOGRAD},
                 capabilities=frozenset({Capability.NEARBY, Capability.BLAME})))
for _mode, _how in (("fwd", "forward mode (jax.jvp along every input basis vector at once)"),
                    ("rev", "reverse mode (jax.vjp over the output basis)")):
    register(Backend(f"jax-{_mode}", "jax", _implementation("jax_backend"),
                     f"JAX {_how}, float64; numpy is rebound to jax.numpy",
                     native=frozenset({Framework.JAX, Framework.ARRAY_API}),
                     rebinds={Framework.NUMPY: NUMPY_UNDER_JAX, Framework.AUTOGRAD: AUTOGRAD_UNDER_JAX},
                     capabilities=frozenset(Capability)))
register(Backend("torch-fwd", "torch", _implementation("torch_backend"),
                 "torch.func.jacfwd (forward mode; dual tensors for custom Functions), float64",
                 native=frozenset({Framework.TORCH, Framework.ARRAY_API}), rebinds={},
                 capabilities=frozenset({Capability.CONTEXTS, Capability.BLAME}), install_hint=TORCH_HINT))
register(Backend("torch-rev", "torch", _implementation("torch_backend"),
                 "torch.func.jacrev (reverse mode; autograd.grad for custom Functions), float64",
                 native=frozenset({Framework.TORCH, Framework.ARRAY_API}), rebinds={},
                 capabilities=frozenset({Capability.CONTEXTS, Capability.BLAME}), install_hint=TORCH_HINT))


def resolve(names: tuple[str, ...]) -> list[Backend]:
    """The backends named on the command line, in registry order; an unknown name is a usage error."""
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise AdcheckError(f"unknown backend {unknown[0]!r}; known backends: {', '.join(REGISTRY)}")
    chosen = set(names) | {name for name, b in REGISTRY.items() if b.reference}  # the reference always runs
    return [backend for name, backend in REGISTRY.items() if name in chosen]
