"""Record, and replay one of, the ``check_grads`` calls that autograd's own tests make.

``harvest_autograd.py`` copies this file into its work directory next to autograd's test modules
and the generated ``case_*.py`` modules. It is imported there as user code, so adcheck's loader
rebinds *its* imports too: the modules that must stay real (numpy for seeding, autograd's
``test_util`` that gets patched) are therefore fetched with ``importlib.import_module``, which
does not go through the loader's ``__import__``.

The recorder stands in for ``autograd.test_util.check_grads`` (and so for ``combo_check`` and
every ``partial(check_grads, ...)`` the tests build at import): it notes the function, ``argnum``,
arguments and keyword arguments and checks nothing. A generated case module installs it, imports
the test module, reruns one test function with autograd's conftest seed and takes the k-th call.
"""

import importlib
import itertools
import sys

_numpy = importlib.import_module("numpy")
_test_util = importlib.import_module("autograd.test_util")

# autograd's tests/conftest.py: an autouse fixture runs ``np.random.seed(42)`` before every test.
CONFTEST_SEED = 42


class Call:
    """One ``check_grads(fun, argnum, ...)(*args, **kwargs)`` as a test made it."""

    def __init__(self, fun, argnum, args, kwargs, check_kwargs, via):
        self.fun = fun
        self.argnum = argnum
        self.args = args
        self.kwargs = kwargs
        self.check_kwargs = check_kwargs  # modes=..., order=...: how autograd checked it
        self.via = via  # "check_grads" or "combo_check"
        # The value at the moment of the call: a test's closure may read a loop variable that
        # has moved on by the time the test returns (tests/test_numpy.py::test_linspace).
        self.value = None
        self.value_again = None  # a second call, to catch a function that draws random numbers
        self.value_error = None

    @property
    def argnums(self):
        return (self.argnum,) if isinstance(self.argnum, int) else tuple(self.argnum)

    def differentiated(self):
        """The arguments ``check_grads`` differentiates, in ``argnum`` order."""
        return [self.args[i] for i in self.argnums]

    def fixed(self):
        """The positional arguments that are not differentiated, by index."""
        return {i: a for i, a in enumerate(self.args) if i not in self.argnums}

    def bind(self, fixed=None):
        """A function of the differentiated arguments only; the rest, and the keywords, fixed.

        This is autograd's own ``unary_to_nary`` substitution (``subvals``), one positional
        parameter per differentiated argument, which is how adcheck passes inputs. ``fixed``
        replaces some of the other positional arguments (index -> value): the harvester stores
        the recorded ones, because a test that draws them from a module-level ``RandomState``
        draws different ones when it runs alone (tests/test_binary_ops.py).
        """
        fun, kwargs, argnums = self.fun, self.kwargs, self.argnums
        args = list(self.args)
        for i, value in (fixed or {}).items():
            args[i] = value

        def case(*xs):
            full = list(args)
            for i, x in zip(argnums, xs):
                full[i] = x
            return fun(*full, **kwargs)

        case.__name__ = getattr(fun, "__name__", "case")
        case.__qualname__ = case.__name__
        return case


class _Found(Exception):
    """Raised by the recorder at the wanted call, so the rest of the test does not run."""


_calls = []
_stop_at = None
_evaluate = False


def _called_from_combo_check():
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_combo_check":
            return True
        frame = frame.f_back
    return False


def recording_check_grads(fun, argnum=0, *check_args, **check_kwargs):
    """Same signature as ``autograd.test_util.check_grads`` (a ``unary_to_nary`` operator)."""

    def recorded(*args, **kwargs):
        via = "combo_check" if _called_from_combo_check() else "check_grads"
        call = Call(fun, argnum, args, kwargs, check_kwargs, via)
        _calls.append(call)
        if _evaluate:
            try:
                call.value = call.bind()(*call.differentiated())
                call.value_again = call.bind()(*call.differentiated())
            except Exception as exc:  # noqa: BLE001 - reported by the harvester as a skip
                call.value_error = exc
        if _stop_at is not None and len(_calls) > _stop_at:
            raise _Found

    return recorded


def install():
    """Put the recorder in place; call before any test module is imported."""
    _test_util.check_grads = recording_check_grads


def parameter_sets(test):
    """The keyword-argument sets pytest would run ``test`` with (its ``parametrize`` marks)."""
    marks = [m for m in getattr(test, "pytestmark", []) if m.name == "parametrize"]
    if not marks:
        return [{}]
    axes = []
    for mark in marks:
        names, values = mark.args[0], mark.args[1]
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        single = len(names) == 1
        axes.append([dict(zip(names, (v,) if single else v)) for v in values])
    sets = []
    for combination in itertools.product(*axes):
        merged = {}
        for part in combination:
            merged.update(part)
        sets.append(merged)
    return sets


def skipped_by_mark(test):
    """The reason pytest would skip ``test`` (a true ``skipif`` or a ``skip`` mark), else None."""
    for mark in getattr(test, "pytestmark", []):
        if mark.name == "skip":
            return mark.kwargs.get("reason", "skip mark")
        if mark.name == "skipif" and mark.args and mark.args[0] is True:
            return mark.kwargs.get("reason", "skipif mark")
    return None


def record(test, params, stop_at=None, evaluate=False):
    """Run ``test(**params)`` as pytest would (seeded) and return (calls, exception or None).

    ``evaluate``: call each recorded function at its arguments when the call is made.
    """
    global _stop_at, _evaluate
    _calls.clear()
    _stop_at = stop_at
    _evaluate = evaluate
    _numpy.random.seed(CONFTEST_SEED)
    error = None
    try:
        test(**params)
    except _Found:
        pass
    except BaseException as exc:  # noqa: BLE001 - a test's own assertion or a pytest.raises miss
        error = exc
    finally:
        _stop_at = None
        _evaluate = False
    return list(_calls), error


def recorded_call(test, params_index, index):
    """The ``index``-th ``check_grads`` call of ``test`` under its ``params_index``-th parameters."""
    params = parameter_sets(test)[params_index]
    calls, error = record(test, params, stop_at=index)
    if len(calls) <= index:
        raise RuntimeError(f"{test.__name__}{params}: only {len(calls)} check_grads calls on replay "
                           f"(wanted call {index}); the test stopped with {error!r}")
    return calls[index]


def load_fixed(path):
    """The stored non-differentiated arguments (index -> value) that ``save_fixed`` wrote."""
    fixed = {}
    with _numpy.load(path, allow_pickle=False) as archive:
        for key in archive.files:
            kind, index = key[0], int(key[1:])
            value = archive[key]
            fixed[index] = value.item() if kind == "s" else value[()] if kind == "g" else value
    return fixed


def save_fixed(path, fixed):
    """Store the non-differentiated arguments that are numbers or numeric arrays; True if any.

    Python scalars come back as Python scalars (key ``s<i>``), numpy scalars as numpy scalars
    (``g<i>``), arrays as arrays (``a<i>``); anything else (a shape tuple, a function) is left to the replay.
    """
    stored = {}
    for index, value in fixed.items():
        if isinstance(value, (bool, int, float, complex)):
            stored[f"s{index}"] = _numpy.asarray(value)
        elif isinstance(value, _numpy.generic) and value.dtype.kind in "biufc":
            stored[f"g{index}"] = _numpy.asarray(value)
        elif isinstance(value, _numpy.ndarray) and value.dtype.kind in "biufc":
            stored[f"a{index}"] = value
    if stored:
        _numpy.savez(path, **stored)
    return bool(stored)
