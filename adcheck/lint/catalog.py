"""The rule catalog: every ADC code adcheck reports, static or found at run time, one entry each.

Each code has one name, one severity and one summary, and the four documentation sections of
ruff's rule pages (*What it does*, *Why is this bad?*, *Example*, *Use instead*) that
``adcheck.lint.docs`` renders into docs/rules.md and the SARIF report shows. ``make_finding`` is the
one place a finding gets its severity: callers name the code, never the severity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from ..model import Finding


class Severity(StrEnum):
    ERROR = "error"  # the derivative is wrong, or the function is not a function
    WARNING = "warning"  # likely to make a derivative wrong or a backend fail
    INFO = "info"  # explains a disagreement; not a defect by itself


class Stage(StrEnum):
    """Who finds a code: the static lint (nothing of the user's code runs) or a run's probes and comparison."""

    LINT = "lint"
    RUN = "run"


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str  # a noun phrase: the table row, the SARIF short description
    what_it_does: str
    why_bad: str
    example: str  # Python source
    use_instead: str  # Python source
    found_by: tuple[Stage, ...] = (Stage.LINT,)
    # The severity when a run proves the defect (a probe measured it), where that outranks the
    # static guess: the lint sees a pattern that may be harmless, the probe sees the wrong value.
    proven_severity: Severity | None = None

    def severity_of(self, proven: bool = False) -> Severity:
        return self.proven_severity if proven and self.proven_severity is not None else self.severity


# Examples two rules share: the static rule and the runtime finding of the same defect.
_SHARED_ACCUMULATOR = (
    "class Accu:\n    def __init__(self, a):\n        self.a = a\n\n    def __call__(self, arg):\n"
    "        self.a *= arg\n        return self.a\n\n\nACC = Accu(1.0)\n\n\n"
    "def cumprod(x):\n    return np.array([ACC(el) for el in x])"
)
_FRESH_ACCUMULATOR = (
    "def cumprod(x):\n    acc = Accu(1.0)  # a fresh accumulator per call\n"
    "    return np.array([acc(el) for el in x])"
)
_WHERE_TRAP = "def safe_sqrt(x):\n    return jnp.where(x > 0, jnp.sqrt(x), 0.0)"
_WHERE_GUARDED = (
    "def safe_sqrt(x):\n    positive = x > 0\n"
    "    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)"
)


def _catalog(*rules: Rule) -> MappingProxyType[str, Rule]:
    return MappingProxyType({rule.code: rule for rule in sorted(rules, key=lambda r: r.code)})


RULES: MappingProxyType[str, Rule] = _catalog(
    # --- ADC1xx: state and mutation ----------------------------------------------------------------
    Rule(
        "ADC101", "outliving-attribute-write", Severity.ERROR,
        "attribute written on an object that outlives the call",
        "Checks for attribute writes (`obj.a = ...`, `obj.a *= ...`, `setattr`) on an object that "
        "exists before the call and survives it: a module global, a default argument, a closure "
        "variable of a factory, or the `self` of a module-level instance. Objects created inside the "
        "call are fine.",
        "The function's value then depends on how often it has been called. Finite differences call "
        "it many times and see a different function each time; each AD backend calls it once more "
        "and starts from a different state, so the derivatives disagree for no visible reason.",
        _SHARED_ACCUMULATOR,
        _FRESH_ACCUMULATOR,
    ),
    Rule(
        "ADC102", "global-write", Severity.ERROR,
        "`global`/`nonlocal` write",
        "Checks for assignments to names declared `global`, or `nonlocal` when the enclosing "
        "function is not part of the call (a factory's closure).",
        "State written by one call is read by the next: finite differences and every AD backend see "
        "different functions.",
        "CALLS = 0\n\n\ndef f(x):\n    global CALLS\n    CALLS += 1\n    return x * CALLS",
        "def f(x, calls=1):\n    return x * calls",
    ),
    Rule(
        "ADC103", "captured-container-mutation", Severity.ERROR,
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
        "ADC104", "in-place-array-write", Severity.WARNING,
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
        "ADC105", "argument-mutation", Severity.ERROR,
        "mutation of an argument",
        "Checks for in-place writes and mutating method calls on a parameter (or on a view of one), "
        "and attribute writes on a parameter.",
        "The caller's array changes: the finite-difference oracle then differentiates a moving "
        "target, and backends that evaluate the function more than once see different inputs.",
        "def normalize(x):\n    x /= np.sum(x)\n    return x",
        "def normalize(x):\n    return x / np.sum(x)",
    ),
    # --- ADC2xx: leaving the trace -----------------------------------------------------------------
    Rule(
        "ADC201", "python-number-conversion", Severity.WARNING,
        "conversion of an input-derived value to a Python number or list",
        "Checks for `float(...)`, `int(...)`, `complex(...)`, `.item()`, `.tolist()` and `math.*` "
        "calls on values derived from the inputs.",
        "A Python number carries no derivative: autograd and JAX fail to convert a traced value "
        "(or the derivative silently becomes zero), torch detaches it.",
        "def f(x):\n    scale = float(np.sum(x))\n    return x * scale",
        "def f(x):\n    scale = np.sum(x)\n    return x * scale",
    ),
    Rule(
        "ADC202", "plain-array-conversion", Severity.WARNING,
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
        "ADC203", "explicit-stop-gradient", Severity.WARNING,
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
        "ADC204", "untraceable-numpy-call", Severity.WARNING,
        "a numpy call the framework cannot trace",
        "Checks, in code written for autograd, JAX or torch, for calls to the real numpy (or scipy) "
        "on input-derived values, and, in autograd code, for `autograd.numpy` functions that "
        "autograd wraps without a derivative rule (`cumprod`, `nansum`, `asarray`, `interp`, ...). "
        "Functions autograd does differentiate (`np.sum`, `np.exp`, ...) are not reported. What code "
        "is written for is decided per function, from what it reaches, as a run decides it: a "
        "plain-numpy function in a file that also holds autograd code is numpy code (adcheck rebinds "
        "its numpy under each backend) and is not reported, unless autograd code calls it.",
        "The call either fails on a traced value or returns a plain array without a derivative.",
        "import autograd.numpy as np\nimport numpy as onp\n\n\ndef f(x):\n    return np.sum(onp.sin(x))",
        "import autograd.numpy as np\n\n\ndef f(x):\n    return np.sum(np.sin(x))",
    ),
    # --- ADC3xx: smoothness ------------------------------------------------------------------------
    Rule(
        "ADC301", "non-smooth-operation", Severity.INFO,
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
        "ADC302", "where-nan-trap", Severity.ERROR,
        "`where` whose masked-out branch can be NaN or infinite",
        "Checks for `where`/`select` (numpy, jax.numpy, torch, autograd) whose branches contain "
        "`sqrt`, `log`, `arcsin`, a division or a fractional/negative power of an input-derived "
        "value that is not itself guarded by a `where`/`maximum`/`clip`.",
        "Reverse-mode AD differentiates both branches and multiplies the unused one by zero; "
        "0 * inf and 0 * NaN are NaN, so the gradient is NaN exactly where the value looks safe.",
        _WHERE_TRAP,
        _WHERE_GUARDED,
    ),
    Rule(
        "ADC303", "zero-singularity", Severity.WARNING,
        "`sqrt`/`norm`/fractional power of a quantity that can be exactly zero",
        "Checks for `sqrt`, `linalg.norm`, `.norm()`, `x**p` and `power(x, p)` with "
        "`0 < p < 1` or `p < 0` applied to a sum of squares, a square, an absolute value or a "
        "difference of inputs. Not `log`, nor a quantity used only as a denominator (`1 / r`): "
        "where it is zero the function's value is infinite too, the edge of its domain, where no "
        "derivative can be checked.",
        "The derivative is infinite or NaN where the quantity is zero (`x == y` for `norm(x - y)`), "
        "and backends disagree about what to return there.",
        "def dist(x, y):\n    return np.sqrt(np.sum((x - y) ** 2))",
        "def dist(x, y):\n    return np.sqrt(np.sum((x - y) ** 2) + 1e-30)  # or handle x == y",
    ),
    # --- ADC4xx: purity ----------------------------------------------------------------------------
    Rule(
        "ADC401", "randomness", Severity.WARNING,
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
        "ADC402", "cache", Severity.WARNING,
        "a cache on the path",
        "Checks for `functools.lru_cache`, `functools.cache`, `functools.cached_property` and a "
        "module-level (or default-argument) dict used as a memo: `if k in CACHE: return CACHE[k]` "
        "or `CACHE.get(k)`.",
        "A cache returns the value of an earlier call, computed without this call's traced inputs: "
        "the derivative through it is zero, or the cache hands back a stale tracer.",
        "CACHE = {}\n\n\ndef f(x):\n    key = x.tobytes()\n    if key in CACHE:\n        return CACHE[key]\n"
        "    CACHE[key] = value = np.exp(x)\n    return value",
        "def f(x):\n    return np.exp(x)",
    ),
    Rule(
        # The static pattern is a warning: a jitted function reading a global that is never
        # changed after the trace (a configuration set once at import) is correct, and the lint
        # cannot know the order of events. The probe's finding is evidence: the jitted value
        # differs from the value under jax.disable_jit(), the stale trace measured, and a run
        # that shows it fails (explain.probes, contexts.with_stale_traces).
        "ADC403", "jit-reads-mutable-global", Severity.WARNING,
        "a `jax.jit` function reading a mutable module global",
        "Checks for functions compiled with `jax.jit` (decorator, `partial(jax.jit, ...)` or "
        "`g = jax.jit(f)`), and the functions they call, that read a module global which is rebound "
        "with `global` somewhere or is a module-level list, dict, array or object. At run time, "
        "the probes also compare a jitted target's value with its value under `jax.disable_jit()` "
        "and report this code when the two differ.",
        "`jit` reads the global once, when it traces, and bakes the value into the compiled "
        "function: later changes are ignored until something triggers a retrace.",
        "SCALE = [2.0]\n\n\n@jax.jit\ndef f(x):\n    return x * SCALE[0]",
        "@jax.jit\ndef f(x, scale):\n    return x * scale",
        found_by=(Stage.LINT, Stage.RUN),
        proven_severity=Severity.ERROR,
    ),
    Rule(
        "ADC404", "time-io-environment", Severity.WARNING,
        "time, I/O or environment read",
        "Checks for `time.*` (but `time.sleep`), `datetime.now()`/`today()`, `open`, `input`, "
        "`os.environ` (also imported as `from os import environ`), `os.getenv` and loading files "
        "(`np.load`, `pickle.load`, `json.load`) inside the function. `print` is fine.",
        "The function's value can change between calls, and file reads make every evaluation slow "
        "and the result depend on the disk.",
        "def f(x):\n    scale = float(os.environ.get('SCALE', '1'))\n    return x * scale",
        "SCALE = float(os.environ.get('SCALE', '1'))  # read once, at import\n\n\n"
        "def f(x):\n    return x * SCALE",
    ),
    # --- ADC5xx: derivative rules ------------------------------------------------------------------
    Rule(
        # The static finding says where a rule of the user's own is, which is no defect (a correct
        # custom_jvp is good code): info. The run's finding is the rule measured wrong at the
        # inputs the program gives it, with both numbers: an error.
        "ADC501", "custom-derivative-rule", Severity.INFO,
        "user-defined derivative rule",
        "Reports functions with a hand-written derivative: `jax.custom_vjp`/`custom_jvp` with "
        "`.defvjp`/`.defjvp`, autograd's `@primitive` with `defvjp`/`defjvp`, and "
        "`torch.autograd.Function` subclasses; on the definition and where the rule is registered. "
        "The message says which backends use the rule. In a run where such a backend disagrees, "
        "adcheck then checks the rule alone, at the inputs the program gives it, against finite "
        "differences of the function it stands for (see ADC502 for how); a rule that is wrong there is "
        "reported again at the line of your code that calls it, with both numbers: \"the derivative "
        "rule of my_sin (your custom_vjp, my_sin_bwd at m.py:16) is wrong at the inputs it gets here: "
        "d/dx = -0.54 vs 0.54 ± 1e-13 (FD), called at m.py:24\". With `--order 2` the rule's own "
        "derivative is checked the same way.",
        "The backends that use the rule differentiate the rule, not the code, so a wrong rule shows "
        "up as those backends (and only those) disagreeing with finite differences.",
        "@jax.custom_vjp\ndef my_sin(x):\n    return jnp.sin(x)\n\n\n"
        "my_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (-jnp.cos(x) * g,))",
        "@jax.custom_vjp\ndef my_sin(x):\n    return jnp.sin(x)\n\n\n"
        "my_sin.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (jnp.cos(x) * g,))"
        "  # checked by adcheck",
        found_by=(Stage.LINT, Stage.RUN),
        proven_severity=Severity.ERROR,
    ),
    Rule(
        "ADC502", "wrong-library-rule", Severity.ERROR,
        "a derivative rule inside an installed library is wrong at the inputs it gets here",
        "When an AD backend disagrees with finite differences, its worker replays the computation "
        "one primitive at a time (JAX: each equation of the jaxpr; autograd: each node of the "
        "recorded trace; PyTorch: each dispatched aten op) and checks each primitive's derivative "
        "rule alone, at the operands the program gave it, against finite differences of that "
        "primitive alone (with error estimates, the complex step as a second opinion, one-sided "
        "differences at kinks). Units come first: a custom rule, a jitted function, a loop or a "
        "torch `Function` is checked whole and, if it is wrong, inside. Each rule is judged at the "
        "values of the undifferentiated program, so a wrong rule upstream cannot make a later one "
        "look wrong. A rule of an installed library that is wrong there is reported at the line of "
        "your code that called it, naming the rule, the library and its version, and both numbers: "
        "\"the derivative rule of jax.numpy.sinc (jax 0.10.2) is wrong at the inputs it gets here: "
        "d y[0]/d x[0] = -2.3e-08 vs -3.3e-08 ± 2e-14 (FD), called at model.py:17\". A wrong rule of "
        "your own (`custom_jvp`/`custom_vjp`/`defvjp`/torch `Function`) is ADC501; a NaN or inf "
        "where the rule's finite differences are finite is ADC604. With `--order 2` the same check "
        "runs on each rule's own derivative. `--no-blame` turns the check off; `--blame-primitives` "
        "and `--blame-seconds` (and the `[tool.adcheck]` keys `blame`, `blame-primitives`, "
        "`blame-seconds`) bound it, and the report says when it stopped early and how far it got. "
        "A run where every backend agrees does not pay for it.",
        "Nothing in your code is wrong, so reading it does not find the cause: the backends that "
        "use the library's rule disagree with finite differences, and the others agree. Rules are "
        "often right almost everywhere and wrong at one point (a removable singularity such as "
        "`x == 0`, a formula that cancels near it), which is exactly where a test input tends to "
        "sit. The finding tells you which call to route around, and what to put in a bug report.",
        "import jax.numpy as jnp\n\n\n"
        "def f(x):\n"
        "    # jax's rule for sinc cancels near x == 0: at x = 1e-8 its slope is a third too small\n"
        "    return jnp.sum(jnp.sinc(x))",
        "import jax\nimport jax.numpy as jnp\n\n\n"
        "@jax.custom_jvp\ndef sinc(x):\n    return jnp.sinc(x)\n\n\n"
        "@sinc.defjvp\ndef sinc_jvp(primals, tangents):\n    (x,), (t,) = primals, tangents\n"
        "    small = jnp.abs(x) < 1e-4\n    safe = jnp.where(small, 1.0, x)\n"
        "    px = jnp.pi * safe\n"
        "    slope = jnp.where(small, -(jnp.pi**2) * x / 3, (px * jnp.cos(px) - jnp.sin(px)) / (px * safe))\n"
        "    return jnp.sinc(x), slope * t  # your own rule, checked as ADC501\n\n\n"
        "def f(x):\n    return jnp.sum(sinc(x))",
        found_by=(Stage.RUN,),
    ),
    # --- ADC6xx: found at run time -----------------------------------------------------------------
    Rule(
        "ADC601", "impure-function", Severity.ERROR,
        "two identical calls return different values",
        "Calls the function again on a fresh import of its module with a fresh copy of the same "
        "input, and compares the value with the reference's first call and with a second call.",
        "Finite differences subtract values from calls made with nearly the same input; when the "
        "same input gives different values, the difference measures the change of state, time or "
        "randomness, not the slope, and no backend can agree with it.",
        "import numpy as np\n\n\ndef f(x):\n    return x * np.random.uniform(0.9, 1.1)",
        "import numpy as np\n\nSCALE = np.random.default_rng(0).uniform(0.9, 1.1)  # drawn once, at import\n\n\n"
        "def f(x):\n    return x * SCALE",
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC602", "input-mutated", Severity.ERROR,
        "the call modified an argument in place",
        "Compares each array argument before and after one call and reports the first entry that "
        "changed.",
        "The AD backends differentiate the input as it was before the change, while finite "
        "differences and the next call see the changed input: the derivatives describe different "
        "points.",
        "def f(x):\n    x -= x.mean()\n    return x**2",
        "def f(x):\n    centred = x - x.mean()\n    return centred**2",
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC603", "state-changed", Severity.ERROR,
        "state changed by one call",
        "Snapshots the state the function can reach (the module globals it reads, closure cells, "
        "default arguments, the attributes of callable objects and module-level instances, "
        "`lru_cache` sizes) before and after one call, and names each piece that changed or was "
        "created, on the line that defines it.",
        "A function whose state changes computes a different function on each call: finite "
        "differences straddle the change and each backend starts from another state.",
        _SHARED_ACCUMULATOR,
        _FRESH_ACCUMULATOR,
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC604", "nan-in-derivative", Severity.ERROR,
        "NaN or inf in an automatic derivative where finite differences are finite",
        "Compares each AD backend's Jacobian and value with the plain-numpy reference and reports "
        "the entries that are NaN or infinite only in the AD result. The per-primitive check "
        "(see ADC502) then looks for the rule that produced it: a rule that gives NaN or inf at "
        "the inputs the program gives it, where finite differences of it are finite, is reported "
        "at the line of your code that called it, naming the rule and its owner (\"autograd: the "
        "derivative rule of autograd.numpy.sinc (autograd 1.9.1) gives NaN at the inputs it gets "
        "here, ...: d/dx = nan vs 0 ± 7e-15 (FD), called at m.py:4\").",
        "The function is finite and smooth there, so the NaN comes from the derivative code: most "
        "often a branch of `where` that is not taken but still differentiated (see ADC302), or a "
        "`sqrt`/`norm` at exactly zero (see ADC303).",
        _WHERE_TRAP,
        _WHERE_GUARDED,
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC605", "integer-input-promoted", Severity.INFO,
        "an integer input was promoted to floating point to differentiate it",
        "Reports a differentiated argument given as integers (`--input '[1, 2, 3]'`), which adcheck "
        "promotes to float64 before differentiating.",
        "A derivative with respect to an integer does not exist; after promotion the function is "
        "differentiated as if the input were real, which is what you want unless the function does "
        "integer arithmetic on it (`//`, `%`, indexing), whose derivative is zero or undefined.",
        "def f(x):\n    return x**2\n\n\n# adcheck run m.py:f --input '[1, 2, 3]'",
        "def f(x):\n    return x**2\n\n\n# adcheck run m.py:f --input '[1.0, 2.0, 3.0]'",
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC606", "float32-precision", Severity.INFO,
        "a float32 input: derivatives are compared to float32 precision",
        "Reports a differentiated argument in float32 (from a `.npy` file, for example): the "
        "comparison then uses the float32 tolerance row.",
        "Float32 keeps about 7 digits, and finite differences lose about half of them, so the "
        "check is much looser than in float64 and a small error in a rule can pass unseen.",
        "import numpy as np\n\nnp.save('x.npy', np.linspace(0, 1, 5, dtype=np.float32))\n"
        "# adcheck run m.py:f --input x.npy",
        "import numpy as np\n\nnp.save('x.npy', np.linspace(0, 1, 5))  # float64\n"
        "# adcheck run m.py:f --input x.npy",
        found_by=(Stage.RUN,),
    ),
    Rule(
        "ADC607", "context-dependent-derivative", Severity.ERROR,
        "the same backend's derivative differs between execution contexts",
        "With `--contexts` (for example `eager,jit,float32`), computes each JAX and PyTorch backend's "
        "derivative again in every listed context — the whole derivative under `jax.jit` or the "
        "function under `torch.compile`, the code running in float32, bfloat16 or float16 (its inputs "
        "cast, the framework's default precision lowered), on the GPU or the CPU — and compares it, "
        "entry by entry, with the same backend's eager float64 derivative. An entry differs when the "
        "gap is larger than the context's precision explains: the tolerance row of its dtype, its "
        "absolute part a multiple of the entry's own scale. Reported at the function's definition, "
        "naming the backend, the context, the largest gap and the worst entries (\"the jax-rev "
        "derivative under jit differs from eager by 0.032 at d f[0] / d x[1], ...\"); that "
        "backend's row then fails.",
        "The derivative a program trains or optimises with is the one computed where it runs: "
        "jitted, in float32, on a GPU. A check of the eager float64 derivative says nothing about "
        "those. A difference means that the compiled code computes another function (a Python "
        "branch on values that only eager execution can read, a value captured when the function "
        "was traced), or that the derivative loses its digits in the lower precision (`1 + x` "
        "rounding to 1, `exp` overflowing in float32), so the gradient you use is not the one you "
        "checked.",
        "import jax.numpy as jnp\n\n\ndef loss(x):\n"
        "    # In float32, 1 + x rounds to 1 for |x| below 6e-8: log(1 + x) is 0, and so is the gradient\n"
        "    return jnp.sum(jnp.log(1 + x) ** 2)\n\n\n"
        "# adcheck run m.py:loss --input '[1e-8, 3e-8]' --contexts float64,float32",
        "import jax.numpy as jnp\n\n\ndef loss(x):\n"
        "    return jnp.sum(jnp.log1p(x) ** 2)  # log1p keeps every digit of tiny x, in any precision",
        found_by=(Stage.RUN,),
    ),
)


def make_finding(code: str, path: str, line: int, col: int, message: str, *, proven: bool = False,
                 **fields) -> Finding:
    """A finding with the severity the catalog gives ``code`` (``proven``: found by measuring it
    at run time, which some rules rank higher, ``Rule.proven_severity``); ``fields`` are
    Finding's others (``explains``, ``executed``)."""
    try:
        rule = RULES[code]
    except KeyError:
        raise ValueError(f"{code} is not in the rule catalog (adcheck.lint.catalog.RULES)") from None
    return Finding(code, rule.severity_of(proven).value, path, line, col, message, **fields)
