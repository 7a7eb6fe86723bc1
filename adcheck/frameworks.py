"""Framework set-up, in one place: what every process that runs JAX or PyTorch code applies first.

Called in worker processes before the user's module is imported (module-level arrays and
tensors must already get the right dtype), never in the parent: ``adcheck --help`` must not pay
for importing either.
"""

from __future__ import annotations

import os

import numpy as np

from .errors import AdcheckError

_FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"

# JAX preallocates 75% of a GPU's memory when its GPU client starts. jax-fwd and jax-rev run side
# by side, one worker each, on the same GPU: the second would find a quarter left. So a worker
# allocates on demand, and may grow to under half of the GPU, which leaves room for the other
# JAX worker and the torch workers. (The variables are read when JAX starts its GPU client: in
# the worker, after the fork, never in the parent. A value the user set is kept. The fraction
# goes in the older name, which every jaxlib reads; newer ones also read XLA_CLIENT_MEM_FRACTION
# and refuse both at once.)
_GPU_PREALLOCATE = ("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
_GPU_MEMORY_FRACTION = ("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.45")
_MEMORY_FRACTION_VARIABLES = ("XLA_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_MEM_FRACTION")


class DeviceUnavailable(AdcheckError):
    """The device the parent chose cannot be used by this framework in this worker (a CPU-only
    jaxlib or torch on a machine with a GPU driver): the row says so, in one line."""


def configure_jax(device: str = "cpu", contexts: tuple[str, ...] = ()) -> None:
    """float64, the device (the CPU unless ``device`` is "gpu"), quick compiles, and one-op iteration.

    ``contexts``: the task's ``--contexts``; a "gpu" context on a CPU run makes the GPU available
    too (when the machine has one), with the CPU still the default device.

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
    gpu_wanted = device == "gpu" or ("gpu" in contexts and _gpu_visible())
    started = _jax_started()
    if not started:  # the variables are read when JAX starts its backend: a warm worker's is running
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_backend_optimization_level" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {_FAST_COMPILE_FLAG}".strip()
        if gpu_wanted:
            os.environ.update(gpu_allocator_settings(os.environ))
    import jax

    jax.config.update("jax_enable_x64", True)
    if not started:  # a warm worker keeps the platforms it started with
        # "cuda,cpu" fails loudly when the CUDA plugin cannot start (we want to say why); the
        # empty list lets JAX start what it can, for a GPU context that must not cost the CPU run.
        jax.config.update("jax_platforms", "cuda,cpu" if device == "gpu" else "" if gpu_wanted else "cpu")
    if device == "gpu":
        jax.config.update("jax_default_device", jax_gpu())
    elif gpu_wanted:
        jax.config.update("jax_default_device", jax.devices("cpu")[0])
    _iterate_with_one_unstack()
    _share_mlir_contexts()


def gpu_allocator_settings(environ) -> dict[str, str]:
    """The variables to set so that this JAX worker shares the GPU (see _GPU_PREALLOCATE): none
    that the user has set already."""
    settings = {}
    if _GPU_PREALLOCATE[0] not in environ:
        settings[_GPU_PREALLOCATE[0]] = _GPU_PREALLOCATE[1]
    if not any(name in environ for name in _MEMORY_FRACTION_VARIABLES):
        settings[_GPU_MEMORY_FRACTION[0]] = _GPU_MEMORY_FRACTION[1]
    return settings


def jax_gpu():
    """JAX's first GPU, or ``DeviceUnavailable`` saying why there is none."""
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeviceUnavailable(f"JAX cannot use the GPU: {reason}",
                                hint="a CUDA-enabled JAX: pip install 'jax[cuda12]'") from None
    if not gpus:
        raise DeviceUnavailable("JAX sees no GPU")
    return gpus[0]


def _jax_started() -> bool:
    try:
        from jax._src import xla_bridge

        return xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # a JAX without it: set the platforms, as before
        return False


def _gpu_visible() -> bool:
    from .devices import gpu_visible

    return gpu_visible()


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


# Lowerings that share one MLIR context before it is replaced by a fresh one.
MLIR_CONTEXT_USES = 256


def _share_mlir_contexts() -> None:
    """Let JAX's lowerings share an MLIR context, renewed every ``MLIR_CONTEXT_USES`` lowerings.

    JAX makes a new context for every lowering, loading every dialect into it (3 ms each here,
    as MLIR's own maintainers measure), and op-by-op execution lowers each new primitive and
    shape once: on the small functions of ``adcheck check`` that was a third of a JAX worker's
    time. The only reason MLIR gives for not reusing a context is that it keeps every type and
    attribute it ever made; the renewal bounds that. The IR, and so the compiled code and its
    cache key, are the same either way.
    """
    import threading

    try:
        from jax._src.interpreters import mlir
    except ImportError:
        return
    make = getattr(mlir, "make_ir_context", None)
    if make is None or getattr(make, "__adcheck__", False):
        return
    lock = threading.Lock()
    current = {"context": None, "uses": 0}

    def shared_context():
        with lock:
            if current["context"] is None or current["uses"] >= MLIR_CONTEXT_USES:
                current["context"], current["uses"] = make(), 0
            current["uses"] += 1
            return current["context"]

    shared_context.__adcheck__ = True
    mlir.make_ir_context = shared_context


def configure_torch(dtype=np.float64, device: str = "cpu") -> None:
    """Settings every worker that runs torch code applies, before it imports the user's module.

    - The device: ``device`` "gpu" makes CUDA torch's default device, so the tensors and modules
      the user's code creates (at import or in the call) are made there; the backend moves the
      inputs there too. ``DeviceUnavailable`` when this torch cannot use a GPU.

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
    # None, not "cpu": a default device installs a mode that every torch call then passes through.
    torch.set_default_device(torch_device(device) if device == "gpu" else None)


def torch_device(device: str):
    """The torch device for "cpu" or "gpu"; ``DeviceUnavailable`` saying why when there is no GPU."""
    import torch

    if device != "gpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = (f"this torch {torch.__version__} is built without CUDA" if torch.version.cuda is None
                 else f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU")
        raise DeviceUnavailable(f"PyTorch cannot use the GPU: {build}",
                                hint="a CUDA build of torch: see https://pytorch.org/get-started/locally/")
    return torch.device("cuda")


def configure_for(framework: str, dtype=np.float64, device: str = "cpu") -> None:
    """The set-up code written for ``framework`` needs before it is imported (the reference
    always computes on the CPU: ``device`` is for the AD backends)."""
    if framework in ("jax", "array-api"):
        configure_jax(device)
    elif framework == "torch":
        configure_torch(dtype, device)
