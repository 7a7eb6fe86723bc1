"""optax's losses (``optax/losses/_classification.py``, ``_regression.py``), written for JAX.

https://github.com/google-deepmind/optax/tree/main/optax/losses. The bodies are optax's, minus its
dtype assertions (``utils.check_subdtype``); labels and targets are fixed module-level arrays so
that each case is a function of the predictions only.
"""

import jax
import jax.numpy as jnp

LABELS = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
INTEGER_LABELS = jnp.array([0, 2, 1, 1])
TARGETS = jnp.array([0.5, -1.0, 2.5, 0.0, 3.0, -0.3])
BINARY_LABELS = jnp.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
SIGNS = jnp.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def softmax_cross_entropy(logits):
    """optax.softmax_cross_entropy (one-hot and soft labels), one value per row."""
    log_probs = jax.nn.log_softmax(logits, -1)
    return -(LABELS * log_probs).sum(-1)


def softmax_cross_entropy_with_integer_labels(logits):
    """optax.softmax_cross_entropy_with_integer_labels: logsumexp minus the label's logit."""
    label_logits = jnp.take_along_axis(logits, jnp.expand_dims(INTEGER_LABELS, -1), axis=-1).take(0, axis=-1)
    log_normalizers = jax.nn.logsumexp(logits, axis=-1)
    return log_normalizers - label_logits


def huber_loss(predictions, delta=1.0):
    """optax.huber_loss: 0.5 err**2 inside |err| <= delta, linear outside (minimum, not where)."""
    errors = predictions - TARGETS
    abs_errors = jnp.abs(errors)
    quadratic = jnp.minimum(abs_errors, delta)
    linear = abs_errors - quadratic
    return 0.5 * quadratic**2 + delta * linear


def log_cosh(predictions):
    """optax.log_cosh: logaddexp(err, -err) - log 2."""
    errors = predictions - TARGETS
    return jnp.logaddexp(errors, -errors) - jnp.log(2.0).astype(errors.dtype)


def sigmoid_binary_cross_entropy(logits):
    """optax.sigmoid_binary_cross_entropy: through jax.nn.log_sigmoid of x and -x."""
    labels = BINARY_LABELS.astype(logits.dtype)
    log_p = jax.nn.log_sigmoid(logits)
    log_not_p = jax.nn.log_sigmoid(-logits)
    return -labels * log_p - (1.0 - labels) * log_not_p


def squared_hinge(predictions):
    """The squared hinge, max(0, 1 - y t)**2: optax.hinge_loss squared, as Keras's squared_hinge
    (https://keras.io/api/losses/hinge_losses/) defines it; C^1 at the hinge."""
    return jnp.maximum(0, 1 - predictions * SIGNS) ** 2


def cosine_similarity(predictions):
    """optax.cosine_similarity (epsilon 0) of each prediction row with the label row."""
    a_norm2 = jnp.square(predictions).sum(axis=-1, keepdims=True)
    b_norm2 = jnp.square(LABELS).sum(axis=-1, keepdims=True)
    a_unit = predictions / jnp.sqrt(a_norm2.clip(0.0))
    b_unit = LABELS / jnp.sqrt(b_norm2.clip(0.0))
    return (a_unit * b_unit).sum(axis=-1)
