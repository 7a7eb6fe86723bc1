"""What every backend's worker does the same way: call the user's function on flat inputs."""

from __future__ import annotations

import numpy as np

from ..inputs import Arguments
from .worker import UserCodeError, output_parts


def to_numpy(part) -> np.ndarray:
    """One output part as a float numpy array, whatever library produced it."""
    if hasattr(part, "detach") and hasattr(part, "cpu"):  # a torch tensor
        part = part.detach().cpu().numpy()
    try:
        array = np.asarray(part)
    except Exception as exc:  # noqa: BLE001 - e.g. a tracer leaking out, an object array
        raise UserCodeError(f"the function returned a {type(part).__name__} that is not an array ({exc})") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        kind = "complex" if array.dtype.kind == "c" else array.dtype.name
        raise UserCodeError(f"the function returned {kind} values; adcheck checks real-valued functions")
    return array


def plain_flat_function(func, arguments: Arguments, framework: str):
    """``x_flat -> concatenated flat outputs`` with numpy in and out (torch code gets tensors)."""
    dtype = np.result_type(*(arguments.values[i] for i in arguments.wrt))
    convert = _torch_converter(dtype) if framework == "torch" else (lambda a: a)  # array-API code gets numpy

    def flat_function(x: np.ndarray) -> np.ndarray:
        # Fresh copies every call: a function that mutates its input must not corrupt the next point.
        pieces = arguments.unflatten(np.array(x, dtype=dtype, copy=True))
        args = [convert(np.array(p, copy=True)) for p in pieces]
        parts = output_parts(func(*args))
        return np.concatenate([to_numpy(p).astype(np.float64, copy=False).ravel() for p in parts])

    def batch(points: np.ndarray) -> np.ndarray:
        """(n_inputs, P) -> (n_outputs, P) in one call, each argument given a trailing batch axis."""
        count = points.shape[1]
        args = [convert(np.array(v, copy=True)) for v in arguments.values]
        offset = 0
        for i in arguments.wrt:
            size, shape = arguments.values[i].size, arguments.values[i].shape
            args[i] = convert(np.array(points[offset : offset + size].reshape(*shape, count), dtype=dtype))
            offset += size
        parts = output_parts(func(*args))
        return np.concatenate([to_numpy(p).astype(np.float64, copy=False).reshape(-1, count) for p in parts])

    flat_function.batch = None  # set by enable_batching once the function is seen to allow it
    flat_function.try_batch = batch
    return flat_function


def enable_batching(flat_function, x0: np.ndarray, value: np.ndarray, source) -> bool:
    """Let FD evaluate many points per call when the function treats a trailing axis as a batch.

    Numerical code often does (``np.tanh(a @ x)``, elementwise maps, a loop over ``x``), and then
    the thousands of evaluations of a full FD Jacobian become a few dozen calls. It is used only
    after three perturbed points give, in one call, the values three separate calls give; a
    function that reduces over the whole array, checks ``ndim`` or returns a scalar fails that
    test and is evaluated point by point as before. ``source`` is the same function from a
    fresh import of the user's module: calls with a batch axis are calls the user never made,
    and must not disturb the state of the module the reference value came from.
    """
    rng = np.random.default_rng(0)
    points = x0[:, None] + 1e-3 * np.maximum(1.0, np.abs(x0))[:, None] * rng.standard_normal((x0.size, 3))
    try:
        together = source.try_batch(points)
        one_by_one = np.stack([source(points[:, k]) for k in range(3)], axis=1)
    except Exception:  # noqa: BLE001 - the function does not take a batch axis: that is the answer
        return False
    scale = max(1.0, float(np.max(np.abs(value), initial=0.0)))
    if together.shape != one_by_one.shape or not np.allclose(together, one_by_one, rtol=1e-10, atol=1e-13 * scale):
        return False
    flat_function.batch = source.try_batch
    return True


def _torch_converter(dtype):
    import torch

    from .torch_backend import configure_torch

    configure_torch(dtype)  # the same threads and default dtype as torch-fwd/torch-rev
    return lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a
