"""optax's losses restated in plain numpy/scipy, as a user porting them off JAX would write them.

Sources: https://github.com/google-deepmind/optax/blob/main/optax/losses/_classification.py and
``_regression.py`` (same formulas, ``jnp`` -> ``np``, ``jax.nn.log_softmax`` ->
``x - scipy.special.logsumexp``, ``jax.nn.log_sigmoid(x)`` -> ``-np.logaddexp(0, -x)``).
"""

import numpy as np
from scipy.special import expit, logsumexp

LABELS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]])
TARGETS = np.array([0.5, -1.0, 2.5, 0.0, 3.0, -0.3])
BINARY_LABELS = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
SIGNS = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


def softmax_cross_entropy(logits):
    """optax.softmax_cross_entropy with scipy.special.logsumexp."""
    log_probs = logits - logsumexp(logits, axis=-1, keepdims=True)
    return -(LABELS * log_probs).sum(-1)


def huber_loss(predictions, delta=1.0):
    """optax.huber_loss in numpy."""
    abs_errors = np.abs(predictions - TARGETS)
    quadratic = np.minimum(abs_errors, delta)
    linear = abs_errors - quadratic
    return 0.5 * quadratic**2 + delta * linear


def log_cosh(predictions):
    """optax.log_cosh in numpy (np.logaddexp)."""
    errors = predictions - TARGETS
    return np.logaddexp(errors, -errors) - np.log(2.0)


def sigmoid_binary_cross_entropy(logits):
    """optax.sigmoid_binary_cross_entropy, log_sigmoid(x) = -logaddexp(0, -x)."""
    log_p = -np.logaddexp(0.0, -logits)
    log_not_p = -np.logaddexp(0.0, logits)
    return -BINARY_LABELS * log_p - (1.0 - BINARY_LABELS) * log_not_p


def binary_cross_entropy_expit(logits):
    """The textbook form with scipy.special.expit, as in scikit-learn's log-loss for a logistic
    model (sklearn/linear_model/_logistic.py computes it stably; this is the form users write)."""
    p = expit(logits)
    return -np.mean(BINARY_LABELS * np.log(p) + (1 - BINARY_LABELS) * np.log1p(-p))


def squared_hinge(predictions):
    """Keras's squared_hinge, mean(max(0, 1 - y t)**2) (https://keras.io/api/losses/hinge_losses/)."""
    return np.mean(np.square(np.maximum(1.0 - SIGNS * predictions, 0.0)))
