"""ADC202, ADC203 and ADC204 in JAX code."""

import jax
import jax.numpy as jnp
import numpy as onp
import scipy.special


def plain_array(x):
    y = onp.asarray(x)  # expect: ADC202
    return jnp.sum(y**2)


def real_numpy(x):
    return jnp.sum(onp.exp(x))  # expect: ADC204


def stops(x):
    return x * jax.lax.stop_gradient(x)  # expect: ADC203


def constants_are_fine(x):
    weights = onp.linspace(0.0, 1.0, 3)
    table = onp.asarray([1.0, 2.0, 3.0])  # ok: ADC202
    shape = onp.shape(x)  # ok: ADC204
    return jnp.sum(jnp.asarray(weights) * x * table) + len(shape)  # ok: ADC202


def real_scipy(x):
    return jnp.sum(scipy.special.erf(x))  # expect: ADC204


def jax_scipy(x):
    return jnp.sum(jax.scipy.special.erf(x)) * scipy.special.gamma(3.0)  # ok: ADC204
