"""Framework set-up, in one place: what every process that runs JAX or PyTorch code applies first.

Called in worker processes before the user's module is imported (module-level arrays and
tensors must already get the right dtype), never in the parent: ``adcheck --help`` must not pay
for importing either.
"""

from __future__ import annotations

import os

import numpy as np

_FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"


def configure_jax() -> None:
    """float64, the CPU, quick compiles, and one-op iteration.

    Where the time goes, measured on a Python loop over a 100-element array (the motivating
    cumulative product): JAX iterates a traced array with one ``slice`` per element, each with
    its own static start, so op-by-op execution compiles 100 tiny XLA programs, and ``jax.jit``
    of the whole Jacobian compiles one program with the loop unrolled, which is slower still
    (about 10 s against 3 s). So the derivative runs op by op, as ``jax.jacfwd``/``jacrev`` do
    un-jitted, and iteration over an array is a single ``lax.unstack``: one compiled op
    whatever the length, the same elements, the same derivative. XLA's backend optimisation is
    turned down because each of the remaining programs runs once and compiling is most of its
    cost; the user's own ``jax.jit`` functions are compiled the same way. Op by op also keeps
    Python control flow on input values working, as it does for users.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_FAST_COMPILE_FLAG}".strip()  # read when jax starts its backend
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    _iterate_with_one_unstack()


def _iterate_with_one_unstack() -> None:
    import jax
    from jax._src import core

    original = getattr(core.ShapedArray, "_iter", None)
    if original is None or getattr(original, "__adcheck__", False):
        return

    def iterate(tracer):
        if tracer.ndim == 0 or any(isinstance(d, core.Tracer) for d in tracer.shape):
            return original(tracer)  # the 0-d error and dynamic shapes stay JAX's own
        return iter(jax.lax.unstack(tracer))

    iterate.__adcheck__ = True
    core.ShapedArray._iter = staticmethod(iterate)


def configure_torch(dtype=np.float64) -> None:
    """Settings every worker that runs torch code applies, before it imports the user's module.

    - One intra-op and one inter-op thread: the backends run side by side, one worker process
      each, on machines with few cores (CI runners have two). torch's default of one thread per
      core would oversubscribe them, and the Jacobians adcheck computes are too small to gain
      from threads anyway.
    - The default float dtype follows the inputs' (float64 unless the user passed float32).
      The inputs reach the function as float64 tensors, but a constant the function creates
      without a dtype (``torch.tensor(0.1)``, ``torch.zeros(n)``) would be float32 under torch's
      default; the function would then silently compute in mixed precision and differ from the
      same code under numpy, where a Python float is a float64. Why only this, and only here:
      a dtype written explicitly in the user's code is still respected, and the worker is a
      fresh process, so the setting cannot reach anything but this one run.
    """
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started in this process
        pass
    torch.set_default_dtype(torch.float32 if np.dtype(dtype) == np.float32 else torch.float64)


def configure_for(framework: str, dtype=np.float64) -> None:
    """The set-up code written for ``framework`` needs before it is imported."""
    if framework in ("jax", "array-api"):
        configure_jax()
    elif framework == "torch":
        configure_torch(dtype)
