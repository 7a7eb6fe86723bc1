"""Runtime probes (in-process, on a fresh import of each fixture) and the linking of findings."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from adcheck.compare import compare
from adcheck.explain import link
from adcheck.explain.probes import probe
from adcheck.inputs import promote
from adcheck.loader import parse_target
from adcheck.model import BackendRun, Finding, ProbeResult, Status
from adcheck.source import summarize
from adcheck.task import Task
from conftest import load_fixture

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(autouse=True)
def restore_sys_modules():
    """The loader registers the user's modules in sys.modules (a worker's own); undo that here."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and str(FIXTURES) in sys.modules[name].__file__:
            del sys.modules[name]


def write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "user_code.py"
    path.write_text(source)
    return path


def probe_target(text: str, *values, framework="numpy"):
    arguments = promote([np.asarray(v) for v in values], tuple(range(len(values))))
    task = Task("fd", parse_target(text), arguments, framework)
    return probe(task, None)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_shared_accumulator_names_instance_attribute_and_impurity():
    result = probe_target(f"{FIXTURES}/stateful.py:shared_cumprod", [1.0, 2.0, 3.0])
    state = [f for f in result.findings if f.code == "ADC603"]
    assert [f.message for f in state] == ["state changed by one call: Accu instance ACC: attribute a changed 1.0 -> 6.0"]
    assert state[0].line == 15  # ACC = Accu(1.0)
    assert "ADC601" in codes(result.findings)


def test_global_counter_and_list_are_named():
    result = probe_target(f"{FIXTURES}/stateful.py:logged_square", [1.0, 2.0])
    messages = [f.message for f in result.findings if f.code == "ADC603"]
    assert any("global SEEN changed [] -> [2]" in m for m in messages)
    assert any("global CALLS changed 0 -> 1" in m for m in messages)
    assert "ADC601" not in codes(result.findings)  # the value does not depend on the state


def test_pure_function_has_no_findings():
    result = probe_target(f"{FIXTURES}/stateful.py:pure_square", [1.0, 2.0])
    assert result.findings == ()


def test_executed_lines_cover_the_call_only(tmp_path):
    path = write(tmp_path, "def f(x):\n    if x[0] > 0:\n        return x * 2\n    return x * 3\n")
    result = probe_target(f"{path}:f", [1.0])
    assert result.executed_lines == {str(path.resolve()): (1, 2, 3)}


def test_input_mutation_is_reported(tmp_path):
    path = write(tmp_path, "def f(x):\n    x *= 2\n    return x\n")
    result = probe_target(f"{path}:f", [1.0, 2.0])
    assert codes(result.findings) == ["ADC602"]


def test_closure_default_and_bound_method_state(tmp_path):
    path = write(tmp_path, (
        "def make():\n"
        "    seen = {'n': 0}\n"
        "    def f(x):\n"
        "        seen['n'] += 1\n"
        "        return x\n"
        "    return f\n"
        "f = make()\n"
        "def g(x, cache=[]):\n"
        "    cache.append(1)\n"
        "    return x\n"
        "class Scaler:\n"
        "    def __init__(self):\n"
        "        self.calls = 0\n"
        "    def scale(self, x):\n"
        "        self.calls += 1\n"
        "        return 2 * x\n"
        "S = Scaler()\n"
        "scale = S.scale\n"
    ))
    closure = probe_target(f"{path}:f", [1.0]).findings
    assert [f.message for f in closure] == ["state changed by one call: closure variable seen of f changed {'n': 0} -> {'n': 1}"]
    default = probe_target(f"{path}:g", [1.0]).findings
    assert [f.message for f in default] == ["state changed by one call: default argument 0 of g changed [] -> [1]"]
    method = probe_target(f"{path}:scale", [1.0]).findings
    assert [(f.code, f.line) for f in method] == [("ADC603", 17)]
    assert "attribute calls changed 0 -> 1" in method[0].message


def test_randomness_is_impure(tmp_path):
    path = write(tmp_path, "import numpy as np\ndef f(x):\n    return x + np.random.standard_normal(x.shape)\n")
    assert codes(probe_target(f"{path}:f", [1.0]).findings) == ["ADC601"]


def test_integer_and_float32_inputs_are_info(tmp_path):
    path = write(tmp_path, "def f(x):\n    return x * 2\n")
    assert [(f.code, f.severity) for f in probe_target(f"{path}:f", np.array([1, 2])).findings] == [("ADC605", "info")]
    float32 = probe_target(f"{path}:f", np.array([1.0], dtype=np.float32)).findings
    assert [(f.code, f.severity) for f in float32] == [("ADC606", "info")]


def test_stale_jit_global_differs_from_unjitted(tmp_path):
    path = write(tmp_path, (
        "import jax\n"
        "SCALE = 1.0\n"
        "@jax.jit\n"
        "def f(x):\n"
        "    global SCALE\n"
        "    SCALE = SCALE + 1.0\n"
        "    return x * SCALE\n"
    ))
    findings = probe_target(f"{path}:f", [1.0], framework="jax").findings
    assert "ADC403" in codes(findings)
    assert "ADC601" not in codes(findings)  # jitted, two calls agree: the trace is stale


# --- linking ------------------------------------------------------------------------------------


def explain(path: Path, runs, comparison, findings):
    target = parse_target(f"{path}:f")
    return link.explain(target, summarize(target), runs, comparison, findings)


def runs_for(path: Path, jacobians: dict, executed: dict | None = None, findings=()):
    reference = BackendRun("fd", Status.REFERENCE, value=np.zeros(1), jacobian=np.array([[1.0]]),
                           error=np.array([[1e-12]]), probes=ProbeResult(tuple(findings), executed))
    return [reference] + [BackendRun(name, Status.COMPUTED, value=np.zeros(1), jacobian=np.array([[j]]))
                          for name, j in jacobians.items()]


def test_rule_explains_only_failing_users_and_says_so(tmp_path, monkeypatch):
    path = write(tmp_path, "def f(x):\n    return x\n\n\nf.rule = 1\n")
    rule = Finding("ADC501", "warning", str(path), 5, 1, "custom derivative rule", explains=("autograd", "jax-rev"))
    monkeypatch.setattr(link, "lint", lambda target, summary: [rule])
    runs = runs_for(path, {"autograd": -1.0, "jax-fwd": 1.0, "jax-rev": 1.0}, {str(path): [2]})
    (linked,) = explain(path, runs, compare(runs), [])
    assert linked.explains == ("autograd",)
    assert linked.executed is True
    assert linked.message.endswith("(only autograd, which uses this rule, disagrees)")


def test_static_finding_on_a_line_that_did_not_run_explains_nothing(tmp_path, monkeypatch):
    path = write(tmp_path, "def f(x):\n    if x > 0:\n        return x\n    return g(x)\n")
    unrun = Finding("ADC302", "error", str(path), 4, 5, "where-NaN")
    ran = Finding("ADC101", "warning", str(path), 3, 9, "state")
    kink = Finding("ADC301", "info", str(path), 3, 9, "abs")
    monkeypatch.setattr(link, "lint", lambda target, summary: [unrun, kink, ran])
    runs = runs_for(path, {"autograd": 2.0}, {str(path): [1, 2, 3]},
                    findings=[Finding("ADC605", "info", str(path), 1, 1, "int")])
    linked = explain(path, runs, compare(runs), runs[0].probes.findings)
    assert [(f.code, f.executed, f.explains) for f in linked] == [
        ("ADC605", True, ()),
        ("ADC101", True, ("autograd",)),
        ("ADC301", True, ()),  # no backend is at a kink
        ("ADC302", False, ()),
    ]


def test_nan_jacobian_where_fd_is_finite_is_adc604(tmp_path, monkeypatch):
    path = write(tmp_path, "def f(x):\n    return x\n")
    monkeypatch.setattr(link, "lint", lambda target, summary: [])
    runs = runs_for(path, {"jax-rev": np.nan, "jax-fwd": 1.0}, {str(path): [2]})
    (finding,) = explain(path, runs, compare(runs), [])
    assert (finding.code, finding.explains, finding.line) == ("ADC604", ("jax-rev",), 1)


def test_impurity_explains_fd_when_fd_is_the_odd_one_out(tmp_path, monkeypatch):
    path = write(tmp_path, "def f(x):\n    return x\n")
    monkeypatch.setattr(link, "lint", lambda target, summary: [])
    impure = Finding("ADC601", "error", str(path), 1, 1, "impure")
    runs = runs_for(path, {"autograd": 5.0, "jax-rev": 5.0}, {str(path): [2]}, findings=[impure])
    comparison = compare(runs)
    assert comparison.odd_one_out == ("fd",)
    (linked,) = explain(path, runs, comparison, [impure])
    assert linked.explains[0] == "fd"


@pytest.mark.parametrize("function", ["net_loss", "scaled"])
def test_state_rebuilt_equal_or_a_filled_cache_is_no_change(function):
    # A torch module's _modules registry compares by its parameters, not by identity; an object
    # rebuilt equal by its attributes; a memo only filled in while the value does not change.
    result = probe_target(f"{FIXTURES}/state_without_change.py:{function}", [0.1, 0.2, 0.3], framework="torch")
    assert [f for f in result.findings if f.severity in ("error", "warning")] == []


def test_a_module_drawing_its_weights_at_import_builds_the_same_weights_for_the_probe():
    from adcheck.explain.probes import random_states

    torch = pytest.importorskip("torch")
    before_import = random_states()
    sys.modules.pop("state_without_change", None)
    reference = load_fixture("state_without_change").net_loss(torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    arguments = promote([np.asarray([0.1, 0.2, 0.3])], (0,))
    task = Task("fd", parse_target(f"{FIXTURES}/state_without_change.py:net_loss"), arguments, "torch")
    result = probe(task, np.atleast_1d(reference.detach().numpy()), before_import)
    assert "ADC601" not in codes(result.findings)


def test_the_probes_own_arithmetic_ignores_the_modules_numpy_error_state(tmp_path):
    """np.seterr(all="raise") in the user's module: comparing [inf, 1] with [inf, 2] (inf - inf)
    is the probes' own arithmetic and must not raise; the impurity is still reported."""
    path = write(tmp_path, "import numpy as np\n\nnp.seterr(all='raise')\nCALLS = [0]\n\n\n"
                           "def f(x):\n    CALLS[0] += 1\n    return np.array([np.inf, x[0] * CALLS[0]])\n")
    before = np.geterr()
    result = probe_target(f"{path}:f", [1.0, 2.0])
    assert "ADC601" in codes(result.findings)
    assert np.geterr() == before  # the module's np.seterr stayed with its own calls
