"""ADC301, ADC302 and ADC303."""

import jax.numpy as jnp


def kinks(x):
    a = jnp.abs(x)  # expect: ADC301
    b = jnp.maximum(x, 0.0)  # expect: ADC301
    c = max(x[0], x[1])  # expect: ADC301
    if x[0] > 0:  # expect: ADC301
        a = a * 2.0
    d = x[0] if x[1] > 0 else x[2]  # expect: ADC301
    e = jnp.clip(x, -1.0, 1.0)  # expect: ADC301
    return a + b + c + d + e


def shape_branches_are_smooth(x, scale=2.0):
    if x.shape[0] > 3:
        x = x[:3]
    if scale > 1.0:
        x = x * scale
    return x


def where_nan_trap(x):
    return jnp.where(x > 0, jnp.sqrt(x), 0.0)  # expect: ADC302


def where_division_trap(x, y):
    ratio = x / y
    return jnp.where(y != 0, ratio, 0.0)  # expect: ADC302


def where_log_trap(x):
    return jnp.where(x > 0, x * jnp.log(x), 0.0)  # expect: ADC302


def where_safe(x):
    return jnp.where(x > 0, x, 0.1 * x) + jnp.where(x > 0, x**2, jnp.exp(x) - 1.0)


def where_double_where(x):
    positive = x > 0
    safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.sqrt(safe), 0.0)


def norms(x, y):
    r = jnp.sqrt(jnp.sum(x**2))  # expect: ADC303
    d = jnp.linalg.norm(x - y)  # expect: ADC303
    s = jnp.sum((x - y) ** 2) ** 0.5  # expect: ADC303
    return r + d + s


def smooth_norms(x, y):
    r = jnp.sqrt(jnp.sum(x**2) + 1e-12)
    s = jnp.sqrt(1.0 + x**2)
    return r + jnp.sum(s) + jnp.log(jnp.exp(y).sum())
