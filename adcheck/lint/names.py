"""What library names mean to the lint: the API tables every rule family reads.

Qualified names are written as the import system spells them (``numpy.random.randn``, not
``np.random.randn``); ``adcheck.lint.facts`` resolves the user's aliases to them.
"""

from __future__ import annotations

import builtins

# Module prefixes whose functions act on arrays; ``array_tail`` strips the longest one.
ARRAY_MODULES = (
    "numpy", "autograd.numpy", "jax.numpy", "torch", "jax.lax", "jax.nn", "jax.scipy.special",
    "torch.nn.functional", "torch.special", "scipy.special", "autograd.scipy.special", "math",
)
# Attributes that describe an array without reading its values: never input-derived.
SHAPE_ATTRIBUTES = frozenset({"shape", "ndim", "dtype", "size", "device", "itemsize", "nbytes"})
# Attributes that are views of the array they are read from: writing into one writes into both.
VIEW_ATTRIBUTES = frozenset({"T", "mT", "real", "imag", "flat"})
# Methods whose result is (or may be) the receiver itself or a view of it.
ALIAS_METHODS = frozenset({
    "reshape", "view", "view_as", "ravel", "squeeze", "unsqueeze", "transpose", "swapaxes", "get", "values",
    "items", "keys", "expand", "permute", "narrow", "diagonal", "__getitem__",
})
# Array functions whose result may share memory with their first argument.
ALIAS_FUNCTIONS = frozenset({
    "asarray", "asanyarray", "ravel", "reshape", "squeeze", "atleast_1d", "atleast_2d", "atleast_3d",
    "transpose", "as_tensor", "from_numpy", "swapaxes", "moveaxis",
})
ARRAY_CONSTRUCTORS = frozenset({
    "zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "array",
    "copy", "arange", "linspace", "eye", "identity", "tensor", "clone",
})
# Methods that change their receiver (containers and arrays).
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add",
    "discard", "sort", "reverse", "fill", "put", "resize", "itemset", "partition", "__setitem__",
    "__delitem__", "__iadd__", "__imul__",
})
# The mutating methods that write into an array's values (not a container's membership).
ARRAY_INPLACE_METHODS = frozenset({"sort", "fill", "put", "resize", "itemset", "partition", "__setitem__"})
# numpy functions that write into their first argument.
INPLACE_FUNCTIONS = frozenset({"copyto", "put", "place", "putmask", "fill_diagonal", "put_along_axis"})
PLAIN_ARRAY_CONVERSIONS = frozenset({"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"})
# numpy functions that only look at shapes or types: harmless on a traced value.
QUERIES = frozenset({
    "shape", "ndim", "size", "isscalar", "result_type", "iscomplexobj", "isrealobj", "issubdtype", "finfo",
    "iinfo", "dtype", "broadcast_shapes", "promote_types",
})
# autograd.numpy functions that autograd wraps as primitives without a derivative rule (autograd 1.7:
# neither in ``autograd.core.primitive_vjps`` nor registered as non-differentiable); differentiating
# through them raises "VJP of ... not defined". Only the ones that take array data are listed;
# tests/test_lint_names.py checks the list against the installed autograd.
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
NUMBER_CONVERSIONS = frozenset({"builtins.float", "builtins.int", "builtins.complex"})
NONSMOOTH_BUILTINS = frozenset({"builtins.abs", "builtins.max", "builtins.min", "builtins.round"})
NONSMOOTH_FUNCTIONS = frozenset({
    "abs", "absolute", "fabs", "maximum", "minimum", "fmax", "fmin", "max", "min", "amax", "amin", "sign",
    "floor", "ceil", "round", "around", "rint", "trunc", "fix", "clip", "clamp", "sort", "median", "relu",
    "relu6", "leaky_relu", "hard_tanh", "hardtanh", "mod", "fmod", "remainder", "floor_divide", "heaviside",
})
NONSMOOTH_METHODS = frozenset({"max", "min", "clip", "clamp", "round", "sort", "abs", "relu", "floor", "ceil",
                               "sign"})
# Functions that are NaN or infinite somewhere on the real line (at zero, below zero, or outside [-1, 1]).
NAN_PRONE = frozenset({
    "sqrt", "log", "log2", "log10", "log1p", "arcsin", "arccos", "arctanh", "arccosh", "asin", "acos", "atanh",
    "acosh", "reciprocal", "rsqrt", "divide", "true_divide", "power", "float_power", "pow",
})
POWER_FUNCTIONS = frozenset({"power", "float_power", "pow"})
# Finite where the argument is zero, with an infinite slope there (ADC303). Not ``log``: its value
# is infinite there too, the function's domain edge, where no derivative can be checked and a run
# exits 2 on the value alone.
FINITE_WITH_INFINITE_SLOPE = frozenset({"sqrt"})
# Calls that keep their argument in a safe range: what they return is no NaN trap.
GUARDS = frozenset({"where", "maximum", "fmax", "clip", "clamp", "clamp_min", "softplus", "exp"})
WHERE_FUNCTIONS = frozenset({"where", "select", "piecewise"})
RANDOM_PREFIXES = ("numpy.random.", "autograd.numpy.random.", "random.", "secrets.")
RANDOM_CALLS = frozenset({
    "torch.rand", "torch.randn", "torch.randint", "torch.rand_like", "torch.randn_like", "torch.randint_like",
    "torch.normal", "torch.bernoulli", "torch.multinomial", "torch.randperm", "torch.poisson",
    "torch.nn.functional.dropout", "os.urandom", "uuid.uuid4", "uuid.uuid1",
})
# Constructors of generators and seeding calls: deterministic when given a seed.
SEEDED = frozenset({"default_rng", "RandomState", "Generator", "SeedSequence", "PCG64", "MT19937", "Random",
                    "seed", "manual_seed", "get_state", "set_state", "getstate", "setstate"})
GENERATOR_CONSTRUCTORS = frozenset({"default_rng", "RandomState", "Generator", "Random"})
CACHE_DECORATORS = frozenset({"functools.lru_cache", "functools.cache", "functools.cached_property"})
JIT = frozenset({"jax.jit", "jax.api.jit", "equinox.filter_jit"})
PARTIAL = frozenset({"functools.partial"})
# Calls that read the clock, the disk or the environment (every ``time.*`` but ``time.sleep`` too).
IO_CALLS = frozenset({
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "os.getenv", "os.getcwd", "os.listdir", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt",
    "numpy.fromfile", "pickle.load", "pickle.loads", "json.load", "torch.load", "builtins.open",
    "builtins.input",
})
CLOCK_MODULE = "time."
HARMLESS_CLOCK_CALLS = frozenset({"time.sleep"})  # waits; returns nothing the function computes with
ENVIRONMENT = "os.environ"
STOP_GRADIENT_CALLS = frozenset({"jax.lax.stop_gradient", "torch.no_grad", "torch.inference_mode",
                                 "torch.autograd.grad_mode.no_grad", "autograd.tracer.getval"})
STOP_GRADIENT_METHODS = frozenset({"detach", "detach_"})
# jax.custom_vjp / custom_jvp: (the rule's kind, the backends that use the rule instead of the code).
CUSTOM_JAX = {"jax.custom_vjp": ("vjp", ("jax-rev",)), "jax.custom_jvp": ("jvp", ("jax-fwd", "jax-rev"))}
AUTOGRAD_PRIMITIVE = frozenset({"autograd.extend.primitive", "autograd.core.primitive", "autograd.primitive",
                                "autograd.tracer.primitive"})
TORCH_FUNCTION = frozenset({"torch.autograd.Function", "torch.autograd.function.Function"})
# torch.autograd.Function methods that hold a derivative rule, and the backends that run them.
TORCH_RULE_METHODS = (("backward", ("torch-rev",)), ("vjp", ("torch-rev",)), ("jvp", ("torch-fwd",)))
# Builtins whose result never depends on the values of their arguments.
VALUE_FREE_BUILTINS = frozenset({"len", "range", "isinstance", "type", "id", "hasattr", "callable"})
BUILTINS = frozenset(dir(builtins))
# The frameworks whose code the lint recognises, and the array namespace that marks code as theirs.
FRAMEWORK_NAMESPACES = (("torch", "torch"), ("jax", "jax.numpy"), ("autograd", "autograd.numpy"))


def array_tail(qual: str | None) -> str | None:
    """``"jax.numpy.linalg.norm"`` -> ``"linalg.norm"``: the function name under an array module."""
    if not qual:
        return None
    best = None
    for prefix in ARRAY_MODULES:
        if qual.startswith(prefix + ".") and (best is None or len(prefix) > len(best)):
            best = prefix
    return qual[len(best) + 1:] if best else None


def last_part(name: str | None) -> str | None:
    """``"linalg.norm"`` -> ``"norm"``."""
    return name.rpartition(".")[2] if name else None
