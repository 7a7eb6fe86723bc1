"""Functions from JAX's documentation and from JAX, M.D. (``jax_md/energy.py``), written for JAX."""

import jax
import jax.numpy as jnp

f32 = jnp.float32  # jax_md.util.f32


# --- JAX docs: "Automatic differentiation" / autodiff cookbook -----------------------------------

def _sigmoid(x):
    return 0.5 * (jnp.tanh(x / 2) + 1)


def _predict(W, b, inputs):
    return _sigmoid(jnp.dot(inputs, W) + b)


COOKBOOK_INPUTS = jnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
COOKBOOK_TARGETS = jnp.array([True, True, False, True])


def cookbook_loss(W, b):
    """JAX autodiff cookbook: logistic regression's training loss as a function of (W, b).

    https://docs.jax.dev/en/latest/notebooks/autodiff_cookbook.html ("Gradients")
    """
    preds = _predict(W, b, COOKBOOK_INPUTS)
    label_probs = preds * COOKBOOK_TARGETS + (1 - preds) * (1 - COOKBOOK_TARGETS)
    return -jnp.sum(jnp.log(label_probs))


# --- JAX docs: quickstart ------------------------------------------------------------------------

def selu(x, alpha=1.67, lmbda=1.05):
    """JAX quickstart: SELU with jnp.where (kink-free away from 0).

    https://docs.jax.dev/en/latest/quickstart.html
    """
    return lmbda * jnp.where(x > 0, x, alpha * jnp.exp(x) - alpha)


def sum_logistic(x):
    """JAX quickstart: the example jax.grad is first shown on.

    https://docs.jax.dev/en/latest/quickstart.html
    """
    return jnp.sum(1.0 / (1.0 + jnp.exp(-x)))


# --- JAX docs: custom derivative rules -----------------------------------------------------------

@jax.custom_jvp
def log1pexp(x):
    return jnp.log(1.0 + jnp.exp(x))


@log1pexp.defjvp
def log1pexp_jvp(primals, tangents):
    x, = primals
    x_dot, = tangents
    ans = log1pexp(x)
    ans_dot = (1 - 1 / (1 + jnp.exp(x))) * x_dot
    return ans, ans_dot


def softplus_custom_jvp(x):
    """JAX "Custom derivative rules" tutorial: log1pexp with a custom_jvp that stays finite at
    large x (the tutorial's first example of why custom rules exist).

    https://docs.jax.dev/en/latest/notebooks/Custom_derivative_rules_for_Python_code.html
    """
    return log1pexp(x)


# --- JAX, M.D.: jax_md/energy.py -----------------------------------------------------------------

def lennard_jones(dr, sigma=1.0, epsilon=1.0):
    """jax_md.energy.lennard_jones, reduced units (minimum at 2**(1/6) sigma).

    https://github.com/jax-md/jax-md/blob/main/jax_md/energy.py
    """
    idr = sigma / dr
    idr = idr * idr
    idr6 = idr * idr * idr
    idr12 = idr6 * idr6
    return jnp.nan_to_num(f32(4) * epsilon * (idr12 - idr6))


def morse(dr, sigma=1.0, epsilon=5.0, alpha=5.0):
    """jax_md.energy.morse (reduced units).

    https://github.com/jax-md/jax-md/blob/main/jax_md/energy.py
    """
    U = epsilon * (f32(1) - jnp.exp(-alpha * (dr - sigma))) ** f32(2) - epsilon
    return jnp.nan_to_num(jnp.array(U, dtype=dr.dtype))


def simple_spring(dr, length=1.0, epsilon=1.0, alpha=2.0):
    """jax_md.energy.simple_spring: a generalised Hookean spring, epsilon/alpha |dr - length|**alpha.

    https://github.com/jax-md/jax-md/blob/main/jax_md/energy.py
    """
    return epsilon / alpha * jnp.abs(dr - length) ** alpha


def soft_sphere(dr, sigma=1.0, epsilon=1.0, alpha=2.0):
    """jax_md.energy.soft_sphere with jax_md.util.safe_mask spelled out (jnp.where on a safe input).

    https://github.com/jax-md/jax-md/blob/main/jax_md/energy.py
    """
    dr = dr / sigma
    safe = jnp.where(dr < 1.0, dr, 0.0)
    return jnp.where(dr < 1.0, epsilon / alpha * (f32(1.0) - safe) ** alpha, f32(0.0))
