"""--contexts and --device end to end: a derivative that changes under jit or in float32 is ADC607;
correct code passes; the GPU is asked for, found or refused in one line.

The tests that need a GPU skip with the reason when there is none; the GPU checks proper live in
benchmarks/gpu_checks.py, one command on a GPU machine.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from adcheck import devices
from adcheck.contexts import compare_context, context_message, with_context_disagreements
from adcheck.devices import GpuSearch, resolve_device, search_gpus
from adcheck.frameworks import gpu_allocator_settings
from adcheck.model import BackendRun, BackendVerdict, Comparison, ContextResult, Finding, Status
from adcheck.settings import context_names
from conftest import FIXTURES, assert_usage_error, invoke, load_fixture

CONTEXTS = load_fixture("contexts")
FIXTURE = str(FIXTURES / "contexts.py")
GPU = search_gpus()
needs_gpu = pytest.mark.skipif(not GPU.found, reason=f"needs a GPU, and this machine has none: {GPU.how}")
needs_no_gpu = pytest.mark.skipif(bool(GPU.found), reason=f"checks the behaviour without a GPU, and this machine "
                                                          f"has one ({GPU.how})")

TORCH_CODE = '''import torch


def log_squared_naive(x):
    return torch.sum(torch.log(1 + x) ** 2)


def log_squared_safe(x):
    return torch.sum(torch.log1p(x) ** 2)


def smooth(x):
    return torch.sin(x) * torch.exp(-0.5 * x) + x.sum() ** 2
'''


def run_json(target: str, *options: str):
    result = invoke("run", target, *options, "--format", "json", "--no-timings")
    assert result.stdout.strip(), (result.exit_code, result.stderr)
    return result, json.loads(result.stdout)


def statuses(report) -> dict[str, str]:
    return {b["name"]: b["status"] for b in report["backends"] if b["status"] not in ("not-applicable", "reference")}


def context_findings(report) -> list[dict]:
    return [f for f in report["findings"] if f["code"] == "ADC607"]


@pytest.fixture
def torch_module(tmp_path):
    path = tmp_path / "torch_contexts.py"
    path.write_text(TORCH_CODE)
    return path


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(devices, "_cached_search", lambda: GpuSearch(0, "no GPU here (test)"))


# --- jit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("func", ["softplus_jitted_branch", "sinc_series_under_jit"])
def test_jit_context_catches_a_jitted_derivative_that_differs_from_eager(func):
    result, report = run_json(f"{FIXTURE}:{func}", "--input", CONTEXTS.PLANTED_JIT_INPUT, "--contexts", "eager,jit")
    assert result.exit_code == 1, result.stderr
    assert statuses(report) == {"jax-fwd": "disagree", "jax-rev": "disagree"}
    found = context_findings(report)
    assert sorted(f["explains"][0] for f in found) == ["jax-fwd", "jax-rev"]
    definition = getattr(CONTEXTS, func).__code__.co_firstlineno
    for finding in found:
        # The path as the report shows it: relative to the working directory where it lies under it.
        path = os.path.abspath(finding["path"])
        assert (path, finding["line"], finding["severity"]) == (FIXTURE, definition, "error")
        assert f"the {finding['explains'][0]} derivative under jit differs from eager by " in finding["message"]
        assert f"d {func}[0] / d x[0]" in finding["message"]
    for backend in report["backends"]:
        if backend["status"] == "disagree":
            assert "under jit differs from the eager one" in backend["message"]


def test_jit_context_is_caught_in_fast_mode_too():
    result, report = run_json(f"{FIXTURE}:softplus_jitted_branch", "--input", CONTEXTS.PLANTED_JIT_INPUT,
                              "--contexts", "eager,jit", "--mode", "fast", "--backend", "jax-rev")
    assert result.exit_code == 1, result.stderr
    (finding,) = context_findings(report)
    assert finding["explains"] == ["jax-rev"]
    # sigmoid(3) = 0.9526 eagerly, 1 under jit; products along random cotangents u_k name them
    assert "the jax-rev derivative under jit differs from eager by 0.047 at d (u" in finding["message"]


def test_jit_and_float32_contexts_find_nothing_in_correct_functions():
    assert len(CONTEXTS.CORRECT) >= 20
    wrong = {}
    for func in CONTEXTS.CORRECT:
        result, report = run_json(f"{FIXTURE}:{func}", "--input", CONTEXTS.CORRECT_INPUT,
                                  "--contexts", "eager,jit,float32", "--no-lint")
        problems = [f["message"] for f in context_findings(report)]
        problems += [note for note in report["notes"] if note.startswith("--contexts")]
        if result.exit_code != 0 or problems or set(statuses(report).values()) != {"agree"}:
            wrong[func] = (result.exit_code, statuses(report), problems)
    assert wrong == {}


def test_a_jit_context_that_raises_is_a_note_with_the_line(tmp_path):
    path = tmp_path / "branchy.py"
    path.write_text("import jax.numpy as jnp\n\n\ndef branchy(x):\n    if x[0] > 0:\n        return jnp.sin(x)\n"
                    "    return jnp.cos(x)\n")
    result, report = run_json(f"{path}:branchy", "--input", "[0.5, 1.0]", "--contexts", "eager,jit",
                              "--backend", "jax-rev")
    assert result.exit_code == 0, result.stderr
    (note,) = [n for n in report["notes"] if n.startswith("--contexts")]
    assert note.startswith("--contexts: the jax-rev derivative under jit failed: TracerBoolConversionError")
    assert note.endswith("branchy.py:5")
    assert context_findings(report) == []


def test_a_backend_without_contexts_says_so_and_rebound_numpy_code_jits():
    result, report = run_json(f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--contexts", "eager,jit",
                              "--backend", "autograd", "--backend", "jax-rev")
    assert result.exit_code == 0, result.stderr
    assert statuses(report) == {"autograd": "agree", "jax-rev": "agree"}
    assert [n for n in report["notes"] if n.startswith("--contexts")] == [
        "--contexts: autograd computes eagerly in float64 on the CPU only; no other context was checked there"]


# --- float32 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("func", "inputs"), [("log_squared_naive", CONTEXTS.TINY_INPUT),
                                              ("logsumexp_naive", CONTEXTS.LARGE_INPUT)])
def test_float32_context_flags_a_gradient_lost_to_rounding(func, inputs):
    result, report = run_json(f"{FIXTURE}:{func}", "--input", inputs, "--contexts", "float64,float32")
    assert result.exit_code == 1, result.stderr
    assert statuses(report) == {"jax-fwd": "disagree", "jax-rev": "disagree"}
    found = context_findings(report)
    assert len(found) == 2
    for finding in found:
        assert " derivative in float32 differs from eager float64 by " in finding["message"]
        assert "beyond what float32 rounding explains" in finding["message"]


@pytest.mark.parametrize(("func", "inputs"), [("log_squared_safe", CONTEXTS.TINY_INPUT),
                                              ("logsumexp_safe", CONTEXTS.LARGE_INPUT)])
def test_float32_context_passes_float32_safe_code(func, inputs):
    result, report = run_json(f"{FIXTURE}:{func}", "--input", inputs, "--contexts", "float64,float32")
    assert result.exit_code == 0, (result.stderr, report["findings"])
    assert statuses(report) == {"jax-fwd": "agree", "jax-rev": "agree"}
    assert context_findings(report) == []


def test_float64_is_a_synonym_of_eager():
    assert context_names("float64,float32") == ("eager", "float32")
    assert context_names(["eager", "float64", "jit"]) == ("eager", "jit")


def test_torch_float32_context_flags_naive_code_and_passes_log1p(torch_module):
    result, report = run_json(f"{torch_module}:log_squared_naive", "--input", CONTEXTS.TINY_INPUT,
                              "--contexts", "eager,float32,jit")
    assert result.exit_code == 1, result.stderr
    assert statuses(report) == {"torch-fwd": "disagree", "torch-rev": "disagree"}
    assert sorted(f["explains"][0] for f in context_findings(report)) == ["torch-fwd", "torch-rev"]
    # jit is JAX's: asked of torch code it is not silently skipped
    assert ("--contexts: the torch-fwd, torch-rev derivative under jit not computed: jit is jax.jit, JAX's; "
            "PyTorch's compiled context is compile") in report["notes"]

    result, report = run_json(f"{torch_module}:log_squared_safe", "--input", CONTEXTS.TINY_INPUT,
                              "--contexts", "eager,float32")
    assert result.exit_code == 0, result.stderr
    assert context_findings(report) == []


def test_torch_compile_context_agrees_on_correct_code(torch_module):
    result, report = run_json(f"{torch_module}:smooth", "--input", "[0.3, -1.2, 0.7]", "--contexts", "eager,compile",
                              "--backend", "torch-rev", "--timeout", "300")
    assert result.exit_code == 0, result.stderr
    assert context_findings(report) == []
    notes = [n for n in report["notes"] if n.startswith("--contexts")]
    # Computed, or not applicable here with the reason (a machine without a C++ compiler)
    assert notes == [] or all("torch.compile" in n and "not computed" in n for n in notes), notes


# --- the comparison ---------------------------------------------------------------------------------


def _run(jacobian, value) -> BackendRun:
    return BackendRun("jax-rev", Status.COMPUTED, value=np.asarray(value, float), jacobian=np.asarray(jacobian, float))


@pytest.mark.parametrize("power", [-30, -8, 0, 8, 30])
def test_the_context_tolerance_is_scale_free(power):
    scale = 10.0**power
    eager = np.array([[1.0, 2.0], [-3.0, 0.5]]) * scale
    value = np.array([1.0, 2.0]) * scale
    x0 = np.array([0.5, 1.5])
    within = eager * (1 + 1e-4)  # float32 rounding of a well-conditioned derivative
    beyond = eager.copy()
    beyond[0, 1] *= 1.05
    float32 = 2.0**-23
    assert compare_context(_run(eager, value), ContextResult("float32", within, eps=float32), x0).entries == ()
    differing = compare_context(_run(eager, value), ContextResult("float32", beyond, eps=float32), x0)
    assert differing.entries == ((0, 1),)
    # The verdict chain's own verdict on the context, with no second witness asked of an exact reference.
    assert differing.verdict.status == Status.DISAGREE and differing.verdict.n_mismatches == 1
    assert compare_context(_run(eager, value), ContextResult("float32", within, eps=float32),
                           x0).verdict.status == Status.AGREE
    # the same 1e-4 is far beyond what float64 (jit) explains
    assert compare_context(_run(eager, value), ContextResult("jit", within), x0).entries != ()


def test_nan_in_a_context_where_eager_is_finite_differs():
    eager = np.array([[1.0, 2.0]])
    other = np.array([[np.nan, 2.0]])
    difference = compare_context(_run(eager, [1.0]), ContextResult("float32", other, eps=2.0**-23), np.ones(2))
    assert difference.entries == ((0, 0),) and difference.nonfinite == 1
    message = context_message(difference, _Names())
    assert message.startswith("the jax-rev derivative in float32 differs from eager float64 by NaN or inf at (0, 0)")


def test_a_context_that_was_not_computed_is_not_compared():
    eager = np.eye(2)
    skipped = ContextResult("gpu", status="not-applicable", message="no GPU on this machine")
    assert compare_context(_run(eager, [1.0, 1.0]), skipped, np.ones(2)) is None


def test_adc607_fails_only_the_row_it_explains():
    comparison = Comparison(tuple(BackendVerdict(name, status, 0.0) for name, status in (
        ("fd", Status.REFERENCE), ("jax-fwd", Status.AGREE), ("jax-rev", Status.AGREE), ("torch-rev", Status.ERROR))))
    finding = Finding("ADC607", "error", "f.py", 1, 1, "the jax-rev derivative under jit differs from eager by 0.1 "
                      "at (0, 0) (1 of 1 entry beyond what float64 rounding explains, 1e-06 relative)",
                      explains=("jax-rev",))
    updated = with_context_disagreements(comparison, (finding,))
    assert [v.status for v in updated.verdicts] == [Status.REFERENCE, Status.AGREE, Status.DISAGREE, Status.ERROR]
    assert updated.verdict("jax-rev").message == "its derivative under jit differs from the eager one: see ADC607"
    assert updated.failed


class _Names:
    def entry(self, row, column, mode, backend):
        return f"({row}, {column})"


# --- the device -------------------------------------------------------------------------------------


def test_device_gpu_without_a_gpu_is_one_line_and_exit_2(no_gpu):
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--device", "gpu")
    assert_usage_error(result, "--device gpu: no GPU found: no GPU here (test)", "--device auto")


def test_device_auto_without_a_gpu_runs_on_the_cpu_and_says_so(no_gpu):
    result, report = run_json(f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--device", "auto",
                              "--backend", "jax-rev")
    assert result.exit_code == 0, result.stderr
    assert statuses(report) == {"jax-rev": "agree"}
    assert ("--device auto: no GPU found (no GPU here (test)); JAX and PyTorch computed on the CPU"
            in report["notes"])


def test_device_resolution():
    assert resolve_device(None) == ("cpu", "")
    assert resolve_device("cpu") == ("cpu", "")


def test_gpu_search_reads_the_environment_and_the_driver(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert search_gpus() == GpuSearch(0, "CUDA_VISIBLE_DEVICES='' hides every GPU")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    driver = tmp_path / "gpus"
    for bus in ("0000:01:00.0", "0000:02:00.0"):
        (driver / bus).mkdir(parents=True)
    monkeypatch.setattr(devices, "NVIDIA_DRIVER", driver)
    assert search_gpus() == GpuSearch(2, f"2 in {driver}")
    monkeypatch.setattr(devices, "NVIDIA_DRIVER", tmp_path / "missing")
    monkeypatch.setattr(devices, "NVIDIA_DEVICE_FILES", tmp_path)
    monkeypatch.setattr(devices.shutil, "which", lambda name: None)
    assert search_gpus().found == 0


def test_two_jax_workers_share_a_gpu_without_preallocating():
    assert gpu_allocator_settings({}) == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false",
                                          "XLA_PYTHON_CLIENT_MEM_FRACTION": "0.45"}
    # what the user set stays theirs (and JAX refuses both fraction variables at once)
    assert gpu_allocator_settings({"XLA_PYTHON_CLIENT_PREALLOCATE": "true", "XLA_CLIENT_MEM_FRACTION": ".9"}) == {}


@needs_no_gpu
def test_a_gpu_the_parent_saw_but_jax_cannot_use_is_the_rows_error(monkeypatch):
    # The parent's cheap look can be fooled (a driver without a CUDA-enabled jaxlib); the worker
    # confirms, and its row says what it found.
    monkeypatch.setattr(devices, "_cached_search", lambda: GpuSearch(1, "1 in /proc/driver/nvidia/gpus (test)"))
    result, report = run_json(f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--device", "gpu",
                              "--backend", "jax-fwd", "--backend", "jax-rev")
    assert result.exit_code == 1
    rows = {b["name"]: b for b in report["backends"]}
    for name in ("jax-fwd", "jax-rev"):
        assert rows[name]["status"] == "error"
        assert rows[name]["message"].startswith("JAX cannot use the GPU: ")
        assert "\n" not in rows[name]["message"]
    assert rows["fd"]["status"] == "reference"  # the reference computes on the CPU whatever --device says


@needs_no_gpu
def test_a_gpu_the_parent_saw_but_torch_cannot_use_is_the_rows_error(monkeypatch, torch_module):
    monkeypatch.setattr(devices, "_cached_search", lambda: GpuSearch(1, "1 in /proc/driver/nvidia/gpus (test)"))
    result, report = run_json(f"{torch_module}:smooth", "--input", "[0.3, -1.2]", "--device", "gpu",
                              "--backend", "torch-rev")
    assert result.exit_code == 1
    (row,) = [b for b in report["backends"] if b["name"] == "torch-rev"]
    assert row["status"] == "error" and row["message"].startswith("PyTorch cannot use the GPU: ")


@needs_no_gpu
def test_a_gpu_context_without_a_gpu_is_not_computed_and_says_why():
    result, report = run_json(f"{FIXTURE}:polynomial", "--input", CONTEXTS.CORRECT_INPUT, "--contexts", "eager,gpu",
                              "--backend", "jax-rev")
    assert result.exit_code == 0, result.stderr
    assert "--contexts: the jax-rev derivative on the GPU not computed: no GPU on this machine" in report["notes"]


# --- on a GPU (benchmarks/gpu_checks.py runs the full set) --------------------------------------------


@needs_gpu
def test_the_readme_example_runs_on_the_gpu():
    result, report = run_json(f"{FIXTURES / 'cumprod.py'}:ac_cumprod", "--input", "[1,2,3]", "--device", "gpu")
    assert result.exit_code == 0, result.stderr
    assert statuses(report) == {"autograd": "agree", "jax-fwd": "agree", "jax-rev": "agree"}


@needs_gpu
@pytest.mark.parametrize("func", ["dense_tanh", "matrix_inverse", "scan_running", "softmax"])
def test_gpu_context_agrees_with_the_cpu_on_correct_functions(func):
    result, report = run_json(f"{FIXTURE}:{func}", "--input", CONTEXTS.CORRECT_INPUT, "--contexts", "eager,gpu")
    assert result.exit_code == 0, result.stderr
    assert context_findings(report) == []
    assert [n for n in report["notes"] if n.startswith("--contexts")] == []


# --- eager means eager: the user's own jit and torch.compile are off in the eager row -----------------


def test_a_stale_jitted_helper_differs_from_eager_under_contexts():
    result, report = run_json(f"{FIXTURE}:calls_stale_jitted_helper", "--input", "[0.3, -1.2, 0.7]",
                              "--contexts", "eager,jit")
    assert result.exit_code == 1, result.stderr
    assert statuses(report) == {"jax-fwd": "disagree", "jax-rev": "disagree"}
    findings = context_findings(report)
    assert sorted(f["explains"][0] for f in findings) == ["jax-fwd", "jax-rev"]
    assert all("under jit differs from eager" in f["message"] and "d calls_stale_jitted_helper[0] / d x[0]"
               in f["message"] for f in findings)


def test_a_stale_jitted_helper_fails_a_plain_run_on_the_probes_proof():
    result, report = run_json(f"{FIXTURE}:calls_stale_jitted_helper", "--input", "[0.3, -1.2, 0.7]")
    assert result.exit_code == 1, result.stderr
    assert statuses(report) == {"jax-fwd": "disagree", "jax-rev": "disagree"}
    stale = [f for f in report["findings"] if f["code"] == "ADC403"]
    assert [f["severity"] for f in stale] == ["error"]
    assert stale[0]["message"].startswith("jitted value differs from un-jitted value")


@pytest.mark.parametrize("contexts", [(), ("--contexts", "eager,jit")])
def test_a_correct_jitted_helper_passes_plain_and_under_contexts(contexts):
    result, report = run_json(f"{FIXTURE}:calls_a_jitted_helper", "--input", "[0.3, -1.2, 0.7]", *contexts)
    assert result.exit_code == 0, result.stdout
    assert statuses(report) == {"jax-fwd": "agree", "jax-rev": "agree"}
    assert [f for f in report["findings"] if f["severity"] in ("error", "warning")] == []


COMPILED_HELPER = '''import torch


@torch.compile
def _helper(x):
    scale = 2.0 if torch.compiler.is_compiling() else 1.0  # only a compiled run doubles
    return scale * torch.sin(x)


def calls_a_compiled_helper(x):
    return _helper(x) + x
'''


def test_torch_compiled_helpers_run_uncompiled_in_the_eager_row(tmp_path):
    path = tmp_path / "compiled_helper.py"
    path.write_text(COMPILED_HELPER)
    x = np.array([0.3, -1.2, 0.7])
    result, report = run_json(f"{path}:calls_a_compiled_helper", "--input", "[0.3, -1.2, 0.7]",
                              "--contexts", "eager,float32", "--backend", "torch-rev", "--timeout", "300")
    assert result.stdout, result.stderr
    eager = np.diag(np.cos(x) + 1.0)  # the helper's code, uncompiled: scale 1
    for name in ("fd", "torch-rev"):
        np.testing.assert_allclose(report["jacobians"][name], eager, atol=1e-8)
