"""ADC202, ADC203 and ADC204 in JAX code."""

import jax
import jax.numpy as jnp
import numpy as onp


def plain_array(x):
    y = onp.asarray(x)  # expect: ADC202
    return jnp.sum(y**2)


def real_numpy(x):
    return jnp.sum(onp.exp(x))  # expect: ADC204


def stops(x):
    return x * jax.lax.stop_gradient(x)  # expect: ADC203


def constants_are_fine(x):
    weights = onp.linspace(0.0, 1.0, 3)
    shape = onp.shape(x)
    return jnp.sum(jnp.asarray(weights) * x) + len(shape)
