"""The static lint: ADC rules that point at code automatic differentiation gets wrong.

Everything here is pure ``ast``: nothing of the user's code is imported or run. A small
per-function scope analysis tells, for every name, where the object it is bound to comes from
(created in the call, an argument, or something that outlives the call: a module global, a default
argument, a factory's closure, the ``self`` of a module-level instance) and whether its value is
derived from the inputs. Calls into functions, classes and methods defined in the same file are
followed with what the caller passes, so ``acc = Accu(1.0); acc(x)`` reaches ``Accu.__call__`` with
a ``self`` created in the call, and ``ACC(x)`` with a ``self`` that outlives it.

The analysis is flow-insensitive on purpose (a name's facts are joined over all its assignments):
it is short, predictable, and errs on the side of silence for clean numerical code.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TargetError
from ..loader import parse_source, read_source
from ..model import Finding

# --- the rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: str  # "error" | "warning" | "info"
    summary: str
    what_it_does: str
    why_bad: str
    example: str
    use_instead: str


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {rule.code: rule for rule in rules}


RULES: dict[str, Rule] = _rules(
    Rule(
        "ADC101", "outliving-attribute-write", "error",
        "attribute written on an object that outlives the call",
        "Checks for attribute writes (`obj.a = ...`, `obj.a *= ...`, `setattr`) on an object that "
        "exists before the call and survives it: a module global, a default argument, a closure "
        "variable of a factory, or the `self` of a module-level instance. Objects created inside the "
        "call are fine.",
        "The function's value then depends on how often it has been called. Finite differences call "
        "it many times and see a different function each time; each AD backend calls it once more "
        "and starts from a different state, so the derivatives disagree for no visible reason.",
        "class Accu:\n    def __init__(self, a):\n        self.a = a\n\n    def __call__(self, arg):\n"
        "        self.a *= arg\n        return self.a\n\n\nACC = Accu(1.0)\n\n\n"
        "def cumprod(x):\n    return np.array([ACC(el) for el in x])",
        "def cumprod(x):\n    acc = Accu(1.0)  # a fresh accumulator per call\n"
        "    return np.array([acc(el) for el in x])",
    ),
    Rule(
        "ADC102", "global-write", "error",
        "`global`/`nonlocal` write",
        "Checks for assignments to names declared `global`, or `nonlocal` when the enclosing "
        "function is not part of the call (a factory's closure).",
        "State written by one call is read by the next: finite differences and every AD backend see "
        "different functions.",
        "CALLS = 0\n\n\ndef f(x):\n    global CALLS\n    CALLS += 1\n    return x * CALLS",
        "def f(x, calls=1):\n    return x * calls",
    ),
    Rule(
        "ADC103", "captured-container-mutation", "error",
        "mutation of a container that outlives the call",
        "Checks for mutating calls (`append`, `extend`, `update`, `pop`, `insert`, `add`, `clear`, "
        "`setdefault`, ...) and item assignment (`d[k] = v`) on a module global, a default argument "
        "or another object that outlives the call. A local list built with `append` is fine.",
        "The container remembers earlier calls, so repeated evaluations (finite differences, one "
        "run per backend) disagree; a default argument is shared by every call.",
        "SEEN = []\n\n\ndef f(x):\n    SEEN.append(x)\n    return x**2 * len(SEEN)",
        "def f(x):\n    seen = [x]\n    return x**2 * len(seen)",
    ),
    Rule(
        "ADC104", "in-place-array-write", "warning",
        "in-place array write",
        "Checks for writes into arrays: item assignment `a[i] = ...`, augmented assignment on an "
        "argument or a view of one, `out=`, `.sort()`, `.fill()`, `np.copyto`, `np.put`, "
        "`np.place`, and torch's `x.add_()`-style methods on an argument. A plain Python number "
        "updated with `acc += x` is not an array write.",
        "JAX arrays are immutable and autograd cannot record writes into an array, so the function "
        "fails or loses the derivative under those backends; torch refuses in-place writes into "
        "leaves that require grad. Writing into an argument also changes the input between "
        "finite-difference evaluations.",
        "def squares(x):\n    out = np.zeros_like(x)\n    for i in range(len(x)):\n"
        "        out[i] = x[i] ** 2\n    return out",
        "def squares(x):\n    return np.array([xi**2 for xi in x])  # or x**2",
    ),
    Rule(
        "ADC105", "argument-mutation", "error",
        "mutation of an argument",
        "Checks for in-place writes and mutating method calls on a parameter (or on a view of one), "
        "and attribute writes on a parameter.",
        "The caller's array changes: the finite-difference oracle then differentiates a moving "
        "target, and backends that evaluate the function more than once see different inputs.",
        "def normalize(x):\n    x /= np.sum(x)\n    return x",
        "def normalize(x):\n    return x / np.sum(x)",
    ),
    Rule(
        "ADC201", "python-number-conversion", "warning",
        "conversion of an input-derived value to a Python number or list",
        "Checks for `float(...)`, `int(...)`, `complex(...)`, `.item()`, `.tolist()` and `math.*` "
        "calls on values derived from the inputs.",
        "A Python number carries no derivative: autograd and JAX fail to convert a traced value "
        "(or the derivative silently becomes zero), torch detaches it.",
        "def f(x):\n    scale = float(np.sum(x))\n    return x * scale",
        "def f(x):\n    scale = np.sum(x)\n    return x * scale",
    ),
    Rule(
        "ADC202", "plain-array-conversion", "warning",
        "conversion of an input-derived value to a plain numpy array",
        "Checks for `.numpy()` on input-derived values and, in code written for autograd, JAX or "
        "torch, for the real numpy's `array`/`asarray` (typically imported as `onp`) on them.",
        "A plain numpy array leaves the trace: JAX raises a tracer-conversion error, torch refuses "
        "`.numpy()` on a tensor that requires grad, autograd loses the derivative.",
        "import jax.numpy as jnp\nimport numpy as onp\n\n\ndef f(x):\n    y = onp.asarray(x)\n"
        "    return jnp.sum(y**2)",
        "import jax.numpy as jnp\n\n\ndef f(x):\n    return jnp.sum(jnp.asarray(x) ** 2)",
    ),
    Rule(
        "ADC203", "explicit-stop-gradient", "warning",
        "explicit stop of the derivative",
        "Checks for `.detach()`, `.data` on input-derived values, `jax.lax.stop_gradient`, "
        "`torch.no_grad()`, `torch.inference_mode()` and `requires_grad_(False)`.",
        "Whatever flows through the stop has derivative zero for the AD backends, but not for the "
        "finite-difference oracle, which only sees values: the two will disagree. Intentional "
        "stops are fine, and worth a `# noqa: ADC203` saying so.",
        "def f(x):\n    scale = x.detach().sum()\n    return x * scale",
        "def f(x):\n    scale = x.sum()\n    return x * scale",
    ),
    Rule(
        "ADC204", "untraceable-numpy-call", "warning",
        "a numpy call the framework cannot trace",
        "Checks, in code written for autograd, JAX or torch, for calls to the real numpy (or scipy) "
        "on input-derived values, and, in autograd code, for `autograd.numpy` functions that "
        "autograd wraps without a derivative rule (`cumprod`, `nansum`, `asarray`, `interp`, ...). "
        "Functions autograd does differentiate (`np.sum`, `np.exp`, ...) are not reported.",
        "The call either fails on a traced value or returns a plain array without a derivative.",
        "import autograd.numpy as np\nimport numpy as onp\n\n\ndef f(x):\n    return np.sum(onp.sin(x))",
        "import autograd.numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x))",
    ),
    Rule(
        "ADC301", "non-smooth-operation", "info",
        "non-smooth operation on an input-derived value",
        "Checks for `abs`, builtin `max`/`min`/`round`, `np.maximum`/`minimum`/`max`/`min`/`abs`/"
        "`sign`/`floor`/`ceil`/`round`/`clip`/`sort`, `relu`, `%`, `//`, and `if`/`while`/ternary "
        "tests on values derived from the inputs.",
        "At a kink the derivative does not exist: each backend returns a different valid "
        "subgradient and finite differences straddle the kink. Away from kinks nothing is wrong, so "
        "this is information that explains a disagreement, not a defect.",
        "def f(x):\n    return np.maximum(x, 0.0)",
        "def f(x):\n    return np.maximum(x, 0.0)  # fine; evaluate away from x == 0",
    ),
    Rule(
        "ADC302", "where-nan-trap", "error",
        "`where` whose masked-out branch can be NaN or infinite",
        "Checks for `where`/`select` (numpy, jax.numpy, torch, autograd) whose branches contain "
        "`sqrt`, `log`, `arcsin`, a division or a fractional/negative power of an input-derived "
        "value that is not itself guarded by a `where`/`maximum`/`clip`.",
        "Reverse-mode AD differentiates both branches and multiplies the unused one by zero; "
        "0 * inf and 0 * NaN are NaN, so the gradient is NaN exactly where the value looks safe.",
        "def safe_sqrt(x):\n    return jnp.where(x > 0, jnp.sqrt(x), 0.0)",
        "def safe_sqrt(x):\n    positive = x > 0\n"
        "    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)",
    ),
    Rule(
        "ADC303", "zero-singularity", "warning",
        "`sqrt`/`norm`/`log`/fractional power of a quantity that can be exactly zero",
        "Checks for `sqrt`, `log`, `linalg.norm` and `x**p` with `0 < p < 1` or `p < 0` applied to a "
        "sum of squares, a square, an absolute value or a difference of inputs.",
        "The derivative is infinite or NaN where the quantity is zero (`x == y` for `norm(x - y)`), "
        "and backends disagree about what to return there.",
        "def dist(x, y):\n    return np.sqrt(np.sum((x - y) ** 2))",
        "def dist(x, y):\n    return np.sqrt(np.sum((x - y) ** 2) + 1e-30)  # or handle x == y",
    ),
    Rule(
        "ADC401", "randomness", "warning",
        "randomness inside the function",
        "Checks for `np.random.*`, `random.*`, `torch.rand*`/`normal`/`dropout` and draws from a "
        "module-level generator. `jax.random.*` takes an explicit key and is pure; seeding a new "
        "generator with a constant (`np.random.default_rng(0)`) is deterministic and not reported.",
        "Every call computes a different function, so finite differences measure noise and no two "
        "backends agree.",
        "def f(x):\n    return x + 0.01 * np.random.randn(*x.shape)",
        "def f(x, noise):\n    return x + 0.01 * noise  # draw the noise once, outside",
    ),
    Rule(
        "ADC402", "cache", "warning",
        "a cache on the path",
        "Checks for `functools.lru_cache`, `functools.cache`, `functools.cached_property` and a "
        "module-level (or default-argument) dict used as a memo: `if k in CACHE: return CACHE[k]`.",
        "A cache returns the value of an earlier call, computed without this call's traced inputs: "
        "the derivative through it is zero, or the cache hands back a stale tracer.",
        "CACHE = {}\n\n\ndef f(x):\n    key = x.tobytes()\n    if key in CACHE:\n        return CACHE[key]\n"
        "    CACHE[key] = value = np.exp(x)\n    return value",
        "def f(x):\n    return np.exp(x)",
    ),
    Rule(
        "ADC403", "jit-reads-mutable-global", "warning",
        "a `jax.jit` function reading a mutable module global",
        "Checks for functions compiled with `jax.jit` (decorator, `partial(jax.jit, ...)` or "
        "`g = jax.jit(f)`), and the functions they call, that read a module global which is rebound "
        "with `global` somewhere or is a module-level list, dict, array or object.",
        "`jit` reads the global once, when it traces, and bakes the value into the compiled "
        "function: later changes are ignored until something triggers a retrace.",
        "SCALE = [2.0]\n\n\n@jax.jit\ndef f(x):\n    return x * SCALE[0]",
        "@jax.jit\ndef f(x, scale):\n    return x * scale",
    ),
    Rule(
        "ADC404", "time-io-environment", "warning",
        "time, I/O or environment read",
        "Checks for `time.*`, `datetime.now()`/`today()`, `open`, `input`, `os.environ`, "
        "`os.getenv` and loading files (`np.load`, `pickle.load`, `json.load`) inside the function. "
        "`print` is fine.",
        "The function's value can change between calls, and file reads make every evaluation slow "
        "and the result depend on the disk.",
        "def f(x):\n    scale = float(os.environ.get('SCALE', '1'))\n    return x * scale",
        "SCALE = float(os.environ.get('SCALE', '1'))  # read once, at import\n\n\n"
        "def f(x):\n    return x * SCALE",
    ),
    Rule(
        "ADC501", "custom-derivative-rule", "warning",
        "user-defined derivative rule",
        "Reports functions with a hand-written derivative: `jax.custom_vjp`/`custom_jvp` with "
        "`.defvjp`/`.defjvp`, autograd's `@primitive` with `defvjp`/`defjvp`, and "
        "`torch.autograd.Function` subclasses; on the definition and where the rule is registered. "
        "The message says which backends use the rule.",
        "The backends that use the rule differentiate the rule, not the code, so a wrong rule shows "
        "up as those backends (and only those) disagreeing with finite differences.",
        "@jax.custom_vjp\ndef my_sin(x):\n    return jnp.sin(x)\n\n\n"
        "my_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (-jnp.cos(x) * g,))",
        "@jax.custom_vjp\ndef my_sin(x):\n    return jnp.sin(x)\n\n\n"
        "my_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (jnp.cos(x) * g,))"
        "  # checked by adcheck",
    ),
)

# --- what names mean --------------------------------------------------------------------------

# Module prefixes whose functions act on arrays; ``array_tail`` strips the longest one.
_ARRAY_MODULES = (
    "numpy", "autograd.numpy", "jax.numpy", "torch", "jax.lax", "jax.nn", "jax.scipy.special",
    "torch.nn.functional", "torch.special", "scipy.special", "autograd.scipy.special", "math",
)
_SHAPE_ATTRS = frozenset({"shape", "ndim", "dtype", "size", "device", "itemsize", "nbytes"})
_VIEW_ATTRS = frozenset({"T", "mT", "real", "imag", "flat"})
_ALIAS_METHODS = frozenset({"reshape", "view", "view_as", "ravel", "squeeze", "unsqueeze", "transpose",
                            "swapaxes", "get", "values", "items", "keys", "expand", "permute", "narrow",
                            "diagonal", "__getitem__"})
_ALIAS_FUNCS = frozenset({"asarray", "asanyarray", "ravel", "reshape", "squeeze", "atleast_1d", "atleast_2d",
                          "atleast_3d", "transpose", "as_tensor", "from_numpy", "swapaxes", "moveaxis"})
_ARRAY_CONSTRUCTORS = frozenset({
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "array",
    "copy", "arange", "linspace", "eye", "identity", "tensor", "clone",
})
_MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "fill", "put", "resize", "itemset", "partition", "__setitem__",
    "__delitem__", "__iadd__", "__imul__",
})
_ARRAY_INPLACE_METHODS = frozenset({"sort", "fill", "put", "resize", "itemset", "partition", "__setitem__"})
_INPLACE_FUNCS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"})
_PLAIN_ARRAY_CONVERSIONS = frozenset({"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"})
# numpy functions that only look at shapes or types: harmless on a traced value.
_QUERIES = frozenset({"shape", "ndim", "size", "isscalar", "result_type", "iscomplexobj", "isrealobj",
                      "issubdtype", "finfo", "iinfo", "dtype", "broadcast_shapes", "promote_types"})
# autograd.numpy functions that autograd wraps as primitives without a derivative rule (autograd 1.7:
# neither in ``autograd.core.primitive_vjps`` nor registered as non-differentiable); differentiating
# through them raises "VJP of ... not defined". Only the ones that take array data are listed;
# tests/test_rules.py checks the list against the installed autograd.
AUTOGRAD_NO_VJP = frozenset({
    "apply_along_axis", "apply_over_axes", "asanyarray", "asarray", "asarray_chkfinite", "ascontiguousarray",
    "asfortranarray", "average", "bincount", "block", "broadcast_arrays", "cbrt", "choose", "compress",
    "concat", "convolve", "copy", "copysign", "corrcoef", "correlate", "cov", "cumprod", "cumulative_prod",
    "cumulative_sum", "delete", "diagflat", "digitize", "divmod", "dstack", "ediff1d", "extract", "flip",
    "float_power", "fmod", "frexp", "heaviside", "histogram", "i0", "insert", "interp", "ldexp", "median",
    "modf", "nancumprod", "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile",
    "nanprod", "nanquantile", "nanstd", "nansum", "nanvar", "nextafter", "percentile", "piecewise",
    "poly", "polyfit", "polyval", "positive", "ptp", "quantile", "roots", "spacing", "take",
    "take_along_axis", "trapezoid", "trim_zeros", "unique", "unwrap", "vander", "vdot", "vecdot",
    "matvec", "vecmat", "linalg.cond", "linalg.eigvals", "linalg.eigvalsh", "linalg.lstsq",
    "linalg.matrix_norm", "linalg.matrix_power", "linalg.multi_dot", "linalg.qr", "linalg.svdvals",
    "linalg.tensorinv", "linalg.tensorsolve", "linalg.vector_norm",
})
_NONSMOOTH = frozenset({
    "abs", "absolute", "fabs", "maximum", "minimum", "fmax", "fmin", "max", "min", "amax", "amin", "sign",
    "floor", "ceil", "round", "around", "rint", "trunc", "fix", "clip", "clamp", "sort", "median", "relu",
    "relu6", "leaky_relu", "hard_tanh", "hardtanh", "mod", "fmod", "remainder", "floor_divide", "heaviside",
})
_NONSMOOTH_METHODS = frozenset({"max", "min", "clip", "clamp", "round", "sort", "abs", "relu", "floor", "ceil",
                                "sign"})
_NAN_PRONE = frozenset({"sqrt", "log", "log2", "log10", "log1p", "arcsin", "arccos", "arctanh", "arccosh",
                        "asin", "acos", "atanh", "acosh", "reciprocal", "rsqrt", "divide", "true_divide",
                        "power", "float_power", "pow"})
_GUARDS = frozenset({"where", "maximum", "fmax", "clip", "clamp", "clamp_min", "softplus", "exp"})
_WHERE = frozenset({"where", "select", "piecewise"})
_RANDOM_PREFIXES = ("numpy.random.", "autograd.numpy.random.", "random.", "secrets.")
_RANDOM_CALLS = frozenset({
    "torch.rand", "torch.randn", "torch.randint", "torch.rand_like", "torch.randn_like", "torch.randint_like",
    "torch.normal", "torch.bernoulli", "torch.multinomial", "torch.randperm", "torch.poisson",
    "torch.nn.functional.dropout", "os.urandom", "uuid.uuid4", "uuid.uuid1",
})
# Constructors of generators: deterministic when given a seed.
_SEEDED = frozenset({"default_rng", "RandomState", "Generator", "SeedSequence", "PCG64", "MT19937", "Random",
                     "seed", "manual_seed", "get_state", "set_state", "getstate", "setstate"})
_GENERATOR_CONSTRUCTORS = frozenset({"default_rng", "RandomState", "Generator", "Random"})
_CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache", "functools.cached_property"})
_JIT = frozenset({"jax.jit", "jax.api.jit", "equinox.filter_jit"})
_PARTIAL = frozenset({"functools.partial"})
_IO_CALLS = frozenset({
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "os.getenv", "os.getcwd", "os.listdir", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt",
    "numpy.fromfile", "pickle.load", "pickle.loads", "json.load", "torch.load", "builtins.open",
    "builtins.input",
})
_STOP_CALLS = frozenset({"jax.lax.stop_gradient", "torch.no_grad", "torch.inference_mode",
                         "torch.autograd.grad_mode.no_grad", "autograd.tracer.getval"})
_CUSTOM_JAX = {"jax.custom_vjp": ("vjp", ("jax-rev",)), "jax.custom_jvp": ("jvp", ("jax-fwd", "jax-rev"))}
_AUTOGRAD_PRIMITIVE = frozenset({"autograd.extend.primitive", "autograd.core.primitive", "autograd.primitive",
                                 "autograd.tracer.primitive"})
_TORCH_FUNCTION = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
_BUILTINS = frozenset(dir(builtins))
_RANK = {"fresh": 0, "unknown": 1, "param": 2, "outliving": 3}


def array_tail(qual: str | None) -> str | None:
    """``"jax.numpy.linalg.norm"`` -> ``"linalg.norm"``: the function name under an array module."""
    if not qual:
        return None
    best = None
    for prefix in _ARRAY_MODULES:
        if qual.startswith(prefix + ".") and (best is None or len(prefix) > len(best)):
            best = prefix
    return qual[len(best) + 1:] if best else None


def _last(name: str | None) -> str | None:
    return name.rpartition(".")[2] if name else None


def _is_mutable_literal(node: ast.expr | None) -> bool:
    return isinstance(node, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp))


def _constant_number(node: ast.expr) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_number(node.operand)
        return -inner if inner is not None else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        a, b = _constant_number(node.left), _constant_number(node.right)
        return a / b if a is not None and b else None
    return None


def _singular_exponent(node: ast.expr) -> bool:
    """An exponent whose power has an infinite (p < 1) or NaN (non-integer, negative base) derivative."""
    p = _constant_number(node)
    return p is not None and (p < 0 or 0 < p < 1)


def _nan_exponent(node: ast.expr) -> bool:
    p = _constant_number(node)
    return p is None or p < 0 or p != int(p)


# --- the module -------------------------------------------------------------------------------


@dataclass
class ClassInfo:
    node: ast.ClassDef
    methods: dict[str, ast.FunctionDef]
    input_attributes: set[str]  # self.X assigned from a method argument
    torch_function: bool


@dataclass
class Custom:
    """Derivative-rule findings attached to the function or class that has the rule."""

    kind: str  # "jax-vjp", "jax-jvp", "autograd", "torch"
    definitions: list[tuple[ast.AST, str]] = field(default_factory=list)  # (node, how)
    registrations: list[tuple[ast.AST, str, tuple[str, ...]]] = field(default_factory=list)
    explains: tuple[str, ...] = ()


class ModuleInfo:
    """Module-level facts: imports, definitions, globals, custom derivative rules."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.imports: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.imports[top] = top
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        # Code is "written for" a framework when it imports the framework's array namespace; a module
        # that only imports ``jax`` for ``jax.grad`` next to plain numpy is numpy code (the loader
        # rebinds its numpy under each backend).
        used = set(self.imports.values()) | {q for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                                             for q in [self.qualname(n)] if q}
        self.framework = next((name for name, prefix in (("torch", "torch"), ("jax", "jax.numpy"),
                                                         ("autograd", "autograd.numpy"))
                               if any(q == prefix or q.startswith(prefix + ".") for q in used)), None)
        self.functions: dict[str, ast.FunctionDef] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.global_values: dict[str, ast.expr | None] = {}
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = self._class_info(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in _target_names(target):
                        self.global_values.setdefault(name, node.value)
        self.instances = {name: value.func.id for name, value in self.global_values.items()
                          if isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                          and value.func.id in self.classes}
        self.rebound: set[str] = set()  # globals assigned in a function under ``global``
        self.memo_keys: set[str] = set()  # names/attributes some function item-assigns into
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                declared = {n for g in ast.walk(node) if isinstance(g, ast.Global) for n in g.names}
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id in declared:
                        self.rebound.add(sub.id)
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
                base = node.value
                if isinstance(base, ast.Name):
                    self.memo_keys.add(base.id)
                elif isinstance(base, ast.Attribute):
                    self.memo_keys.add(base.attr)
        self.wrappers: dict[str, tuple[str, frozenset[str]]] = {}
        for name, value in self.global_values.items():
            unwrapped = self._unwrap(value)
            if unwrapped is not None:
                self.wrappers[name] = unwrapped
        self.customs: dict[str, Custom] = {}
        self._collect_customs()

    def qualname(self, node: ast.AST) -> str | None:
        """The dotted name an expression refers to through the imports (``np.sqrt`` -> ``numpy.sqrt``)."""
        if isinstance(node, ast.Name):
            return self.imports.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    def decorator_qualname(self, node: ast.expr) -> str | None:
        """``@jax.jit``, ``@jax.jit(...)`` and ``@partial(jax.jit, ...)`` all name ``jax.jit``."""
        if isinstance(node, ast.Call):
            qual = self.qualname(node.func)
            if qual in _PARTIAL and node.args:
                return self.qualname(node.args[0])
            return qual
        return self.qualname(node)

    def _class_info(self, node: ast.ClassDef) -> ClassInfo:
        methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
        inputs = set()
        for method in methods.values():
            params = {a.arg for a in _all_args(method.args)[1:]}
            for sub in ast.walk(method):
                if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and sub.value is not None:
                    targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                    uses = {n.id for n in ast.walk(sub.value) if isinstance(n, ast.Name)}
                    if uses & params or isinstance(sub, ast.AugAssign):
                        for target in targets:
                            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                                    and target.value.id == "self":
                                inputs.add(target.attr)
        torch_function = any(self.qualname(base) in _TORCH_FUNCTION for base in node.bases)
        return ClassInfo(node, methods, inputs, torch_function)

    def _unwrap(self, value: ast.expr | None) -> tuple[str, frozenset[str]] | None:
        """``g = jax.jit(f)``, ``g = jax.custom_vjp(f)``, ``op = F.apply``: what ``g`` runs."""
        flags: set[str] = set()
        while isinstance(value, ast.Call) and value.args:
            qual = self.qualname(value.func)
            if qual in _JIT:
                flags.add("jit")
            value = value.args[1] if qual in _PARTIAL and len(value.args) > 1 else value.args[0]
        if isinstance(value, ast.Name) and value.id in self.functions:
            return value.id, frozenset(flags)
        if isinstance(value, ast.Attribute) and value.attr == "apply" and isinstance(value.value, ast.Name) \
                and value.value.id in self.classes:
            return value.value.id, frozenset(flags | {"class"})
        return None

    def _collect_customs(self) -> None:
        for name, function in self.functions.items():
            for decorator in function.decorator_list:
                qual = self.decorator_qualname(decorator)
                if qual in _CUSTOM_JAX:
                    kind, explains = _CUSTOM_JAX[qual]
                    custom = self.customs.setdefault(name, Custom(f"jax-{kind}", explains=explains))
                    custom.definitions.append((decorator, qual))
                elif qual in _AUTOGRAD_PRIMITIVE:
                    custom = self.customs.setdefault(name, Custom("autograd"))
                    custom.definitions.append((decorator, "autograd primitive"))
        for node in self.tree.body:  # f = jax.custom_vjp(f_impl)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and node.value.args:
                qual = self.qualname(node.value.func)
                inner = node.value.args[0]
                if isinstance(inner, ast.Name) and inner.id in self.functions:
                    for target in _target_names(node.targets[0]):
                        if qual in _CUSTOM_JAX:
                            kind, explains = _CUSTOM_JAX[qual]
                            custom = self.customs.setdefault(inner.id, Custom(f"jax-{kind}", explains=explains))
                        elif qual in _AUTOGRAD_PRIMITIVE:
                            custom = self.customs.setdefault(inner.id, Custom("autograd"))
                        else:
                            continue
                        custom.definitions.append((node, qual))
                        self.customs.setdefault(target, custom)
        for name, info in self.classes.items():
            if info.torch_function:
                explains = ("torch-rev", "torch-fwd") if "jvp" in info.methods else ("torch-rev",)
                custom = self.customs.setdefault(name, Custom("torch", explains=explains))
                custom.definitions.append((info.node, "torch.autograd.Function"))
                for method, backend in (("backward", ("torch-rev",)), ("vjp", ("torch-rev",)),
                                        ("jvp", ("torch-fwd",))):
                    if method in info.methods:
                        custom.registrations.append((info.methods[method], f"{name}.{method}", backend))
        # Registrations: f.defvjp(...), @f.defjvp, defvjp(f, ...).
        for node in ast.walk(self.tree):
            sites = []
            if isinstance(node, ast.Call):
                sites.append((node, node.func, node.args))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                sites.extend((d, d, ()) for d in node.decorator_list if isinstance(d, ast.Attribute))
            for site, func, args in sites:
                if isinstance(func, ast.Attribute) and func.attr in ("defvjp", "defjvp") \
                        and isinstance(func.value, ast.Name) and func.value.id in self.customs:
                    custom = self.customs[func.value.id]
                    if custom.kind.startswith("jax"):
                        custom.registrations.append((site, f"{func.value.id}.{func.attr}", custom.explains))
                    continue
                qual = self.qualname(func)
                rule = _last(qual)
                if qual and qual.startswith("autograd.") and rule and rule.startswith(("defvjp", "defjvp")) \
                        and args and isinstance(args[0], ast.Name) and args[0].id in self.customs:
                    custom = self.customs[args[0].id]
                    explains = ("autograd",) if rule.startswith("defvjp") else ()
                    custom.registrations.append((site, f"{rule}({args[0].id}, ...)", explains))
                    custom.explains = tuple(sorted(set(custom.explains) | set(explains)))


def _target_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _target_names(elt)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _all_args(args: ast.arguments) -> list[ast.arg]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        every.append(args.vararg)
    if args.kwarg:
        every.append(args.kwarg)
    return every


def _defaults(args: ast.arguments) -> dict[str, ast.expr]:
    positional = [*args.posonlyargs, *args.args]
    defaults = dict(zip([a.arg for a in positional[len(positional) - len(args.defaults):]], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    return defaults


def _is_static(function: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


# --- values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """What the analysis knows about the object a name or expression refers to."""

    origin: str = "fresh"  # "fresh" (created in the call) < "unknown" < "param" < "outliving"
    tainted: bool = False  # derived from the inputs
    array: bool = False  # known to be an array (not a Python number, list or dict)
    cls: str | None = None  # an instance of this class of the file
    note: str = field(default="", compare=False)  # how to name it in a message

    def join(self, other: Value) -> Value:
        worse = self if _RANK[self.origin] >= _RANK[other.origin] else other
        return Value(worse.origin, self.tainted or other.tainted, self.array or other.array,
                     self.cls or other.cls, worse.note or self.note or other.note)


FRESH = Value()
UNKNOWN_INPUT = Value("unknown", tainted=True)


def _argument(name: str) -> Value:
    return Value("param", tainted=True, array=True, note=f"argument `{name}`")


class Scope:
    """One function's names for one context: parameters as bound by the caller, locals, closure."""

    def __init__(self, module: ModuleInfo, node: ast.AST, params: dict[str, Value],
                 parent: Scope | None, in_call: bool):
        self.module = module
        self.node = node
        self.params = params
        self.parent = parent
        self.in_call = in_call  # is the enclosing call part of what is checked (False: a factory)
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.bindings: dict[str, list[tuple]] = {}
        self.nested: dict[str, ast.FunctionDef] = {}
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            for sub in walk_scope(statement):
                self._collect(sub)
        self.values: dict[str, Value] = {}
        self._solve()

    # Bindings are (kind, ...) tuples, evaluated by ``_source_value``.
    def _bind(self, target: ast.expr, source: tuple) -> None:
        if isinstance(target, ast.Name):
            self.bindings.setdefault(target.id, []).append(source)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for index, elt in enumerate(target.elts):
                self._bind(elt, ("item", source, None if isinstance(elt, ast.Starred) else index))
        elif isinstance(target, ast.Starred):
            self._bind(target.value, ("item", source, None))

    def _collect(self, node: ast.AST) -> None:
        if isinstance(node, ast.Global):
            self.declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            self.declared_nonlocal.update(node.names)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind(target, ("value", node.value))
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            self._bind(node.target, ("value", node.value))
        elif isinstance(node, ast.AugAssign):
            self._bind(node.target, ("aug", node.value))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind(node.target, ("iter", node.iter))
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self._bind(item.optional_vars, ("value", item.context_expr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bindings.setdefault(node.name, []).append(("fresh",))
            if not isinstance(node, ast.ClassDef):
                self.nested[node.name] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                self.bindings.setdefault((alias.asname or alias.name).split(".")[0], []).append(("outliving",))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self.bindings.setdefault(node.name, []).append(("fresh",))
        elif isinstance(node, ast.Lambda):
            for arg in _all_args(node.args):
                self.bindings.setdefault(arg.arg, []).append(("input",))

    def _solve(self) -> None:
        names = (set(self.bindings) | set(self.params)) - self.declared_global - self.declared_nonlocal
        self.values = {name: self.params.get(name, FRESH) for name in names}
        for _ in range(20):  # a fixpoint over a finite lattice: converges in a few rounds
            changed = False
            for name, sources in self.bindings.items():
                if name not in self.values:
                    continue
                value = self.values[name]
                for source in sources:
                    value = value.join(self._source_value(source))
                if value != self.values[name]:
                    self.values[name] = value
                    changed = True
            if not changed:
                break

    def _source_value(self, source: tuple) -> Value:
        kind = source[0]
        if kind == "value":
            return self.value(source[1])
        if kind == "aug":
            return Value(tainted=self.value(source[1]).tainted)
        if kind == "iter":
            return self.element(source[1], None)
        if kind == "item":
            inner, index = source[1], source[2]
            if inner[0] == "value" and isinstance(inner[1], (ast.Tuple, ast.List)) and index is not None \
                    and index < len(inner[1].elts):
                return self.value(inner[1].elts[index])
            if inner[0] == "iter":
                return self.element(inner[1], index)
            value = self._source_value(inner)
            return Value(value.origin, value.tainted, False, None, value.note)
        if kind == "input":
            return UNKNOWN_INPUT
        if kind == "outliving":
            return Value("outliving")
        return FRESH

    def element(self, iterable: ast.expr, index: int | None) -> Value:
        """The value of one element of ``for target in iterable`` (``index`` in a tuple target)."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and self.is_builtin(iterable.func.id):
            name = iterable.func.id
            if name == "range":
                return FRESH
            if name == "enumerate" and iterable.args:
                return FRESH if index == 0 else self.element(iterable.args[0], None)
            if name == "zip" and iterable.args:
                if index is not None and index < len(iterable.args):
                    return self.element(iterable.args[index], None)
                value = FRESH
                for arg in iterable.args:
                    value = value.join(self.element(arg, None))
                return value
        container = self.value(iterable)
        return Value(container.origin, container.tainted, False, None, container.note)

    def is_local(self, name: str) -> bool:
        return name in self.values

    def is_builtin(self, name: str) -> bool:
        return name in _BUILTINS and self.lookup_scope(name) is None and name not in self.module.imports \
            and name not in self.module.global_values and name not in self.module.functions

    def lookup_scope(self, name: str) -> Scope | None:
        """The function scope that binds ``name`` (None: module level or builtin)."""
        if name in self.declared_global:
            return None
        if name in self.values and name not in self.declared_nonlocal:
            return self
        return self.parent.lookup_scope(name) if self.parent is not None else None

    def lookup(self, name: str) -> Value:
        scope = self.lookup_scope(name)
        if scope is self:
            return self.values[name]
        if scope is not None:
            value = scope.values[name]
            if self._closure_in_call(scope):
                return value
            return Value("outliving", False, value.array, value.cls, f"closure variable `{name}`")
        return self.module_value(name)

    def _closure_in_call(self, scope: Scope) -> bool:
        current = self
        while current is not scope and current is not None:
            if not current.in_call:
                return False
            current = current.parent
        return True

    def module_value(self, name: str) -> Value:
        module = self.module
        if name in module.instances:
            return Value("outliving", cls=module.instances[name], note=f"module-level instance `{name}`")
        if name in module.global_values:
            array = _is_array_constructor(module, module.global_values[name])
            return Value("outliving", array=array, note=f"module global `{name}`")
        if name in module.functions or name in module.classes or name in module.imports:
            return Value("outliving", note=f"`{name}`")
        return Value("unknown")

    # ``value`` evaluates an expression with the current facts about names.
    def value(self, node: ast.AST | None) -> Value:
        if node is None or isinstance(node, ast.Constant):
            return FRESH
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr in _SHAPE_ATTRS:
                return FRESH
            if self.module.qualname(node) is not None:
                return Value("outliving", note=f"`{ast.unparse(node)}`")
            base = self.value(node.value)
            tainted = base.tainted or (base.cls is not None and base.cls in self.module.classes
                                       and node.attr in self.module.classes[base.cls].input_attributes)
            note = f"`{ast.unparse(node)}` ({base.note})" if base.note else ""
            return Value(base.origin, tainted, base.array and node.attr in _VIEW_ATTRS, None, note)
        if isinstance(node, ast.Subscript):
            base = self.value(node.value)
            is_view = isinstance(node.slice, ast.Slice) or (
                isinstance(node.slice, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.slice.elts))
            return Value(base.origin, base.tainted, base.array and is_view, None, base.note)
        if isinstance(node, ast.Call):
            return self.call_value(node)
        if isinstance(node, (ast.Starred, ast.NamedExpr)):
            return self.value(node.value)
        if isinstance(node, ast.Lambda):
            return FRESH
        if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops):
            return FRESH
        children = [self.value(child) for child in _child_expressions(node)]
        # Arithmetic on an array is a new array (`y = x * 2`): writing into it is an array write.
        array = isinstance(node, (ast.BinOp, ast.UnaryOp)) and any(c.array for c in children)
        return Value(tainted=any(c.tainted for c in children), array=array)

    def call_value(self, call: ast.Call) -> Value:
        func = call.func
        qual = self.module.qualname(func)
        arguments = [self.value(a) for a in call.args] + [self.value(k.value) for k in call.keywords]
        tainted = any(v.tainted for v in arguments)
        if isinstance(func, ast.Name) and qual is None:
            if self.is_builtin(func.id):
                if func.id in ("len", "range", "isinstance", "type", "id", "hasattr", "callable"):
                    return FRESH
                return Value(tainted=tainted)
            if func.id in self.module.classes and self.lookup_scope(func.id) is None:
                return Value(tainted=tainted, cls=func.id)
        if isinstance(func, ast.Attribute) and qual is None:
            receiver = self.value(func.value)
            if func.attr in _ALIAS_METHODS:
                return Value(receiver.origin, receiver.tainted or tainted, receiver.array, None, receiver.note)
            array = func.attr in ("copy", "astype", "clone") and (receiver.array or receiver.origin == "param")
            return Value(tainted=receiver.tainted or tainted, array=array)
        tail = array_tail(qual)
        if tail in _QUERIES:
            return FRESH
        if tail in _ALIAS_FUNCS and arguments:
            first = arguments[0]
            return Value(first.origin, first.tainted, True, None, first.note)
        if tail in _ARRAY_CONSTRUCTORS:
            return Value(tainted=tainted, array=True)
        return Value(tainted=tainted)

    def tainted(self, node: ast.AST) -> bool:
        return self.value(node).tainted

    def single_assignment(self, name: str) -> ast.expr | None:
        """The one expression a local name is assigned from, if there is exactly one."""
        sources = self.bindings.get(name, [])
        if len(sources) == 1 and sources[0][0] == "value" and name not in self.params:
            return sources[0][1]
        return None


def _is_array_constructor(module: ModuleInfo, node: ast.expr | None) -> bool:
    if _is_mutable_literal(node):
        return False
    return isinstance(node, ast.Call) and array_tail(module.qualname(node.func)) in _ARRAY_CONSTRUCTORS


def _child_expressions(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.comprehension):
            yield child.iter
            yield from child.ifs
        elif isinstance(child, (ast.expr, ast.keyword)):
            yield child.value if isinstance(child, ast.keyword) else child


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of one function's own code: nested functions and classes are yielded, not entered."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return
    for child in ast.iter_child_nodes(node):
        yield from walk_scope(child)


# --- the analysis -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Raw:
    code: str
    line: int
    col: int
    message: str
    explains: tuple[str, ...] = ()


class Linter:
    """Walks the functions reachable from the roots, one context at a time, collecting findings."""

    def __init__(self, module: ModuleInfo):
        self.module = module
        self.findings: dict[tuple[str, int, int], _Raw] = {}
        self.seen: set[tuple] = set()

    def report(self, code: str, node: ast.AST, message: str, explains: tuple[str, ...] = ()) -> None:
        key = (code, node.lineno, node.col_offset + 1)
        self.findings.setdefault(key, _Raw(code, node.lineno, node.col_offset + 1, message, explains))

    def report_custom(self, name: str) -> None:
        custom = self.module.customs.get(name)
        if custom is None:
            return
        users = _backend_list(custom.explains)
        for node, how in custom.definitions:
            self.report("ADC501", node, f"`{name}` has a user-defined derivative rule ({how}): {users}",
                        custom.explains)
        for node, how, explains in custom.registrations:
            self.report("ADC501", node, f"{how} registers a derivative rule for `{name}`: {_backend_list(explains)}",
                        explains)

    # --- entry points ---
    def root_params(self, function: ast.FunctionDef, self_value: Value | None) -> dict[str, Value]:
        defaults = _defaults(function.args)
        params = {}
        every = _all_args(function.args)
        for index, arg in enumerate(every):
            name = arg.arg
            if index == 0 and self_value is not None and arg in (*function.args.posonlyargs, *function.args.args):
                params[name] = self_value
            elif name in defaults:
                default = defaults[name]
                if _is_mutable_literal(default) or isinstance(default, ast.Call):
                    params[name] = Value("outliving", note=f"default argument `{name}`")
                else:
                    params[name] = Value("param", note=f"argument `{name}`")
            else:
                params[name] = _argument(name)
        return params

    def lint_function(self, function: ast.FunctionDef, self_value: Value | None = None, *,
                      parent: Scope | None = None, in_call: bool = True, jitted: bool = False,
                      cls: str | None = None) -> None:
        self.analyze(function, self.root_params(function, self_value), parent, in_call, jitted, cls)

    def analyze(self, function: ast.FunctionDef | ast.Lambda, params: dict[str, Value], parent: Scope | None,
                in_call: bool, jitted: bool, cls: str | None) -> None:
        if not isinstance(function, ast.Lambda):
            jitted = jitted or any(self.module.decorator_qualname(d) in _JIT for d in function.decorator_list)
        key = (id(function), tuple(sorted(params.items())), id(parent), in_call, jitted)
        if key in self.seen:
            return
        self.seen.add(key)
        scope = Scope(self.module, function, params, parent, in_call)
        if not isinstance(function, ast.Lambda):
            if parent is None and cls is None:
                self.report_custom(function.name)
            self.check_decorators(function, scope)
        FunctionChecker(self, scope, jitted, cls).run()

    def check_decorators(self, function: ast.FunctionDef, scope: Scope) -> None:
        for decorator in function.decorator_list:
            qual = self.module.decorator_qualname(decorator)
            if qual in _CACHE_DECORATORS:
                self.report("ADC402", decorator, f"`{function.name}` is cached with {qual}: a cached value "
                                                 "carries no derivative of this call's inputs")
            elif qual in _STOP_CALLS:
                self.report("ADC203", decorator, f"`{function.name}` runs under {qual}: no derivative flows "
                                                 "through it")


def _backend_list(explains: tuple[str, ...]) -> str:
    if not explains:
        return "no backend here uses it (autograd's jacobian is reverse-mode)"
    verb = "uses" if len(explains) == 1 else "use"
    return f"{', '.join(explains)} {verb} the rule instead of differentiating the code"


class FunctionChecker:
    """The rules, applied to one function's code in one context."""

    def __init__(self, linter: Linter, scope: Scope, jitted: bool, cls: str | None):
        self.linter = linter
        self.scope = scope
        self.module = scope.module
        self.jitted = jitted
        self.cls = cls
        self.called: set[int] = set()  # ids of Name nodes in call position

    def report(self, code: str, node: ast.AST, message: str) -> None:
        self.linter.report(code, node, message)

    def run(self) -> None:
        node = self.scope.node
        body = node.body if isinstance(node.body, list) else [node.body]
        for statement in body:
            for sub in walk_scope(statement):
                self.visit(sub)

    def visit(self, node: ast.AST) -> None:
        scope = self.scope
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A nested function: checked with the enclosing call's names as its closure.
            params = {a.arg: UNKNOWN_INPUT for a in _all_args(node.args)}
            self.linter.analyze(node, params, scope, True, self.jitted, None)
        elif isinstance(node, ast.Lambda):
            pass  # its body is walked as part of this function; its arguments are "input" locals
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self.check_store(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            self.check_store(node.target, augmented=isinstance(node, ast.AugAssign))
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.check_store(target)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self.check_store(node.target)
            if isinstance(node, ast.comprehension):
                for test in node.ifs:
                    self.check_branch(test)
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
            self.check_branch(node.test)
        elif isinstance(node, ast.Call):
            self.check_call(node)
        elif isinstance(node, ast.BinOp):
            self.check_binop(node)
        elif isinstance(node, ast.Compare):
            self.check_memo_lookup(node)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            self.check_attribute(node)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            self.check_name(node)

    # --- ADC101-105: writes ---
    def check_store(self, target: ast.expr, augmented: bool = False) -> None:
        scope = self.scope
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_store(elt)
        elif isinstance(target, ast.Starred):
            self.check_store(target.value)
        elif isinstance(target, ast.Name):
            name = target.id
            if name in scope.declared_global:
                self.report("ADC102", target, f"assigns the module global `{name}` (declared `global`): "
                                              "the next call sees this call's value")
            elif name in scope.declared_nonlocal and not self._nonlocal_in_call(name):
                self.report("ADC102", target, f"assigns `{name}` of an enclosing function that is not part of "
                                              "the call (declared `nonlocal`)")
            elif augmented:
                value = scope.lookup(name)
                if value.origin == "param" and (value.array or name in scope.params) and value.tainted:
                    self.report("ADC104", target, f"augmented assignment to `{name}` writes into {value.note} "
                                                  "in place")
                    self.report("ADC105", target, f"augmented assignment to `{name}` mutates {value.note}")
                elif value.origin == "fresh" and value.array:
                    self.report("ADC104", target, f"augmented assignment to the array `{name}` writes into it in "
                                                  "place; autograd cannot record the write")
        elif isinstance(target, ast.Attribute):
            self.attribute_write(target, f"`{ast.unparse(target)}`")
        elif isinstance(target, ast.Subscript):
            self.array_write(target, target.value, f"`{ast.unparse(target)} =`", item=True)

    def _nonlocal_in_call(self, name: str) -> bool:
        parent = self.scope.parent
        owner = parent.lookup_scope(name) if parent is not None else None
        return owner is not None and self.scope._closure_in_call(owner)

    def attribute_write(self, node: ast.AST, what: str, obj: ast.expr | None = None) -> None:
        obj = obj if obj is not None else node.value
        value = self.scope.value(obj)
        if value.origin == "outliving":
            self.report("ADC101", node, f"{what} writes an attribute of {value.note or 'an object'}, which "
                                        "outlives the call")
        elif value.origin == "param":
            self.report("ADC105", node, f"{what} writes an attribute of {value.note or 'an argument'}")

    def array_write(self, node: ast.AST, base: ast.expr, what: str, item: bool = False,
                    always_array: bool = False) -> None:
        """An in-place write into the object ``base`` refers to (``base[i] = v``, ``out=base``, ...)."""
        if _through_at(base):
            return
        value = self.scope.value(base)
        if value.origin == "outliving":
            self.report("ADC103", node, f"{what} mutates {value.note or 'an object'}, which outlives the call")
        elif value.origin == "param":
            self.report("ADC104", node, f"{what} writes into {value.note or 'an argument'} in place")
            self.report("ADC105", node, f"{what} mutates {value.note or 'an argument'}")
        elif value.array or always_array:
            self.report("ADC104", node, f"{what} writes into an array in place; JAX arrays are immutable and "
                                        "autograd cannot record the write")

    # --- calls ---
    def check_call(self, call: ast.Call) -> None:
        scope, module = self.scope, self.module
        func = call.func
        qual = module.qualname(func)
        if isinstance(func, ast.Name) and qual is None and scope.is_builtin(func.id):
            qual = f"builtins.{func.id}"
        tail = array_tail(qual)
        last = _last(tail)
        args_tainted = any(scope.tainted(a) for a in call.args) or any(scope.tainted(k.value) for k in call.keywords)
        first_tainted = bool(call.args) and scope.tainted(call.args[0])
        name = ast.unparse(func)

        # ADC104/105/103: in-place writes through calls.
        for keyword in call.keywords:
            if keyword.arg == "out" and not (isinstance(keyword.value, ast.Constant) and keyword.value.value is None):
                self.array_write(keyword, keyword.value, f"`{name}(..., out=...)`", always_array=True)
        if tail in _INPLACE_FUNCS and call.args and qual and qual.split(".")[0] in ("numpy", "autograd"):
            self.array_write(call, call.args[0], f"`{name}(...)`", always_array=True)
        if qual == "builtins.setattr" and call.args:
            self.attribute_write(call, "`setattr(...)`", call.args[0])

        if isinstance(func, ast.Attribute) and qual is None:
            self.check_method_call(call, func)

        # ADC201
        if qual in ("builtins.float", "builtins.int", "builtins.complex") and first_tainted:
            self.report("ADC201", call, f"`{func.id}()` turns an input-derived value into a Python number: "
                                        "its derivative is lost")
        if qual and qual.startswith("math.") and args_tainted:
            self.report("ADC201", call, f"`{name}` computes on Python floats: the derivative of its input-derived "
                                        "argument is lost")
        # ADC202 / ADC204: numpy the framework cannot trace.
        if module.framework and qual and args_tainted:
            top = qual.split(".")[0]
            if top == "numpy" and last in _PLAIN_ARRAY_CONVERSIONS and tail in _PLAIN_ARRAY_CONVERSIONS:
                self.report("ADC202", call, f"`{name}` makes a plain numpy array of an input-derived value in "
                                            f"{module.framework} code: it leaves the trace")
            elif top in ("numpy", "scipy") and tail not in _QUERIES and not qual.startswith("numpy.random."):
                self.report("ADC204", call, f"`{name}` is the real {top}, which {module.framework} cannot trace")
        if qual and qual.startswith("autograd.numpy.") and tail in AUTOGRAD_NO_VJP and args_tainted:
            self.report("ADC204", call, f"autograd wraps numpy.{tail} without a derivative rule: differentiating "
                                        "through it fails")
        # ADC203
        if qual in _STOP_CALLS:
            self.report("ADC203", call, f"`{name}` stops the derivative")
        # ADC301
        if qual in ("builtins.abs", "builtins.max", "builtins.min", "builtins.round") and args_tainted:
            self.report("ADC301", call, f"`{func.id}()` is not differentiable where its arguments tie or cross zero")
        elif tail and last in _NONSMOOTH and "random" not in tail and "linalg" not in tail and args_tainted:
            self.report("ADC301", call, f"`{name}` is not smooth: derivatives differ at its kinks")
        # ADC302
        if tail and last in _WHERE and "random" not in tail:
            self.check_where(call, last, name)
        # ADC303
        if tail and call.args and not _guarded(scope, call.args[0]):
            arg = call.args[0]
            if last in ("sqrt", "log", "log2", "log10") and self.zeroable(arg):
                self.report("ADC303", call, f"`{name}` of a quantity that is exactly zero at some inputs: "
                                            "its derivative is infinite there")
            elif last == "norm" and (self.zeroable(arg) or _is_difference(scope, arg)):
                self.report("ADC303", call, f"`{name}` of a quantity that can be exactly zero: its derivative "
                                            "is undefined (NaN) there")
            elif last in ("power", "float_power") and len(call.args) > 1 and _singular_exponent(call.args[1]) \
                    and self.zeroable(arg):
                self.report("ADC303", call, f"`{name}` with exponent {ast.unparse(call.args[1])} of a quantity "
                                            "that can be exactly zero: its derivative is infinite there")
        # ADC401
        if qual and self.is_random(call, qual):
            self.report("ADC401", call, f"`{name}` draws random numbers: every call computes a different function")
        # ADC404
        if qual and ((qual.startswith("time.") and qual != "time.sleep") or qual in _IO_CALLS):
            self.report("ADC404", call, f"`{name}` reads the clock, a file or the environment: the value can change "
                                        "between calls")
        self.follow(call)

    def check_method_call(self, call: ast.Call, func: ast.Attribute) -> None:
        scope = self.scope
        method = func.attr
        receiver = scope.value(func.value)
        user_method = receiver.cls is not None and receiver.cls in self.module.classes \
            and method in self.module.classes[receiver.cls].methods
        text = f"`{ast.unparse(func)}()`"
        torch_inplace = self.module.framework == "torch" and method.endswith("_") and not method.startswith("_")
        if not user_method and not _through_at(func.value) and (method in _MUTATING_METHODS or torch_inplace):
            if receiver.origin == "outliving":
                self.report("ADC103", call, f"{text} mutates {receiver.note or 'an object'}, which outlives the call")
            elif receiver.origin == "param":
                if method in _ARRAY_INPLACE_METHODS or torch_inplace:
                    self.report("ADC104", call, f"{text} writes into {receiver.note or 'an argument'} in place")
                self.report("ADC105", call, f"{text} mutates {receiver.note or 'an argument'}")
            elif receiver.array and method in _ARRAY_INPLACE_METHODS:
                self.report("ADC104", call, f"{text} writes into an array in place; JAX arrays are immutable and "
                                            "autograd cannot record the write")
        if method in ("item", "tolist") and receiver.tainted:
            self.report("ADC201", call, f"{text} turns an input-derived value into Python numbers: the derivative "
                                        "is lost")
        if method == "numpy" and receiver.tainted:
            self.report("ADC202", call, f"{text} makes a plain numpy array of an input-derived tensor: it leaves "
                                        "the trace")
        if method in ("detach", "detach_") or (method == "requires_grad_" and call.args
                                               and isinstance(call.args[0], ast.Constant) and not call.args[0].value):
            self.report("ADC203", call, f"{text} stops the derivative")
        if method in _NONSMOOTH_METHODS and receiver.tainted and not user_method:
            self.report("ADC301", call, f"{text} is not smooth: derivatives differ at its kinks")
        if method == "norm" and not user_method and (self.zeroable(func.value) or _is_difference(scope, func.value)):
            self.report("ADC303", call, f"{text} of a quantity that can be exactly zero: its derivative is undefined "
                                        "(NaN) there")
        if method == "get" and receiver.origin == "outliving" and self._is_memo(func.value):
            self.report("ADC402", call, f"{text} looks up a memo that outlives the call: a cached value carries no "
                                        "derivative of this call's inputs")
        if isinstance(func.value, ast.Name) and func.value.id in self.module.global_values \
                and scope.lookup_scope(func.value.id) is None:
            generator = self.module.global_values[func.value.id]
            if isinstance(generator, ast.Call) and _last(self.module.qualname(generator.func)) in _GENERATOR_CONSTRUCTORS:
                self.report("ADC401", call, f"{text} draws from the module-level generator `{func.value.id}`: every "
                                            "call computes a different function")

    def is_random(self, call: ast.Call, qual: str) -> bool:
        if qual.startswith("jax."):
            return False  # jax.random takes an explicit key: pure
        if not (qual.startswith(_RANDOM_PREFIXES) or qual in _RANDOM_CALLS):
            return False
        if _last(qual) in _SEEDED:
            return not (call.args or call.keywords)  # seeded: deterministic
        return True

    def check_where(self, call: ast.Call, last: str, name: str) -> None:
        if last == "where" and len(call.args) < 3 and not call.keywords:
            return  # where(cond) is nonzero(cond)
        branches = list(call.args[1:]) + [k.value for k in call.keywords if k.arg not in ("condition", "condlist")]
        if last == "select" and call.args and "lax" not in (self.module.qualname(call.func) or ""):
            branches = list(call.args[1:]) + [k.value for k in call.keywords]
        for branch in branches:
            culprit = self.nan_prone(branch, 0)
            if culprit is not None:
                self.report("ADC302", call, f"`{name}` also differentiates the branch it masks out, and "
                                            f"`{culprit}` is NaN or infinite there: the gradient becomes NaN")
                return

    def nan_prone(self, node: ast.AST, depth: int) -> str | None:
        """The first sub-expression of a where-branch that can be NaN/inf on input-derived values."""
        scope = self.scope
        if depth > 3:
            return None
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                tail = array_tail(self.module.qualname(sub.func))
                if tail and _last(tail) in _NAN_PRONE and sub.args and scope.tainted(sub.args[0]) \
                        and not _guarded(scope, sub.args[0]):
                    if _last(tail) in ("power", "float_power", "pow") and len(sub.args) > 1 \
                            and not _nan_exponent(sub.args[1]):
                        continue
                    return ast.unparse(sub)
            elif isinstance(sub, ast.BinOp):
                if isinstance(sub.op, (ast.Div, ast.FloorDiv, ast.Mod)) and scope.tainted(sub.right) \
                        and not _guarded(scope, sub.right):
                    return ast.unparse(sub)
                if isinstance(sub.op, ast.Pow) and scope.tainted(sub.left) and _nan_exponent(sub.right) \
                        and not _guarded(scope, sub.left):
                    return ast.unparse(sub)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                assigned = scope.single_assignment(sub.id)
                if assigned is not None:
                    found = self.nan_prone(assigned, depth + 1)
                    if found is not None:
                        return found
        return None

    def zeroable(self, node: ast.AST, depth: int = 0) -> bool:
        """Is this a square, a sum of squares, an absolute value or a difference: exactly zero somewhere?"""
        scope = self.scope
        if depth > 4:
            return False
        if isinstance(node, ast.Name):
            assigned = scope.single_assignment(node.id)
            return assigned is not None and self.zeroable(assigned, depth + 1)
        if isinstance(node, ast.Subscript):
            return self.zeroable(node.value, depth + 1)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.zeroable(node.operand, depth + 1)
        if isinstance(node, ast.BinOp):
            left, right, op = node.left, node.right, node.op
            if isinstance(op, ast.Sub):
                return scope.tainted(left) or scope.tainted(right)
            if isinstance(op, ast.Add):
                return self.zeroable(left, depth + 1) and self.zeroable(right, depth + 1)
            if isinstance(op, (ast.Mult, ast.MatMult)):
                if ast.dump(left) == ast.dump(right) and scope.tainted(left):
                    return True
                if isinstance(op, ast.Mult):
                    return self.zeroable(left, depth + 1) or self.zeroable(right, depth + 1)
                return False
            if isinstance(op, ast.Div):
                return self.zeroable(left, depth + 1)
            if isinstance(op, ast.Pow):
                p = _constant_number(right)
                return p is not None and p > 0 and (p % 2 == 0 or self.zeroable(left, depth + 1)) \
                    and scope.tainted(left)
            return False
        if isinstance(node, ast.Call):
            func = node.func
            tail = array_tail(self.module.qualname(func))
            args = node.args
            if tail is None and isinstance(func, ast.Attribute) and self.module.qualname(func) is None:
                if func.attr in ("sum", "mean"):
                    return self.zeroable(func.value, depth + 1)
                if func.attr == "dot" and args:
                    return ast.dump(func.value) == ast.dump(args[0]) and scope.tainted(args[0])
                if func.attr == "norm":
                    return scope.tainted(func.value)
                return False
            if tail is None and isinstance(func, ast.Name) and func.id == "abs" and scope.is_builtin("abs"):
                return bool(args) and scope.tainted(args[0])
            last = _last(tail)
            if last in ("square", "abs", "absolute", "fabs") and args:
                return scope.tainted(args[0])
            if last in ("sum", "mean", "nansum", "trace") and args:
                return self.zeroable(args[0], depth + 1)
            if last in ("dot", "inner", "vdot", "matmul") and len(args) == 2:
                return (ast.dump(args[0]) == ast.dump(args[1]) and scope.tainted(args[0])) \
                    or self.zeroable(args[0], depth + 1) or self.zeroable(args[1], depth + 1)
            if last == "norm" and args:
                return scope.tainted(args[0])
        return False

    def check_binop(self, node: ast.BinOp) -> None:
        scope = self.scope
        if isinstance(node.op, (ast.Mod, ast.FloorDiv)) and (scope.tainted(node.left) or scope.tainted(node.right)):
            self.report("ADC301", node, f"`{ast.unparse(node)}` is not smooth: it jumps at every multiple")
        if isinstance(node.op, ast.Pow) and _singular_exponent(node.right) and not _guarded(scope, node.left) \
                and self.zeroable(node.left):
            self.report("ADC303", node, f"`{ast.unparse(node)}` raises a quantity that can be exactly zero to the "
                                        f"power {ast.unparse(node.right)}: its derivative is infinite there")

    def check_branch(self, test: ast.expr) -> None:
        membership = isinstance(test, ast.Compare) and all(isinstance(op, (ast.In, ast.NotIn)) for op in test.ops)
        if self.scope.tainted(test) and not membership:  # `key in table` is a lookup, not a kink
            self.report("ADC301", test, f"branch on `{ast.unparse(test)}`, an input-derived value: the function "
                                        "can jump or kink where the test flips")

    def _is_memo(self, container: ast.expr) -> bool:
        key = container.id if isinstance(container, ast.Name) else \
            container.attr if isinstance(container, ast.Attribute) else None
        return key is not None and key in self.module.memo_keys

    def check_memo_lookup(self, node: ast.Compare) -> None:
        for op, comparator in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)) and self.scope.value(comparator).origin == "outliving" \
                    and self._is_memo(comparator):
                self.report("ADC402", node, f"`{ast.unparse(node)}` looks up a memo that outlives the call: a cached "
                                            "value carries no derivative of this call's inputs")

    def check_attribute(self, node: ast.Attribute) -> None:
        qual = self.module.qualname(node)
        if qual == "os.environ":
            self.report("ADC404", node, "`os.environ` reads the environment: the value can change between calls")
        if node.attr == "data" and qual is None and self.scope.tainted(node.value):
            self.report("ADC203", node, f"`{ast.unparse(node)}` reads the raw data of an input-derived tensor: "
                                        "the derivative stops there")

    def check_name(self, node: ast.Name) -> None:
        scope, module = self.scope, self.module
        if module.imports.get(node.id) == "os.environ" and scope.lookup_scope(node.id) is None:
            self.report("ADC404", node, "`environ` reads the environment: the value can change between calls")
        if scope.lookup_scope(node.id) is not None:
            inner = scope.lookup_scope(node.id)
            if id(node) not in self.called and node.id in inner.nested:
                self.linter.analyze(inner.nested[node.id], {a.arg: UNKNOWN_INPUT for a in
                                                            _all_args(inner.nested[node.id].args)},
                                    inner, True, self.jitted, None)
            return
        if self.jitted and node.id in module.global_values and node.id not in module.wrappers and (
                node.id in module.rebound or node.id in module.instances
                or _is_mutable_literal(module.global_values[node.id])
                or _is_array_constructor(module, module.global_values[node.id])):
            self.report("ADC403", node, f"the jit-compiled function reads the mutable module global `{node.id}`: "
                                        "jit bakes in its value at trace time")
        if id(node) not in self.called and node.id in module.functions:
            # A function passed along (to map, lax.scan, vmap...): checked with unknown inputs.
            function = module.functions[node.id]
            self.linter.report_custom(node.id)
            self.linter.analyze(function, {a.arg: UNKNOWN_INPUT for a in _all_args(function.args)}, None, True,
                                self.jitted, None)

    # --- following calls into the file ---
    def follow(self, call: ast.Call) -> None:
        scope, module = self.scope, self.module
        func = call.func
        if isinstance(func, ast.Name):
            self.called.add(id(func))
            name = func.id
            owner = scope.lookup_scope(name)
            if owner is not None:
                if name in owner.nested:
                    nested = owner.nested[name]
                    self.linter.analyze(nested, self.bind(nested, call), owner, True, self.jitted, None)
                    return
                value = owner.values.get(name)
                if value is not None and value.cls:
                    self.call_method(value.cls, "__call__", value, call)
                return
            if name in module.functions:
                self.linter.report_custom(name)
                self.linter.analyze(module.functions[name], self.bind(module.functions[name], call), None, True,
                                    self.jitted, None)
            elif name in module.classes:
                self.linter.report_custom(name)
                self.call_method(name, "__init__", Value(cls=name, note=f"a new `{name}`"), call)
            elif name in module.instances:
                self.call_method(module.instances[name], "__call__", scope.module_value(name), call)
            elif name in module.wrappers:
                target, flags = module.wrappers[name]
                self.linter.report_custom(name)
                self.linter.report_custom(target)
                if "class" in flags:
                    self.call_method(target, "forward", None, call, prepend=FRESH)
                else:
                    function = module.functions[target]
                    self.linter.analyze(function, self.bind(function, call), None, True,
                                        self.jitted or "jit" in flags, None)
        elif isinstance(func, ast.Attribute):
            base = func.value
            if isinstance(base, ast.Name) and base.id in module.classes and scope.lookup_scope(base.id) is None:
                info = module.classes[base.id]
                if func.attr == "apply" and info.torch_function:
                    self.linter.report_custom(base.id)
                    self.call_method(base.id, "forward", None, call, prepend=FRESH)
                elif func.attr in info.methods:
                    method = info.methods[func.attr]
                    self.linter.analyze(method, self.bind(method, call), None, True, self.jitted, base.id)
                return
            receiver = scope.value(base)
            if receiver.cls and receiver.cls in module.classes and func.attr in module.classes[receiver.cls].methods:
                self.call_method(receiver.cls, func.attr, receiver, call)

    def call_method(self, cls: str, method_name: str, self_value: Value | None, call: ast.Call,
                    prepend: Value | None = None) -> None:
        info = self.module.classes.get(cls)
        if info is None or method_name not in info.methods:
            return
        method = info.methods[method_name]
        if _is_static(method):
            self_value = prepend
        self.linter.analyze(method, self.bind(method, call, self_value), None, True, self.jitted, cls)

    def bind(self, function: ast.FunctionDef, call: ast.Call, self_value: Value | None = None) -> dict[str, Value]:
        """The callee's parameters as this call binds them."""
        scope = self.scope
        positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
        defaults = _defaults(function.args)
        params: dict[str, Value] = {}
        index = 0
        if self_value is not None and positional:
            params[positional[0]] = self_value
            index = 1
        rest = FRESH
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                rest = rest.join(scope.value(arg.value))
                continue
            if index < len(positional):
                params[positional[index]] = scope.value(arg)
            else:
                rest = rest.join(scope.value(arg))
            index += 1
        for keyword in call.keywords:
            if keyword.arg is None:
                rest = rest.join(scope.value(keyword.value))
            else:
                params[keyword.arg] = scope.value(keyword.value)
        for arg in _all_args(function.args):
            if arg.arg in params:
                continue
            if arg is function.args.vararg or arg is function.args.kwarg:
                params[arg.arg] = Value(rest.origin, rest.tainted)
            elif arg.arg in defaults:
                default = defaults[arg.arg]
                mutable = _is_mutable_literal(default) or isinstance(default, ast.Call)
                params[arg.arg] = Value("outliving", note=f"default argument `{arg.arg}`") if mutable else FRESH
            else:
                params[arg.arg] = Value(rest.origin, rest.tainted, rest.array, None, rest.note)
        return params


def _through_at(node: ast.expr) -> bool:
    """``x.at[i]``: JAX's functional update, not an in-place write."""
    while isinstance(node, (ast.Subscript, ast.Attribute, ast.Call)):
        if isinstance(node, ast.Attribute) and node.attr == "at":
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return False


def _guarded(scope: Scope, node: ast.expr, depth: int = 0) -> bool:
    """Is the argument already clamped into a safe range (``sqrt(where(m, x, 1.0))``, ``maximum(x, eps)``)?"""
    if isinstance(node, ast.Name) and depth < 3:
        assigned = scope.single_assignment(node.id)
        return assigned is not None and _guarded(scope, assigned, depth + 1)
    if isinstance(node, ast.Call):
        qual = scope.module.qualname(node.func)
        last = _last(array_tail(qual)) if qual else (node.func.attr if isinstance(node.func, ast.Attribute) else None)
        return last in _GUARDS
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        # ``x**2 + eps``: a positive constant keeps it away from zero.
        for side, other in ((node.left, node.right), (node.right, node.left)):
            p = _constant_number(side)
            if p is not None and p > 0:
                return True
    return False


def _is_difference(scope: Scope, node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        assigned = scope.single_assignment(node.id)
        return assigned is not None and _is_difference(scope, assigned)
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and \
        (scope.tainted(node.left) or scope.tainted(node.right))


# --- noqa -------------------------------------------------------------------------------------

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)


def noqa_lines(source: str) -> dict[int, frozenset[str] | None]:
    """Line -> the codes silenced there (None: all of them)."""
    silenced = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _NOQA.search(line)
        if match:
            codes = match.group("codes")
            silenced[number] = frozenset(c.upper() for c in re.split(r"[\s,]+", codes) if c) if codes else None
    return silenced


# --- public API -------------------------------------------------------------------------------


def lint_file(path: Path, function: str | None = None) -> list[Finding]:
    """Findings for ``path``: for the code reachable from ``function`` or, without it, every function."""
    source = read_source(Path(path))
    tree = parse_source(Path(path))
    module = ModuleInfo(tree)
    linter = Linter(module)
    if function is None:
        for node in module.functions.values():
            linter.lint_function(node)
        for name, info in module.classes.items():
            for method in info.methods.values():
                if _is_static(method):
                    linter.lint_function(method, cls=name)
                else:
                    self_value = Value(cls=name) if method.name == "__init__" else Value("unknown", cls=name)
                    linter.lint_function(method, self_value, cls=name)
        for name, (target, flags) in module.wrappers.items():
            if "jit" in flags:
                linter.lint_function(module.functions[target], jitted=True)
        for name in module.customs:
            linter.report_custom(name)
    else:
        _lint_target(linter, module, function, str(path))
    silenced = noqa_lines(source)
    findings = []
    for raw in linter.findings.values():
        codes = silenced.get(raw.line, frozenset())
        if raw.line in silenced and (codes is None or raw.code in codes):
            continue
        findings.append(Finding(raw.code, RULES[raw.code].severity, str(path), raw.line, raw.col, raw.message,
                                explains=raw.explains if raw.code == "ADC501" else ()))
    return sorted(findings, key=lambda f: (f.line, f.col, f.code))


def _lint_target(linter: Linter, module: ModuleInfo, function: str, path: str) -> None:
    parts = function.split(".")
    head = parts[0]
    if len(parts) == 1:
        if head in module.functions:
            linter.lint_function(module.functions[head])
            return
        if head in module.wrappers:
            target, flags = module.wrappers[head]
            linter.report_custom(head)
            linter.report_custom(target)
            if "class" in flags:
                info = module.classes[target]
                if "forward" in info.methods:
                    linter.lint_function(info.methods["forward"], FRESH if not _is_static(info.methods["forward"])
                                         else None, cls=target)
            else:
                linter.lint_function(module.functions[target], jitted="jit" in flags)
            return
        if head in module.instances:
            cls = module.instances[head]
            method = module.classes[cls].methods.get("__call__")
            if method is not None:
                self_value = Value("outliving", cls=cls, note=f"module-level instance `{head}`")
                linter.lint_function(method, self_value, cls=cls)
                return
        if head in module.classes:
            method = module.classes[head].methods.get("__init__")
            if method is not None:
                linter.lint_function(method, Value(cls=head), cls=head)
            linter.report_custom(head)
            return
    elif len(parts) == 2:
        owner, name = parts
        if owner in module.classes and name in module.classes[owner].methods:
            method = module.classes[owner].methods[name]
            self_value = None if _is_static(method) else Value("param", tainted=True, cls=owner, note="argument `self`")
            linter.lint_function(method, self_value, cls=owner)
            return
        if owner in module.instances:
            cls = module.instances[owner]
            method = module.classes[cls].methods.get(name)
            if method is not None:
                self_value = None if _is_static(method) else \
                    Value("outliving", cls=cls, note=f"module-level instance `{owner}`")
                linter.lint_function(method, self_value, cls=cls)
                return
    raise TargetError(f"{path}: no function {function!r} to lint")


def lint_paths(specs: list[str]) -> list[Finding]:
    """Lint each ``FILE`` or ``FILE:func``; the findings of all of them, file by file."""
    findings = []
    for spec in specs:
        location, sep, function = spec.rpartition(":")
        if not sep or not function or not all(p.isidentifier() for p in function.split(".")) or not location:
            location, function = spec, None
        path = Path(location)
        if not path.is_file():
            raise TargetError(f"{spec}: no such file {location}")
        findings.extend(lint_file(path, function))
    return findings
