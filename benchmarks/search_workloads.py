"""The 50-parameter JAX MLP loss that ``search_cost.py`` searches (3 inputs, 8 tanh units, 2 outputs).

Its parameters are the argument (``params["w1"]`` 3x8, ``b1`` 8, ``w2`` 8x2, ``b2`` 2: 50 values);
the data are fixed, so every backend and every searched input sees the same loss.
"""

import jax.numpy as jnp
import numpy as np

_RNG = np.random.default_rng(3)
INPUTS = _RNG.standard_normal((16, 3))
TARGETS = _RNG.standard_normal((16, 2))


def mlp_loss(params):
    hidden = jnp.tanh(INPUTS @ params["w1"] + params["b1"])
    prediction = hidden @ params["w2"] + params["b2"]
    return jnp.mean((prediction - TARGETS) ** 2)


def parameters_json() -> str:
    """The parameters ``search_cost.py`` starts from, as ``--input`` JSON."""
    rng = np.random.default_rng(0)
    shapes = {"w1": (3, 8), "b1": (8,), "w2": (8, 2), "b2": (2,)}
    return "{" + ", ".join(f'"{name}": {np.round(0.5 * rng.standard_normal(shape), 3).tolist()}'
                           for name, shape in shapes.items()) + "}"
