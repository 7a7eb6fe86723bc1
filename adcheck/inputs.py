"""Turn ``--input``/``--random``/``--wrt`` into the function's arguments.

Inputs are parsed as data (JSON, ``.npy``, ``.npz``), never evaluated as Python.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .model import ArgumentInfo

# Refuse a --random array bigger than this share of the machine's memory: the backends hold
# several copies of the input and of the Jacobian, so even a quarter is generous.
RANDOM_MEMORY_FRACTION = 0.25


@dataclass(frozen=True)
class Arguments:
    """The positional arguments, and which of them are differentiated."""

    values: tuple[np.ndarray, ...]
    wrt: tuple[int, ...]
    info: tuple[ArgumentInfo, ...]

    @property
    def n_inputs(self) -> int:
        return sum(self.values[i].size for i in self.wrt)

    def flat(self) -> np.ndarray:
        """The differentiated arguments flattened and concatenated (C order)."""
        return np.concatenate([self.values[i].ravel() for i in self.wrt])

    def unflatten(self, flat, xp=np):
        """Rebuild the full argument tuple with the differentiated ones taken from ``flat``."""
        args = list(self.values)
        offset = 0
        for i in self.wrt:
            size, shape = self.values[i].size, self.values[i].shape
            args[i] = xp.reshape(flat[offset : offset + size], shape)
            offset += size
        return args


def _reject_constant(name: str):
    raise InputError(f"--input contains {name}; inputs must be finite numbers")


def _as_numeric_array(data, origin: str) -> np.ndarray:
    if isinstance(data, (str, dict)) or data is None:
        raise InputError(f"{origin}: expected a number or a (nested) list of numbers, got {type(data).__name__}")
    try:
        array = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise InputError(f"{origin}: nested lists must be rectangular ({exc})") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise InputError(f"{origin}: expected numbers, got {array.dtype.name} values")
    if array.dtype.kind == "b":
        raise InputError(f"{origin}: booleans cannot be differentiated; pass 0/1 numbers")
    if array.size == 0:
        raise InputError(f"{origin}: the array is empty")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputError(f"{origin}: contains NaN or infinity; inputs must be finite")
    return array


def parse_json_argument(text: str, origin: str = "--input") -> np.ndarray:
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin}: not valid JSON ({exc.msg} at column {exc.colno}): {text[:40]!r}") from None
    return _as_numeric_array(data, origin)


def load_file_arguments(path_text: str) -> list[np.ndarray]:
    """``@file.npy`` is one argument; ``@file.npz`` one per stored array, in order; ``@file.json`` one."""
    path = Path(path_text)
    origin = f"@{path_text}"
    if not path.is_file():
        raise InputError(f"{origin}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            return [_as_numeric_array(np.load(path, allow_pickle=False), origin)]
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = [_as_numeric_array(archive[key], f"{origin}[{key}]") for key in archive.files]
            if not arrays:
                raise InputError(f"{origin}: the archive holds no arrays")
            return arrays
        if suffix == ".json":
            return [parse_json_argument(path.read_text(encoding="utf-8"), origin)]
    except InputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{origin}: cannot read ({exc})") from None
    raise InputError(f"{origin}: unsupported file type {suffix or '(none)'}; use .npy, .npz or .json")


_SHAPE = re.compile(r"^\s*\d+(\s*[x,]\s*\d+)*\s*$")


def parse_shape(text: str) -> tuple[int, ...]:
    if not _SHAPE.match(text):
        raise InputError(f"--random {text!r}: expected a shape like 100 or 3x4")
    shape = tuple(int(part) for part in re.split(r"[x,]", text.replace(" ", "")))
    if any(n == 0 for n in shape):
        raise InputError(f"--random {text!r}: every dimension must be at least 1")
    return shape


def _available_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def random_argument(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    size = math.prod(shape)
    if size * 8 > RANDOM_MEMORY_FRACTION * _available_memory():
        raise InputError(
            f"--random {'x'.join(map(str, shape))}: {size} values ({size * 8 / 2**30:.1f} GiB) "
            "is too large for this machine's memory"
        )
    return rng.standard_normal(shape)


def parse_wrt(text: str | None, n_args: int) -> tuple[int, ...]:
    if text is None or text.strip() == "":
        return tuple(range(n_args))
    try:
        indices = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--wrt {text!r}: expected argument indices like 0,2") from None
    for index in indices:
        if not 0 <= index < n_args:
            raise InputError(f"--wrt {text!r}: argument {index} does not exist (the function gets {n_args})")
    if len(set(indices)) != len(indices):
        raise InputError(f"--wrt {text!r}: an index appears twice")
    return tuple(sorted(indices))


def build_arguments(
    inputs: tuple[str, ...] = (),
    random_shapes: tuple[str, ...] = (),
    seed: int = 0,
    wrt: str | None = None,
) -> Arguments:
    """Parse every ``--input``/``--random`` into arrays; promote differentiated integers to float64."""
    if inputs and random_shapes:
        raise InputError("use either --input or --random, not both")
    raw: list[np.ndarray] = []
    if random_shapes:
        rng = np.random.default_rng(seed)
        raw = [random_argument(parse_shape(text), rng) for text in random_shapes]
    for text in inputs:
        if text.startswith("@"):
            raw.extend(load_file_arguments(text[1:]))
        else:
            raw.append(parse_json_argument(text))
    if not raw:
        raise InputError("no inputs: give --input JSON (once per argument) or --random SHAPE")
    differentiated = parse_wrt(wrt, len(raw))
    return promote(raw, differentiated)


def promote(raw: list[np.ndarray], differentiated: tuple[int, ...]) -> Arguments:
    values, info = [], []
    for index, array in enumerate(raw):
        promoted_from = None
        if index in differentiated:
            if array.dtype.kind in "iu":
                promoted_from = array.dtype.name
                array = array.astype(np.float64)
            elif array.dtype != np.float64 and array.dtype != np.float32:
                promoted_from = array.dtype.name
                array = array.astype(np.float64)
        values.append(array)
        info.append(
            ArgumentInfo(
                index=index,
                shape=tuple(array.shape),
                dtype=array.dtype.name,
                differentiated=index in differentiated,
                promoted_from=promoted_from,
            )
        )
    return Arguments(values=tuple(values), wrt=differentiated, info=tuple(info))
