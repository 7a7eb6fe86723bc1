"""Turn ``--input``/``--random``/``--wrt`` into the function's arguments.

Inputs are parsed as data (JSON, ``.npy``, ``.npz``), never evaluated as Python.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import complex_numbers as cx
from .errors import InputError
from .model import ArgumentInfo

# Refuse a --random array bigger than this share of the machine's memory: the backends hold
# several copies of the input and of the Jacobian, so even a quarter is generous.
RANDOM_MEMORY_FRACTION = 0.25


# --- pytrees of arrays ------------------------------------------------------------------------------
#
# An argument is an array, or a dict (string keys), list or tuple of arguments, nested. Its
# arrays are its leaves; a leaf's path is the keys and indices that reach it. Outputs are named
# the same way (adcheck.backends.calling.output_leaves).


@dataclass(frozen=True)
class Slot:
    """Where a leaf sits in an argument's skeleton."""

    leaf: int


@dataclass(frozen=True)
class Leaf:
    argument: int  # the positional argument it belongs to
    path: tuple  # dict keys (str) and list/tuple indices (int) from the argument down to the array
    value: np.ndarray
    differentiated: bool
    promoted_from: str | None = None


def path_text(path: tuple) -> str:
    """``["w"][1]``: a path as a reader writes it in Python."""
    return "".join(f'["{key}"]' if isinstance(key, str) else f"[{key}]" for key in path)


def index_text(index: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, index))}]" if index else ""


def _fill(skeleton, values):
    if isinstance(skeleton, Slot):
        return values[skeleton.leaf]
    if isinstance(skeleton, dict):
        return {key: _fill(child, values) for key, child in skeleton.items()}
    items = [_fill(child, values) for child in skeleton]
    return items if isinstance(skeleton, list) else tuple(items)


def skeleton_of(tree, leaves: list, argument: int, path: tuple = ()):
    """The tree with each array replaced by a ``Slot``; its arrays appended to ``leaves``."""
    if isinstance(tree, dict):
        return {key: skeleton_of(child, leaves, argument, (*path, key)) for key, child in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [skeleton_of(child, leaves, argument, (*path, i)) for i, child in enumerate(tree)]
        return items if isinstance(tree, list) else tuple(items)
    leaves.append((argument, path, tree))
    return Slot(len(leaves) - 1)


@dataclass(frozen=True)
class Arguments:
    """The positional arguments (each a pytree of arrays), and which leaves are differentiated.

    The flat input vector x is the differentiated leaves raveled (C order) and concatenated in
    leaf order, a complex entry as its real and imaginary parts side by side
    (``adcheck.complex_numbers``); the Jacobian's columns are its entries, named by ``column_name``.
    """

    skeletons: tuple  # one per positional argument
    leaves: tuple[Leaf, ...]
    names: tuple[str, ...]  # the positional arguments' names (the function's parameters when known)
    info: tuple[ArgumentInfo, ...]  # one per leaf
    module_target: bool = False  # the target is a torch.nn.Module; argument 0 ("params") is its parameters

    @property
    def n_arguments(self) -> int:
        return len(self.skeletons)

    @property
    def differentiated(self) -> tuple[Leaf, ...]:
        return tuple(leaf for leaf in self.leaves if leaf.differentiated)

    @property
    def n_inputs(self) -> int:
        return sum(cx.flat_width(leaf.value) for leaf in self.differentiated)

    @functools.cached_property
    def dtype(self) -> np.dtype:
        """The flat vector's dtype: the differentiated leaves' common real dtype (what the function
        is differentiated in; float64 for complex128 leaves)."""
        return np.result_type(*(cx.real_dtype(leaf.value.dtype) for leaf in self.differentiated))

    @property
    def has_complex(self) -> bool:
        """Is a differentiated leaf complex (two real columns per entry)?"""
        return any(cx.is_complex(leaf.value) for leaf in self.differentiated)

    @property
    def values(self) -> list:
        """The positional arguments as given (numpy leaves)."""
        return [_fill(skeleton, [leaf.value for leaf in self.leaves]) for skeleton in self.skeletons]

    @functools.cached_property
    def complex_columns(self) -> tuple[int, ...]:
        """Where each complex entry's real part sits in the flat vector (its imaginary part next)."""
        found, offset = [], 0
        for leaf in self.differentiated:
            width = cx.flat_width(leaf.value)
            if cx.is_complex(leaf.value):
                found += range(offset, offset + width, 2)
            offset += width
        return tuple(found)

    def flat(self) -> np.ndarray:
        """The differentiated leaves flattened and concatenated (C order)."""
        return np.concatenate([cx.real_view(leaf.value) if cx.is_complex(leaf.value) else leaf.value.ravel()
                               for leaf in self.differentiated])

    def build(self, flat, xp=np, wrap=None, fixed=None) -> list:
        """The positional arguments with the differentiated leaves taken from ``flat``.

        ``xp.reshape`` shapes each differentiated leaf (a complex one is assembled from its parts
        with ``xp``'s own operations: ``complex_numbers.assemble``), then ``wrap`` (default: as
        is); a fixed leaf is ``fixed(value)`` (default: a fresh numpy copy, so a function that
        mutates its input cannot reach the next call).
        """
        fixed = fixed or (lambda value: np.array(value, copy=True))
        values, offset = [], 0
        for leaf in self.leaves:
            if leaf.differentiated:
                size = cx.flat_width(leaf.value)
                chunk = flat[offset : offset + size]
                piece = (cx.assemble(chunk, leaf.value.shape, xp) if cx.is_complex(leaf.value)
                         else xp.reshape(chunk, leaf.value.shape))
                values.append(wrap(piece) if wrap else piece)
                offset += size
            else:
                values.append(fixed(leaf.value))
        return [_fill(skeleton, values) for skeleton in self.skeletons]

    def at(self, flat: np.ndarray) -> Arguments:
        """The same arguments with the differentiated leaves taken from ``flat``."""
        leaves, offset = [], 0
        for leaf in self.leaves:
            if leaf.differentiated:
                size = cx.flat_width(leaf.value)
                value = (cx.complex_from_view(flat[offset : offset + size], leaf.value.shape, leaf.value.dtype)
                         if cx.is_complex(leaf.value) else
                         np.asarray(flat[offset : offset + size], dtype=leaf.value.dtype).reshape(leaf.value.shape))
                leaf = replace(leaf, value=value)
                offset += size
            leaves.append(leaf)
        return replace(self, leaves=tuple(leaves))

    def build_batch(self, points: np.ndarray, convert, dtype=None) -> list:
        """The arguments with a trailing batch axis on each differentiated leaf: (n_inputs, P), in
        ``dtype`` (default the arguments' own)."""
        count = points.shape[1]
        values, offset = [], 0
        for leaf in self.leaves:
            if leaf.differentiated:
                size = cx.flat_width(leaf.value)
                block = points[offset : offset + size]
                if cx.is_complex(leaf.value):  # parts side by side: (..., 2, P) -> complex (..., P)
                    pairs = np.asarray(block, dtype=self.dtype).reshape(*leaf.value.shape, 2, count)
                    values.append(convert(np.array(pairs[..., 0, :] + 1j * pairs[..., 1, :])))
                else:
                    values.append(convert(np.array(block.reshape(*leaf.value.shape, count),
                                                    dtype=self.dtype if dtype is None else dtype)))
                offset += size
            else:
                values.append(convert(np.array(leaf.value, copy=True)))
        return [_fill(skeleton, values) for skeleton in self.skeletons]

    def leaf_name(self, leaf: Leaf) -> str:
        return self.names[leaf.argument] + path_text(leaf.path)

    def column_name(self, column: int) -> str:
        """The name of input ``column`` of the flat vector: ``params["w"][1, 0]``, ``Im z[2]``."""
        for leaf in self.differentiated:
            width = 2 if cx.is_complex(leaf.value) else 1
            if column < leaf.value.size * width:
                index = np.unravel_index(column // width, leaf.value.shape) if leaf.value.shape else ()
                name = self.leaf_name(leaf) + index_text(tuple(int(i) for i in index))
                return cx.part_name(name, ("Re", "Im")[column % 2] if width == 2 else None)
            column -= leaf.value.size * width
        raise IndexError(column)

    def with_names(self, names) -> Arguments:
        """The same arguments named after the function's parameters (default ``arg0``, ``arg1``...)."""
        names = tuple(names[i] if i < len(names) else f"arg{i}" for i in range(self.n_arguments))
        info = tuple(replace(i, name=names[leaf.argument] + path_text(leaf.path))
                     for i, leaf in zip(self.info, self.leaves))
        return replace(self, names=names, info=info)


# --- arguments from Python (adcheck.check, --inputs-from) ----------------------------------------


def _array_kind(value) -> str | None:
    module = type(value).__module__.partition(".")[0]
    if module == "torch" and hasattr(value, "detach"):
        return "torch"
    if module in ("jax", "jaxlib") and hasattr(value, "shape"):
        return "jax"
    return None


def numpy_tree(tree, where: str, kinds: set | None = None):
    """A Python argument (``adcheck.check``, ``--inputs-from``) with every leaf a numpy array:
    torch tensors and JAX arrays copied out, dicts, lists and tuples kept; ``kinds`` collects
    the libraries the leaves came from ("jax", "torch")."""
    kinds = set() if kinds is None else kinds
    if isinstance(tree, dict):
        return {key: numpy_tree(child, f"{where}[{key!r}]", kinds) for key, child in tree.items()}
    if isinstance(tree, (list, tuple)):
        items = [numpy_tree(child, f"{where}[{i}]", kinds) for i, child in enumerate(tree)]
        return items if isinstance(tree, list) else tuple(items)
    kind = _array_kind(tree)
    if kind == "torch":
        kinds.add(kind)
        tree = tree.detach().cpu().numpy()
    elif kind == "jax":
        kinds.add(kind)
        tree = np.asarray(tree)
    if isinstance(tree, (str, bytes)) or tree is None or not (np.isscalar(tree) or isinstance(tree, np.ndarray)):
        raise InputError(f"{where}: expected an array or a number, got a {type(tree).__name__} "
                         "(pass what is not differentiated with functools.partial or a closure)")
    return as_numeric_array(tree, where)


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
        elif isinstance(item, complex):  # a {"$complex": [re, im]} leaf, decoded and checked finite
            continue
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            what = "booleans cannot be differentiated; pass 0/1 numbers" if isinstance(item, bool) else \
                f"expected a number or a (nested) list of numbers, got {_json_kind(item)}"
            if isinstance(item, dict):
                what += f" ({PYTREE_HINT}; a JSON object is a dict argument)"
            raise InputError(f"{origin}: {what}")
        elif isinstance(item, int) and not INT64_MIN <= item <= INT64_MAX:
            raise InputError(f"{origin}: the integer {str(item)[:20]}... does not fit in 64 bits; write it as a float")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InputError(f"{origin}: contains NaN or infinity; inputs must be finite")


def as_numeric_array(data, origin: str) -> np.ndarray:
    if isinstance(data, list) or cx.is_json_complex(data):  # JSON or TOML: {"$complex": [re, im]} leaves
        try:
            data = cx.decode_json(data)
        except cx.MalformedComplex as exc:
            raise InputError(f"{origin}: {exc}") from None
    if isinstance(data, (str, dict)) or data is None:
        raise InputError(f"{origin}: expected a number or a (nested) list of numbers, got {_json_kind(data)}")
    if isinstance(data, list):  # from JSON or TOML: its depth and its leaves, before numpy reads it
        _check_json_numbers(data, origin)
    try:
        array = np.asarray(data)
    except ValueError:  # ragged nesting
        raise InputError(f"{origin}: nested lists must be rectangular (every list at one depth the same length; "
                         f"{PYTREE_HINT})") from None
    if array.dtype == object or array.dtype.kind not in "biufc":
        kind = {"U": "string", "S": "bytes", "O": "object", "M": "datetime", "m": "timedelta"}.get(
            array.dtype.kind, array.dtype.name)
        raise InputError(f"{origin}: expected numbers, got {kind} values")
    if array.dtype.kind == "b":
        raise InputError(f"{origin}: booleans cannot be differentiated; pass 0/1 numbers")
    if array.size == 0:
        raise InputError(f"{origin}: the array is empty")
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        raise InputError(f"{origin}: contains NaN or infinity; inputs must be finite")
    return array


# JSON that says which lists are containers: {"$list": [...]} and {"$tuple": [...]} hold one
# argument per element, {"$array": ...} is one array whatever its nesting.
TAGS = ("$list", "$tuple", "$array")
PYTREE_HINT = 'for a list of separate arrays write {"$list": [...]}'


def parse_json_argument(text: str, origin: str = "--input"):
    """One argument from JSON text: an array, or a dict/list of arguments. Parsed as data, never evaluated.

    A JSON object is a dict; a list that holds an object is a list of arguments; any other list
    of numbers is one array (nested lists: a multi-dimensional one).
    """
    try:
        data = json.loads(text, parse_constant=lambda name: _reject_constant(name, origin))
    except json.JSONDecodeError as exc:
        raise InputError(f"{origin}: not valid JSON ({exc.msg} at column {exc.colno}): {text[:40]!r}") from None
    except RecursionError:
        raise InputError(f"{origin}: lists nested more than {MAX_DIMENSIONS} deep") from None
    except ValueError as exc:  # e.g. an integer literal with more digits than Python converts
        raise InputError(f"{origin}: not a usable number ({' '.join(str(exc).split())[:80]})") from None
    return json_tree(data, origin)


def json_tree(data, origin: str, depth: int = 0):
    if depth > MAX_DIMENSIONS:
        raise InputError(f"{origin}: nested more than {MAX_DIMENSIONS} deep")
    if cx.is_json_complex(data):
        return _numeric(data, origin)
    if isinstance(data, dict):
        if len(data) == 1 and next(iter(data)) in TAGS:
            tag, content = next(iter(data.items()))
            if tag == "$array":
                return _numeric(content, origin)
            if not isinstance(content, list) or not content:
                raise InputError(f"{origin}: {tag} takes a non-empty list, got {_json_kind(content)}")
            items = [json_tree(c, f"{origin}[{i}]", depth + 1) for i, c in enumerate(content)]
            return items if tag == "$list" else tuple(items)
        if not data:
            raise InputError(f"{origin}: an empty object holds nothing to differentiate")
        # The key spelled as a JSON string, so a key holding a newline or a quote keeps the
        # error message on one line.
        return {str(key): json_tree(value, f"{origin}[{json.dumps(str(key))}]", depth + 1)
                for key, value in data.items()}
    if isinstance(data, list) and any(isinstance(item, dict) and not cx.is_json_complex(item) for item in data):
        return [json_tree(item, f"{origin}[{i}]", depth + 1) for i, item in enumerate(data)]
    return _numeric(data, origin)


def _numeric(data, origin: str) -> np.ndarray:
    """One array from parsed JSON: numbers, ``{"$complex": [re, im]}`` leaves, nested lists of them."""
    try:
        data = cx.decode_json(data)
    except cx.MalformedComplex as exc:
        raise InputError(f"{origin}: {exc}") from None
    if not isinstance(data, list):
        _check_json_numbers(data, origin)
    return as_numeric_array(data, origin)


def load_file_arguments(path_text: str) -> list:
    """``@file.npy`` is one argument; ``@file.json`` one (any pytree); ``@file.npz`` one per stored
    array when they were saved by position (``np.savez(f, x, y)``: ``arr_0``, ``arr_1``...), else
    one dict argument keyed by the stored names (``np.savez(f, w=..., b=...)``)."""
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
            return [as_numeric_array(np.load(path, allow_pickle=False), origin)]
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                stored = {key: as_numeric_array(archive[key], f"{origin}[{key}]") for key in archive.files}
            if not stored:
                raise InputError(f"{origin}: the archive holds no arrays")
            positional = [f"arr_{i}" for i in range(len(stored))]
            if sorted(stored) == sorted(positional):
                return [stored[key] for key in positional]
            return [stored]
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


# ``--random 3x4:complex128``: the dtype after the shape (default float64).
RANDOM_DTYPES = {"float64": np.dtype(np.float64), "float32": np.dtype(np.float32),
                 "complex": np.dtype(np.complex128), "complex128": np.dtype(np.complex128),
                 "complex64": np.dtype(np.complex64)}


def parse_random(text: str) -> tuple[tuple[int, ...], np.dtype]:
    """``3x4`` or ``3x4:complex128``: a shape, and the dtype to draw in."""
    shape_text, colon, dtype_text = text.partition(":")
    dtype_text = dtype_text.strip() if colon else "float64"
    if dtype_text not in RANDOM_DTYPES:
        raise InputError(f"--random {text!r}: unknown dtype {dtype_text[:20]!r}; use one of "
                         f"{', '.join(RANDOM_DTYPES)} (e.g. 3x4:complex128)")
    return parse_shape(shape_text), RANDOM_DTYPES[dtype_text]


def _available_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def random_arguments(shapes: list[tuple[int, ...]], seed: int, where: str = "--random",
                     dtypes: list[np.dtype] | None = None) -> list[np.ndarray]:
    """Standard-normal arrays of these shapes from ``seed`` (a complex one's real and imaginary
    parts each standard normal, as JAX's check_grads and autograd draw complex vectors); all of
    them must fit the memory budget (one may fit where three do not). ``where`` names the flag or
    key in a refusal."""
    dtypes = dtypes or [np.dtype(np.float64)] * len(shapes)
    total = sum(math.prod(shape) * (2 if dtype.kind == "c" else 1) for shape, dtype in zip(shapes, dtypes))
    if total * 8 > RANDOM_MEMORY_FRACTION * _available_memory():
        shown = " ".join("x".join(map(str, shape)) for shape in shapes)
        together = " together" if len(shapes) > 1 else ""
        raise InputError(f"{where} {shown}: {total} values{together} ({total * 8 / 2**30:.1f} GiB) are too large "
                         "for this machine's memory")
    rng = np.random.default_rng(seed)
    drawn = []
    for shape, dtype in zip(shapes, dtypes):
        value = rng.standard_normal(shape)
        if dtype.kind == "c":
            value = value + 1j * rng.standard_normal(shape)
        drawn.append(value.astype(dtype))
    return drawn


def parse_wrt(text: str | None, n_args: int) -> tuple[int, ...]:
    """``--wrt 0,2`` as argument indices (default: every argument); names are resolved by ``select``."""
    if text is None or text.strip() == "":
        return tuple(range(n_args))
    try:
        indices = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--wrt {text!r}: expected argument indices like 0,2") from None
    return validate_wrt(indices, n_args, f"--wrt {text!r}")


def validate_wrt(indices, n_args: int, where: str) -> tuple[int, ...]:
    """The one check of differentiated-argument indices, for the flag, the configuration and the API."""
    if isinstance(indices, int) and not isinstance(indices, bool):
        indices = [indices]
    if (not isinstance(indices, (list, tuple)) or not indices
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices)):
        raise InputError(f"{where}: expected a list of argument indices like [0, 2], got {indices!r}")
    for index in indices:
        if not 0 <= index < n_args:
            raise InputError(f"{where}: argument {index} does not exist (the function gets {n_args})")
    if len(set(indices)) != len(indices):
        raise InputError(f"{where}: an index appears twice")
    return tuple(sorted(indices))


def select(raw: list, names: tuple[str, ...], text: str | None, where: str = "--wrt") -> set[tuple[int, tuple]]:
    """The (argument, path) prefixes ``--wrt`` selects: ``0``, ``params``, ``params.w``, ``1.layers.0``.

    Each comma-separated item is an argument (its index or its name) followed by dict keys or
    list indices, joined by dots; it selects every leaf under it. Default: everything.
    """
    if text is None or not str(text).strip():
        return {(i, ()) for i in range(len(raw))}
    chosen = set()
    for item in str(text).split(","):
        parts = item.strip().split(".")
        head = parts[0]
        if head.isdigit():
            argument = int(head)
        elif head in names:
            argument = names.index(head)
        elif head.startswith("arg") and head[3:].isdigit():
            argument = int(head[3:])
        else:
            known = ", ".join(names)
            raise InputError(f"{where} {text!r}: {head!r} is neither an argument index nor a parameter name "
                             f"(the function's: {known})")
        if not 0 <= argument < len(raw):
            raise InputError(f"{where} {text!r}: argument {argument} does not exist (the function gets {len(raw)})")
        node, path = raw[argument], ()
        for key in parts[1:]:
            if isinstance(node, dict) and key in node:
                node, path = node[key], (*path, key)
            elif isinstance(node, (list, tuple)) and key.isdigit() and int(key) < len(node):
                node, path = node[int(key)], (*path, int(key))
            else:
                reached = names[argument] + path_text(path)
                raise InputError(f"{where} {text!r}: {reached} has no {key!r}")
        if (argument, path) in chosen:
            raise InputError(f"{where} {text!r}: {item.strip()!r} appears twice")
        chosen.add((argument, path))
    return chosen


def build_arguments(
    inputs: tuple[str, ...] = (),
    random_shapes: tuple[str, ...] = (),
    seed: int = 0,
    wrt: str | None = None,
    names: tuple[str, ...] = (),
    module: tuple | None = None,
    given: list | None = None,
) -> Arguments:
    """Parse every ``--input``/``--random`` into arguments; promote differentiated integers to float64.

    ``names``: the function's positional parameter names, for ``--wrt params.w`` and for naming
    entries in the report (``arg0``, ``arg1``... where unknown). ``module``: a torch.nn.Module
    target's (parameters, forward's parameter names); its parameters become the first argument,
    ``params``, and ``--wrt`` indices still count the inputs given on the command line.
    ``given``: the arguments ``--inputs-from`` made (``inputs_from``).
    """
    if sum(map(bool, (inputs, random_shapes, given))) > 1:
        raise InputError("use one of --input, --random and --inputs-from")
    raw: list = list(given or [])
    if random_shapes:
        from .settings import seed as valid_seed

        shapes, dtypes = zip(*(parse_random(text) for text in random_shapes))
        raw = random_arguments(list(shapes), valid_seed(seed), dtypes=list(dtypes))
    for text in inputs:
        if text.startswith("@"):
            raw.extend(load_file_arguments(text[1:]))
        else:
            raw.append(parse_json_argument(text))
    if not raw:
        raise InputError("no inputs: give --input JSON (once per argument), --random SHAPE or --inputs-from FILE.py:FUNC")
    if module is not None:
        parameters, names = module
        raw = [parameters, *raw]
        names = ("params", *names)
        if wrt is not None and str(wrt).strip():  # "0" is the first input, as given; "params" its parameters
            wrt = ",".join(str(int(item) + 1) if item.strip().isdigit() else item.strip() for item in str(wrt).split(","))
    full_names = tuple(names[i] if i < len(names) else f"arg{i}" for i in range(len(raw)))
    arguments = promote(raw, select(raw, full_names, wrt), full_names)
    return replace(arguments, module_target=module is not None)


def promote(raw: list, chosen, names: tuple[str, ...] = ()) -> Arguments:
    """Arguments from raw trees; ``chosen`` is argument indices or (argument, path) prefixes to differentiate.

    A differentiated integer (or non-float) leaf becomes float64, and the report says so.
    """
    chosen = {(c, ()) if isinstance(c, int) else c for c in chosen}
    names = tuple(names[i] if i < len(names) else f"arg{i}" for i in range(len(raw)))
    found: list = []
    skeletons = tuple(skeleton_of(tree, found, i) for i, tree in enumerate(raw))
    leaves, info = [], []
    for argument, path, array in found:
        array = np.asarray(array)
        differentiated = any(argument == a and path[: len(p)] == p for a, p in chosen)
        promoted_from = None
        if differentiated and array.dtype not in (np.float64, np.float32, np.complex128, np.complex64):
            promoted_from = array.dtype.name
            array = array.astype(np.float64)
        leaves.append(Leaf(argument, path, array, differentiated, promoted_from))
        info.append(ArgumentInfo(index=argument, shape=tuple(array.shape), dtype=array.dtype.name,
                                 differentiated=differentiated, promoted_from=promoted_from,
                                 name=names[argument] + path_text(path)))
    if not any(leaf.differentiated for leaf in leaves):
        raise InputError("--wrt selects no array to differentiate")
    return Arguments(skeletons=skeletons, leaves=tuple(leaves), names=names, info=tuple(info))
