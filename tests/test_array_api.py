"""Array-API code (``xp = array_namespace(x)``) runs on numpy for fd, on JAX and on torch."""

from __future__ import annotations

import json

import numpy as np

from conftest import FIXTURES, invoke


def test_array_api_function_agrees_on_jax_and_torch():
    result = invoke("run", f"{FIXTURES / 'array_api_funcs.py'}:softplus_poly", "--input", "[0.5,-1,2]",
                    "--format", "json", "--no-timings")
    assert result.exit_code == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["framework"] == "array-api"
    assert {b["name"]: b["status"] for b in report["backends"]} == {
        "fd": "reference",
        "autograd": "not-applicable",
        "jax-fwd": "agree",
        "jax-rev": "agree",
        "torch-fwd": "agree",
        "torch-rev": "agree",
    }
    x = np.array([0.5, -1.0, 2.0])
    expected = np.diag(1 / (1 + np.exp(-x)) + x**2 - x.sum()) - x[:, None]
    for name in ("fd", "jax-fwd", "jax-rev", "torch-fwd", "torch-rev"):
        np.testing.assert_allclose(report["jacobians"][name], expected, rtol=1e-9, atol=1e-9, err_msg=name)
