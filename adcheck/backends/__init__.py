"""The backend registry: what each backend runs, in which modes and orders, and how.

A backend declares its name, the code it runs as written (``native``), the code it runs through
adcheck's rebinding of the user's imports (``rebinds``: numpy code under autograd or JAX), the
modes and derivative orders it supports, how to tell it is installed, and the module whose
``compute(task) -> BackendRun`` runs it (imported lazily, inside the worker process, so
``adcheck --help`` never pays for jax or torch). ``run`` asks the registry; a combination a
backend does not support is a ``not-applicable`` row with the reason, never a crash.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass

from ..errors import AdcheckError
from ..model import Framework, Mode

ALL_FRAMEWORKS = frozenset(Framework)
BOTH_MODES = frozenset(Mode)


@dataclass(frozen=True)
class Rebinding:
    flavour: str  # the loader's rebinding table (loader.rebinding_table)
    description: str  # "numpy rebound to jax.numpy"


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # the distribution whose presence makes the backend available
    module: str  # adcheck.backends.<module>.compute(task) -> BackendRun
    description: str
    native: frozenset[Framework]
    rebinds: dict[Framework, Rebinding]
    modes: frozenset[Mode] = BOTH_MODES
    orders: frozenset[int] = frozenset({1, 2})
    install_hint: str = ""
    reference: bool = False

    def is_installed(self) -> bool:
        return _installed(self.package)

    def version(self) -> str | None:
        import importlib.metadata  # here: only ``adcheck backends`` asks, and the import costs every run 15 ms

        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def compute(self, task):
        return importlib.import_module(f"adcheck.backends.{self.module}").compute(task)

    def nearby(self, task):
        """The function's values near the input as this backend runs it (``calling.values_nearby``):
        rebound code that agrees at the input may compute another function a step away."""
        return importlib.import_module(f"adcheck.backends.{self.module}").nearby(task)

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


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


NUMPY_UNDER_AUTOGRAD = Rebinding("autograd", "numpy rebound to autograd.numpy")
NUMPY_UNDER_JAX = Rebinding("jax", "numpy rebound to jax.numpy")
AUTOGRAD_UNDER_JAX = Rebinding("jax", "autograd.numpy rebound to jax.numpy")
TORCH_HINT = "pip install 'adcheck[torch]'"

register(Backend("fd", "scipy", "fd",
                 "adaptive Richardson finite differences (scipy.differentiate) with error estimates; complex step "
                 "and a Taylor test where those cannot settle an entry",
                 native=ALL_FRAMEWORKS, rebinds={}, reference=True))
register(Backend("autograd", "autograd", "autograd_backend",
                 "autograd reverse mode; numpy is rebound to autograd.numpy",
                 native=frozenset({Framework.AUTOGRAD}), rebinds={Framework.NUMPY: NUMPY_UNDER_AUTOGRAD}))
for _mode, _how in (("fwd", "forward mode (jax.jvp along every input basis vector at once)"),
                    ("rev", "reverse mode (jax.vjp over the output basis)")):
    register(Backend(f"jax-{_mode}", "jax", "jax_backend",
                     f"JAX {_how}, float64; numpy is rebound to jax.numpy",
                     native=frozenset({Framework.JAX, Framework.ARRAY_API}),
                     rebinds={Framework.NUMPY: NUMPY_UNDER_JAX, Framework.AUTOGRAD: AUTOGRAD_UNDER_JAX}))
register(Backend("torch-fwd", "torch", "torch_backend",
                 "torch.func.jacfwd (forward mode; dual tensors for custom Functions), float64",
                 native=frozenset({Framework.TORCH, Framework.ARRAY_API}), rebinds={}, install_hint=TORCH_HINT))
register(Backend("torch-rev", "torch", "torch_backend",
                 "torch.func.jacrev (reverse mode; autograd.grad for custom Functions), float64",
                 native=frozenset({Framework.TORCH, Framework.ARRAY_API}), rebinds={}, install_hint=TORCH_HINT))


def resolve(names: tuple[str, ...]) -> list[Backend]:
    """The backends named on the command line, in registry order; an unknown name is a usage error."""
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise AdcheckError(f"unknown backend {unknown[0]!r}; known backends: {', '.join(REGISTRY)}")
    chosen = set(names) | {name for name, b in REGISTRY.items() if b.reference}  # the reference always runs
    return [backend for name, backend in REGISTRY.items() if name in chosen]
