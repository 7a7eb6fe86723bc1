"""The 2762-parameter MLP of the auto-mode speed target: 32 inputs -> 64 tanh units -> 10 outputs
(2048 + 64 + 640 + 10 parameters), mean squared error over a fixed batch of 16, JAX, float64."""

import jax.numpy as jnp
import numpy as np


def make_inputs():
    """(params, batch), as an ``init`` function makes them (``--inputs-from``)."""
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((32, 64)) / 6, "b1": np.zeros(64),
              "w2": rng.standard_normal((64, 10)) / 8, "b2": np.zeros(10)}
    batch = {"x": rng.standard_normal((16, 32)), "y": rng.standard_normal((16, 10))}
    return params, batch


def loss(params, batch):
    hidden = jnp.tanh(batch["x"] @ params["w1"] + params["b1"])
    prediction = hidden @ params["w2"] + params["b2"]
    return jnp.mean((prediction - batch["y"]) ** 2)
