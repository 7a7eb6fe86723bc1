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

    return flat_function


def _torch_converter(dtype):
    import torch

    from .torch_backend import configure_torch

    configure_torch(dtype)  # the same threads and default dtype as torch-fwd/torch-rev
    return lambda a: torch.from_numpy(a) if isinstance(a, np.ndarray) else a
