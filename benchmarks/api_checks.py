"""Twenty derivative checks, as a JAX user writes them in a test file, run with either tool.

``api_vs_check_grads.py`` runs this file under pytest once per tool: ``ADCHECK_BENCH_TOOL`` is
``check_grads`` (``jax.test_util.check_grads(f, args, order=1, modes=["fwd", "rev"])``) or
``adcheck`` (``adcheck.testing.assert_derivatives(f, *args)``, with ``ADCHECK_BENCH_ISOLATION``).
Float64 for both, as JAX recommends for derivative checks.
"""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
TOOL = os.environ.get("ADCHECK_BENCH_TOOL", "adcheck")
ISOLATION = os.environ.get("ADCHECK_BENCH_ISOLATION", "process")

rng = np.random.default_rng(0)
PARAMS = {"w1": jnp.asarray(rng.standard_normal((4, 8))), "b1": jnp.zeros(8), "w2": jnp.asarray(rng.standard_normal(8))}
BATCH = jnp.asarray(rng.standard_normal((6, 4)))
TARGETS = jnp.asarray(rng.standard_normal(6))
X = jnp.linspace(0.1, 1.0, 6)


def mlp(params, x):
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"]


def mse(params):
    return jnp.mean((mlp(params, BATCH) - TARGETS) ** 2)


def attention(q, k):
    scores = q @ k.T / jnp.sqrt(q.shape[-1])
    return jnp.sum(jax.nn.softmax(scores, axis=-1) @ k)


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def scaled(x, scale):
    return scale * jnp.sum(jnp.log1p(x**2))


CHECKS = {
    "sin_times_x": (lambda x: jnp.sum(jnp.sin(x) * x), (X,)),
    "exp_cos": (lambda x: jnp.exp(jnp.cos(x)), (X,)),
    "logsumexp": (lambda x: jax.scipy.special.logsumexp(x), (X,)),
    "softplus": (lambda x: jax.nn.softplus(x), (X - 0.5,)),
    "sigmoid_sum": (lambda x: jnp.sum(jax.nn.sigmoid(3 * x)), (X,)),
    "tanh_outer": (lambda x: jnp.tanh(jnp.outer(x, x)), (X[:3],)),
    "norm": (lambda x: jnp.linalg.norm(x), (X,)),
    "cumprod": (lambda x: jnp.cumprod(x), (X,)),
    "sort_weighted": (lambda x: jnp.sort(x) * jnp.arange(1.0, 7.0), (X[::-1],)),
    "rosenbrock": (rosenbrock, (X,)),
    "mlp_loss_dict": (mse, (PARAMS,)),
    "mlp_output": (mlp, (PARAMS, BATCH)),
    "attention": (attention, (BATCH[:3], BATCH)),
    "solve": (lambda a, b: jnp.linalg.solve(a + 4 * jnp.eye(3), b), (BATCH[:3, :3], X[:3])),
    "det": (lambda a: jnp.linalg.det(a + 3 * jnp.eye(3)), (BATCH[:3, :3],)),
    "partial_scaled": (functools.partial(scaled, scale=0.5), (X,)),
    "where_abs": (lambda x: jnp.where(x > 0.5, x**2, -x), (X,)),
    "polyval": (lambda c: jnp.polyval(c, 0.7), (X,)),
    "matrix_power": (lambda a: jnp.sum(jnp.linalg.matrix_power(a, 3)), (BATCH[:3, :3] / 3,)),
    "closure_over_batch": (lambda w: jnp.sum((BATCH @ w - 1.0) ** 2), (X[:4],)),
}


@pytest.mark.parametrize("name", list(CHECKS))
def test_derivatives(name):
    f, args = CHECKS[name]
    if TOOL == "check_grads":
        from jax.test_util import check_grads

        check_grads(f, args, order=1, modes=["fwd", "rev"])
    else:
        from adcheck.testing import assert_derivatives

        assert_derivatives(f, *args, isolation=ISOLATION)
