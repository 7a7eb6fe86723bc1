"""torch-fwd and torch-rev through the real CLI: each run spawns fd and both torch workers.

torch is a CI dependency: these tests must fail, not skip, when it is missing.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np

from adcheck.prepare import CommandLineInputs, prepare
from adcheck.run import check_target
from adcheck.settings import Settings

from conftest import FIXTURES, invoke

TORCH_BACKENDS = ("--backend", "torch-fwd", "--backend", "torch-rev")


def run_json(function: str, *inputs: str, extra: tuple[str, ...] = TORCH_BACKENDS):
    args = ["run", f"{FIXTURES / 'torch_funcs.py'}:{function}"]
    for text in inputs:
        args += ["--input", text]
    result = invoke(*args, *extra, "--format", "json", "--no-timings")
    return result, json.loads(result.stdout)


def statuses(report: dict) -> dict[str, str]:
    return {backend["name"]: backend["status"] for backend in report["backends"]}


def test_correct_torch_function_agrees_in_both_modes():
    result, report = run_json("sin_times_sum", "[1,2,3]")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert report["framework"] == "torch"
    assert statuses(report) == {"fd": "reference", "torch-fwd": "agree", "torch-rev": "agree"}
    x = np.array([1.0, 2.0, 3.0])
    expected = np.diag(np.cos(x) * x.sum()) + np.sin(x)[:, None]
    np.testing.assert_allclose(report["jacobians"]["torch-rev"], expected, rtol=1e-12)
    np.testing.assert_allclose(report["jacobians"]["torch-fwd"], expected, rtol=1e-12)


def test_torch_loop_cumprod_jacobian_agrees():
    result, report = run_json("loop_cumprod", "[1,2,3]")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert report["jacobians"]["torch-fwd"] == [[1, 0, 0], [2, 1, 0], [6, 3, 2]]
    assert report["jacobians"]["torch-rev"] == [[1, 0, 0], [2, 1, 0], [6, 3, 2]]


def test_wrong_backward_makes_torch_rev_the_odd_one_out():
    result, report = run_json("wrong_backward_square", "[1,2,3]")
    assert result.exit_code == 1
    assert statuses(report)["torch-rev"] == "disagree"
    assert statuses(report)["torch-fwd"] == "agree"  # its jvp is right
    assert report["odd_one_out"] == ["torch-rev"]
    rev = next(b for b in report["backends"] if b["name"] == "torch-rev")
    assert {tuple(m["entry"]) for m in rev["mismatches"]} == {(0, 0), (1, 1), (2, 2)}
    assert report["jacobians"]["torch-rev"] == [[1, 0, 0], [0, 2, 0], [0, 0, 3]]  # grad * x, not 2 * grad * x


def test_wrong_backward_table_names_torch_rev():
    target = f"{FIXTURES / 'torch_funcs.py'}:wrong_backward_square"
    result = invoke("run", target, "--input", "[1,2,3]", *TORCH_BACKENDS, "--no-timings")
    assert result.exit_code == 1
    assert "torch-rev disagrees with finite differences and with torch-fwd, which agree." in result.stdout
    assert result.stdout.rstrip().endswith("FAIL: torch-rev")


def test_old_style_function_with_backward_and_jvp_agrees():
    result, report = run_json("cube", "[1,2,3]")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert statuses(report) == {"fd": "reference", "torch-fwd": "agree", "torch-rev": "agree"}


def test_function_without_jvp_is_not_applicable_to_forward_mode_and_reverse_still_agrees():
    # A Function without jvp (as in PyTorch's own tutorials) cannot run forward mode at all:
    # that is not a failure of the code.
    result, report = run_json("no_jvp_exp", "[1,2,3]")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert statuses(report)["torch-rev"] == "agree"
    fwd = next(b for b in report["backends"] if b["name"] == "torch-fwd")
    assert fwd["status"] == "not-applicable"
    assert fwd["message"].startswith("PyTorch has no forward-mode derivative of torch.autograd.Function NoJvpExp "
                                      "(it defines no jvp): NotImplementedError: You must implement the jvp function")
    path, _, line = fwd["location"].rpartition(":")
    assert Path(path).resolve() == FIXTURES / "torch_funcs.py" and line.isdigit()


def test_tuple_of_tensors_is_flattened_into_one_jacobian():
    result, report = run_json("sin_and_sum", "[1,2,3]")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert statuses(report) == {"fd": "reference", "torch-fwd": "agree", "torch-rev": "agree"}
    x = np.array([1.0, 2.0, 3.0])
    expected = np.vstack([np.diag(np.cos(x)), 2 * x])
    np.testing.assert_allclose(report["jacobians"]["torch-rev"], expected, rtol=1e-12)


def test_fixed_integer_argument_reaches_torch_as_an_integer_tensor():
    result, report = run_json("scaled_by_count", "[1,2,3]", "2", extra=(*TORCH_BACKENDS, "--wrt", "0"))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert report["jacobians"]["torch-fwd"] == [[2, 0, 0], [0, 2, 0], [0, 0, 2]]


def test_torch_func_is_tried_first_and_classic_autograd_takes_over_when_it_refuses():
    inputs = CommandLineInputs(("[1,2,3]",))
    options = Settings(backends=("torch-fwd", "torch-rev"), lint=False)
    plain = check_target(prepare(f"{FIXTURES / 'torch_funcs.py'}:sin_times_sum", inputs), options)
    assert plain.run("torch-fwd").method == "torch.func.jacfwd"
    assert plain.run("torch-rev").method == "torch.func.jacrev"
    # New-style Function without a vmap rule: jacrev runs it, jacfwd refuses and dual tensors take over.
    new_style = check_target(prepare(f"{FIXTURES / 'torch_funcs.py'}:new_style_square", inputs), options)
    assert not new_style.failed
    assert new_style.run("torch-rev").method == "torch.func.jacrev"
    assert new_style.run("torch-fwd").method.startswith("torch.autograd.forward_ad")
    assert "vmap" in new_style.run("torch-fwd").method.partition("torch.func refused:")[2]


def test_numpy_code_is_not_applicable_to_torch_backends():
    result = invoke("run", f"{FIXTURES / 'cumprod.py'}:loop_cumprod", "--input", "[1,2,3]",
                    *TORCH_BACKENDS, "--format", "json", "--no-timings")
    report = json.loads(result.stdout)
    assert statuses(report)["torch-fwd"] == "not-applicable"
    assert statuses(report)["torch-rev"] == "not-applicable"


def test_backends_command_lists_torch_as_installed_with_its_version():
    result = invoke("backends")
    assert result.exit_code == 0
    version = importlib.metadata.version("torch")
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    for name in ("torch-fwd", "torch-rev"):
        assert rows[name][1:3] == ["yes", version]
