"""ADC301, ADC302 and ADC303 in JAX code."""

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
    if x.shape[0] > 3:  # ok: ADC301
        x = x[:3]
    if scale > 1.0:  # ok: ADC301
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
    return jnp.where(x > 0, x, 0.1 * x) + jnp.where(x > 0, x**2, jnp.exp(x) - 1.0)  # ok: ADC302


def where_double_where(x):
    positive = x > 0
    safe = jnp.where(positive, x, 1.0)
    return jnp.where(positive, jnp.sqrt(safe), 0.0)  # ok: ADC302


def norms(x, y):
    r = jnp.sqrt(jnp.sum(x**2))  # expect: ADC303
    d = jnp.linalg.norm(x - y)  # expect: ADC303
    s = jnp.sum((x - y) ** 2) ** 0.5  # expect: ADC303
    return r + d + s


def smooth_norms(x, y):
    r = jnp.sqrt(jnp.sum(x**2) + 1e-12)  # ok: ADC303
    s = jnp.sqrt(1.0 + x**2)  # ok: ADC303
    return r + jnp.sum(s) + jnp.log(jnp.exp(y).sum())


def coulomb(x, y):
    r = jnp.linalg.norm(x - y)  # ok: ADC303
    return 1.0 / r + (2.0 / jnp.sqrt(jnp.sum((x - y) ** 2)))  # ok: ADC303


def bond(x, y):
    r = jnp.linalg.norm(x - y)  # expect: ADC303
    return (r - 1.0) ** 2 + 1.0 / r


def log_of_a_difference(x, p):
    # log(1 - p) is -inf at p == 1 (its value, not only its slope): the domain's edge, not ADC303.
    return jnp.sum(x * jnp.log(1 - p))  # ok: ADC303


def modulo_and_floor_division(x):
    phase = x % 1.0  # expect: ADC301
    cell = x // 0.5  # expect: ADC301
    return phase + cell


def integer_arithmetic_is_smooth(x):
    n = len(x)
    half = n // 2  # ok: ADC301
    return x[:half] * (n % 3)  # ok: ADC301


def select_nan_trap(x):
    return jnp.select([x > 0], [jnp.log(x)], 0.0)  # expect: ADC302


def select_safe(x):
    return jnp.select([x > 0, x < -1.0], [x * 2.0, jnp.exp(x)], 0.0)  # ok: ADC302


def power_of_a_square_sum(x):
    return jnp.power(jnp.sum(x**2), 0.5)  # expect: ADC303


def smooth_powers(x):
    a = jnp.power(jnp.sum(x**2) + 1e-12, 0.5)  # ok: ADC303
    b = jnp.power(jnp.sum(x**2), 2.0)  # ok: ADC303
    return a + b


def soft_sphere_safe_mask(dr):
    """jax_md's soft sphere: the base of the power is built from an already guarded value."""
    safe = jnp.where(dr < 1.0, dr, 0.0)
    return jnp.where(dr < 1.0, (1.0 - safe) ** 2.5, 0.0)  # ok: ADC302


def soft_sphere_unguarded(dr):
    return jnp.where(dr < 1.0, (1.0 - dr) ** 2.5, 0.0)  # expect: ADC302
