"""ADC501 for JAX: custom_vjp, custom_jvp (decorator registration), functional form."""

import jax
import jax.numpy as jnp


@jax.custom_vjp  # expect: ADC501
def my_sin(x):
    return jnp.sin(x)


def my_sin_fwd(x):
    return jnp.sin(x), x


def my_sin_bwd(x, g):
    return (jnp.cos(x) * g,)


my_sin.defvjp(my_sin_fwd, my_sin_bwd)  # expect: ADC501


@jax.custom_jvp  # expect: ADC501
def my_exp(x):
    return jnp.exp(x)


@my_exp.defjvp  # expect: ADC501
def my_exp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return jnp.exp(x), jnp.exp(x) * t


def uses_sin(x):
    return jnp.sum(my_sin(x))


def uses_exp(x):
    return jnp.sum(my_exp(x))


def plain(x):
    return jnp.sum(jnp.sin(x))


@jax.jit  # ok: ADC501
def plain_jitted(x):
    return jnp.sum(jnp.cos(x))
