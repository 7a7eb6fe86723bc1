"""Every registered backend against what it declares: each mode, order and capability it claims
works through its implementation, and each it does not claim is refused as not-applicable with
the reason (never an AttributeError in a worker)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from adcheck.backends import REGISTRY, Capability, Unsupported
from adcheck.explain.blame import blame, replay_of
from adcheck.inputs import promote
from adcheck.loader import parse_target
from adcheck.model import Mode
from adcheck.run import plan
from adcheck.settings import Settings
from adcheck.task import Blame, Task
from conftest import REPO

TARGET = parse_target(f"{REPO / 'fixtures' / 'cumprod.py'}:ac_cumprod")
ARGUMENTS = promote([np.array([1.0, 2.0, 3.0])], (0,))
MATRIX = list(itertools.product(REGISTRY.values(), Mode, (1, 2)))


@pytest.mark.parametrize(("backend", "mode", "order"), MATRIX, ids=lambda v: getattr(v, "name", str(v)))
def test_a_mode_or_order_is_supported_exactly_where_declared(backend, mode, order):
    declared = mode in backend.modes and order in backend.orders
    if declared:
        backend.check_supports(mode, order)
    else:
        with pytest.raises(Unsupported, match=backend.name):
            backend.check_supports(mode, order)


@pytest.mark.parametrize("backend", list(REGISTRY.values()), ids=lambda b: b.name)
def test_each_backend_provides_what_its_capabilities_promise(backend):
    if not backend.is_installed():
        pytest.skip(f"{backend.package} is not installed")  # (CI installs every backend)
    implementation = backend.load()
    assert callable(implementation.compute)
    assert callable(getattr(implementation, "nearby", None)) == (Capability.NEARBY in backend.capabilities)
    if Capability.BLAME in backend.capabilities:
        assert callable(replay_of(backend.rules).record)
    assert (backend.rules is None) == backend.reference  # every AD backend runs some framework's rules


@pytest.mark.parametrize("backend", list(REGISTRY.values()), ids=lambda b: b.name)
def test_an_undeclared_capability_is_refused_with_its_reason(backend):
    task = Task(backend.name, TARGET, ARGUMENTS, "numpy")
    if Capability.NEARBY not in backend.capabilities:
        with pytest.raises(Unsupported, match="values near the input"):
            backend.nearby(task)
    if Capability.BLAME not in backend.capabilities:
        result = blame(Task(backend.name, TARGET, ARGUMENTS, "numpy", job=Blame()))
        assert result.blame.stopped == f"{backend.name} has no per-primitive replay"
    settings = Settings(contexts=("jit", "float32")).resolved()
    contexts = {t.backend: t.contexts for framework in ("numpy", "array-api")
                for t in plan(TARGET, ARGUMENTS, framework, settings, Mode.FULL, False).tasks}
    if backend.name in contexts:
        assert bool(contexts[backend.name]) == (Capability.CONTEXTS in backend.capabilities)
