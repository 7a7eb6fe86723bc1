"""A warm worker's watch over its own cleanliness (adcheck/pristine.py), in this process.

Each test fingerprints the process as a worker does before user code first runs, changes one
thing as a user's module might, and checks that the end of the task names it; then puts it
back and checks that the process reads clean again.
"""

from __future__ import annotations

import signal
import sys
import threading
import types

import numpy as np
import pytest

from adcheck import pristine


@pytest.fixture
def watch():
    """A Watch whose fingerprint is taken now; its import hook is removed afterwards."""
    before = list(sys.meta_path)
    watching = pristine.Watch()
    watching.user_code_starts()
    yield watching
    sys.meta_path[:] = before


def changes(watch) -> list[str]:
    """What the task that just ended left changed; the next task begins at once."""
    found = watch.task_ends()
    watch.user_code_starts()
    return found


def test_an_untouched_process_is_clean(watch):
    assert changes(watch) == []
    assert changes(watch) == []


def test_a_replaced_framework_function_is_named(watch):
    original = np.sin
    np.sin = np.cos
    try:
        assert changes(watch) == ["numpy.sin"]
    finally:
        np.sin = original
    assert changes(watch) == []


def test_a_name_added_to_a_framework_namespace_is_a_change_but_a_submodule_is_not(watch):
    np.float = float
    try:
        assert changes(watch) == ["numpy.float"]
    finally:
        del np.float
    assert changes(watch) == []
    np.adcheck_test_submodule = types.ModuleType("numpy.adcheck_test_submodule")
    try:
        assert changes(watch) == []  # importing a submodule sets it on its package
    finally:
        del np.adcheck_test_submodule


def test_a_replaced_entry_of_sys_modules_is_named(watch):
    import math

    sys.modules["math"] = types.ModuleType("math")
    try:
        assert changes(watch) == ["sys.modules['math']"]
    finally:
        sys.modules["math"] = math
    assert changes(watch) == []


def test_a_module_put_in_sys_modules_under_a_framework_name_is_a_change(watch):
    sys.modules["numpy.adcheck_impostor"] = types.ModuleType("numpy.adcheck_impostor")
    try:
        assert changes(watch) == ["numpy.adcheck_impostor (first imported while the user's code ran)"]
    finally:
        del sys.modules["numpy.adcheck_impostor"]


def test_a_framework_module_first_imported_by_the_task_is_watched_from_its_import_on(watch):
    import importlib

    candidates = ["numpy.polynomial.laguerre", "numpy.polynomial.hermite_e", "numpy.polynomial.legendre"]
    name = next((c for c in candidates if c not in sys.modules), None)
    if name is None:
        pytest.skip("every candidate module is imported already")
    module = importlib.import_module(name)  # as a user's module would, while its task runs
    assert changes(watch) == []
    module.adcheck_test_name = 1.0
    try:
        assert changes(watch) == [f"{name}.adcheck_test_name"]
    finally:
        del module.adcheck_test_name
    assert changes(watch) == []


def test_a_derivative_rule_registered_for_a_library_primitive_is_named(watch):
    pytest.importorskip("autograd")  # imported now, if not before: watched from its import on
    import autograd.numpy as anp
    from autograd.core import primitive_vjps
    from autograd.extend import defvjp

    assert changes(watch) == []
    saved = primitive_vjps[anp.sin]
    defvjp(anp.sin, lambda ans, x: lambda g: 0.0 * g)
    try:
        assert changes(watch) == ["autograd.core.primitive_vjps"]
    finally:
        primitive_vjps[anp.sin] = saved
    assert changes(watch) == []


def test_a_changed_jax_option_is_named(watch):
    jax = pytest.importorskip("jax")
    assert changes(watch) == []
    original = jax.config.values["jax_numpy_rank_promotion"]
    jax.config.update("jax_numpy_rank_promotion", "raise")
    try:
        assert changes(watch) == ["JAX configuration"]
    finally:
        jax.config.update("jax_numpy_rank_promotion", original)
    assert changes(watch) == []


def test_another_rule_for_a_jax_library_function_with_a_custom_derivative_is_named(watch):
    pytest.importorskip("jax")
    import jax.nn

    assert changes(watch) == []
    relu = jax.nn.relu
    saved = dict(vars(relu))
    relu.defjvps(lambda g, ans, x: 0.0 * g)
    try:
        assert changes(watch) == ["jax.nn.relu.jvp"]
    finally:
        vars(relu).clear()
        vars(relu).update(saved)
    assert changes(watch) == []


def test_a_signal_handler_and_an_alarm_are_named(watch):
    previous = signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    try:
        assert changes(watch) == ["signal handlers"]
    finally:
        signal.signal(signal.SIGUSR2, previous)
    signal.setitimer(signal.ITIMER_REAL, 3600.0)
    try:
        assert changes(watch) == ["interval timers"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
    assert changes(watch) == []


def test_numpys_error_state_a_trace_function_and_a_thread_left_running_are_named(watch):
    with np.errstate(over="raise"):
        assert changes(watch) == ["numpy error state"]
    sys.setprofile(lambda *args: None)
    try:
        assert changes(watch) == ["profile function"]
    finally:
        sys.setprofile(None)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert changes(watch) == ["Python threads"]
    finally:
        stop.set()
        thread.join()
    assert changes(watch) == []


def test_what_a_frameworks_own_import_changes_is_the_frameworks_unless_the_process_was_changed_before(watch):
    """torch._dynamo, imported on torch's first function transform, wraps torch.manual_seed: in
    a clean process that is torch's own doing; after a user's patch it is not vouched for."""
    torch = pytest.importorskip("torch")
    assert changes(watch) == []
    if "torch._dynamo" in sys.modules:
        pytest.skip("torch._dynamo is imported already")
    seed = torch.manual_seed
    np.sin, original = np.cos, np.sin
    try:
        import torch._dynamo  # noqa: F401

        assert changes(watch) == ["numpy.sin", "torch.manual_seed"]
    finally:
        np.sin, torch.manual_seed = original, seed
    assert changes(watch) == []
