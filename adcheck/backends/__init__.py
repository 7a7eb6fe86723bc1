"""The backend registry.

A backend declares its name, which code it can run, how to tell it is installed, and the module
that computes its Jacobian (imported lazily, inside the worker process, so ``adcheck --help``
never pays for jax or torch).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

from ..errors import AdcheckError


@dataclass(frozen=True)
class Backend:
    name: str
    package: str  # the distribution whose presence makes the backend available
    runs: tuple[str, ...]  # frameworks whose code it can run (see loader.FRAMEWORKS)
    module: str  # adcheck.backends.<module>.compute(task) -> BackendRun
    description: str
    reference: bool = False

    def is_installed(self) -> bool:
        return importlib.util.find_spec(self.package) is not None

    def version(self) -> str | None:
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def compute(self, task):
        return importlib.import_module(f"adcheck.backends.{self.module}").compute(task)

    def why_not_applicable(self, framework: str) -> str | None:
        if framework in self.runs:
            return None
        return f"{self.name} cannot run {framework} code (it runs {', '.join(self.runs)})"


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


register(Backend("fd", "scipy", ("numpy", "autograd", "jax", "torch", "array-api"), "fd",
                 "adaptive Richardson finite differences (scipy.differentiate) with error estimates",
                 reference=True))
register(Backend("autograd", "autograd", ("numpy", "autograd"), "autograd_backend",
                 "autograd reverse mode; numpy is rebound to autograd.numpy"))
register(Backend("jax-fwd", "jax", ("numpy", "autograd", "jax", "array-api"), "jax_backend",
                 "JAX forward mode (jax.linearize over the input basis), float64; numpy is rebound to jax.numpy"))
register(Backend("jax-rev", "jax", ("numpy", "autograd", "jax", "array-api"), "jax_backend",
                 "JAX reverse mode (jax.vjp over the output basis), float64; numpy is rebound to jax.numpy"))
register(Backend("torch-fwd", "torch", ("torch", "array-api"), "torch_backend",
                 "torch.func.jacfwd (forward mode; dual tensors for custom Functions), float64"))
register(Backend("torch-rev", "torch", ("torch", "array-api"), "torch_backend",
                 "torch.func.jacrev (reverse mode; autograd.grad for custom Functions), float64"))


def resolve(names: tuple[str, ...]) -> list[Backend]:
    """The backends named on the command line, in registry order; an unknown name is a usage error."""
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        raise AdcheckError(f"unknown backend {unknown[0]!r}; known backends: {', '.join(REGISTRY)}")
    chosen = set(names) | {"fd"}  # the reference always runs
    return [backend for name, backend in REGISTRY.items() if name in chosen]
