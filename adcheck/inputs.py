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


# numpy < 2 allowed 32 dimensions; nobody differentiates deeper, and a bound keeps the walk cheap.
MAX_DIMENSIONS = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _reject_constant(name: str, origin: str):
    raise InputError(f"{origin}: contains {name}; inputs must be finite numbers")


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_json_numbers(data, origin: str) -> None:
    """Every leaf of ``data`` is a finite number that fits float64/int64; lists nest at most 32 deep.

    Iterative, so a hostile nesting depth cannot exhaust the stack.
    """
    stack = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list):
            if depth >= MAX_DIMENSIONS:
                raise InputError(f"{origin}: lists nested more than {MAX_DIMENSIONS} deep")
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            what = "booleans cannot be differentiated; pass 0/1 numbers" if isinstance(item, bool) else \
                f"expected a number or a (nested) list of numbers, got {_json_kind(item)}"
            raise InputError(f"{origin}: {what}")
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            raise InputError(f"{origin}: the integer {str(item)[:20]}... does not fit in 64 bits; write it as a float")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"{origin}: contains NaN or infinity; inputs must be finite")


def _as_numeric_array(data, origin: str) -> np.ndarray:
    if isinstance(data, (str, dict)) or data is None:
        raise InputError(f"{origin}: expected a number or a (nested) list of numbers, got {_json_kind(data)}")
    try:
        array = np.asarray(data)
    except ValueError:  # ragged nesting
        raise InputError(f"{origin}: nested lists must be rectangular (every list at one depth the same length)") from None
    if array.dtype.kind == "c":
        raise InputError(f"{origin}: complex values; adcheck checks functions of real inputs")
    if array.dtype == object or array.dtype.kind not in "biuf":
        kind = {"U": "string", "S": "bytes", "O": "object", "M": "datetime", "m": "timedelta"}.get(
            array.dtype.kind, array.dtype.name)
        raise InputError(f"{origin}: expected numbers, got {kind} values")
    if array.dtype.kind == "b":
        raise InputError(f"{origin}: booleans cannot be differentiated; pass 0/1 numbers")
    if array.size == 0:
        raise InputError(f"{origin}: the array is empty")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise InputError(f"{origin}: contains NaN or infinity; inputs must be finite")
    return array


def parse_json_argument(text: str, origin: str = "--input") -> np.ndarray:
    """One argument from JSON text. Parsed as data, never evaluated."""
    try:
        data = json.loads(text, parse_constant=lambda name: _reject_constant(name, origin))
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin}: not valid JSON ({exc.msg} at column {exc.colno}): {text[:40]!r}") from None
    except RecursionError:
        raise InputError(f"{origin}: lists nested more than {MAX_DIMENSIONS} deep") from None
    except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
        raise InputError(f"{origin}: not a usable number ({' '.join(str(exc).split())[:80]})") from None
    _check_json_numbers(data, origin)
    return _as_numeric_array(data, origin)


def load_file_arguments(path_text: str) -> list[np.ndarray]:
    """``@file.npy`` is one argument; ``@file.npz`` one per stored array, in order; ``@file.json`` one."""
    path = Path(path_text)
    origin = f"@{path_text}"
    if not path_text:
        raise InputError("@: give a file name after @ (e.g. @x.npy)")
    if path.is_dir():
        raise InputError(f"{origin}: is a directory, not a file")
    if not path.is_file():
        raise InputError(f"{origin}: no such file")
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz", ".json"):
        raise InputError(f"{origin}: unsupported file type {suffix or '(none)'}; use .npy, .npz or .json")
    try:
        if suffix == ".npy":
            return [_as_numeric_array(np.load(path, allow_pickle=False), origin)]
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                arrays = [_as_numeric_array(archive[key], f"{origin}[{key}]") for key in archive.files]
            if not arrays:
                raise InputError(f"{origin}: the archive holds no arrays")
            return arrays
        return [parse_json_argument(path.read_text(encoding="utf-8"), origin)]
    except InputError:
        raise
    except OSError as exc:
        raise InputError(f"{origin}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError(f"{origin}: cannot read (not UTF-8 text)") from None
    except Exception as exc:  # noqa: BLE001 - numpy/zipfile report corrupt files in many ways
        detail = " ".join(str(exc).split())[:100] or type(exc).__name__
        raise InputError(f"{origin}: cannot read as {suffix[1:]} ({detail})") from None


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


def check_random_fits(shapes: list[tuple[int, ...]], texts) -> None:
    """All ``--random`` arrays together fit the memory budget (one may fit where three do not)."""
    total = sum(math.prod(shape) for shape in shapes)
    if len(shapes) > 1 and total * 8 > RANDOM_MEMORY_FRACTION * _available_memory():
        raise InputError(
            f"--random {' '.join(texts)}: {total} values together ({total * 8 / 2**30:.1f} GiB) "
            "are too large for this machine's memory"
        )


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
        shapes = [parse_shape(text) for text in random_shapes]
        check_random_fits(shapes, random_shapes)
        raw = [random_argument(shape, rng) for shape in shapes]
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
