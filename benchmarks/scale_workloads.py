"""Functions for the scale targets (adcheck only; the peers cannot do these at all)."""

import numpy as np
from autograd.extend import defvjp, primitive

DENSE_SIZE = 2000
_i = np.arange(DENSE_SIZE)
WEIGHTS = np.cos(_i[:, None] * 0.37 + _i[None, :] * 0.11) / np.sqrt(DENSE_SIZE)


def dense_layer(x):
    # 2000 inputs -> 2000 outputs with a dense Jacobian: every entry is nonzero.
    return np.tanh(WEIGHTS @ x)


def big_loss(w):
    return np.sum(np.sin(w) * w) + 0.5 * np.sum(w**2)


@primitive
def _sin_times(w):
    return np.sin(w) * w


def _sin_times_vjp(ans, w):
    def vjp(g):
        grad = g * (np.cos(w) * w + np.sin(w))
        # One wrong entry out of 10^6, as an indexing slip in a hand-written rule would make.
        return grad + np.where(np.arange(w.size) == WRONG_ENTRY, 0.5 * g, 0.0)

    return vjp


WRONG_ENTRY = 654321
defvjp(_sin_times, _sin_times_vjp)


def big_loss_one_wrong_entry(w):
    return np.sum(_sin_times(w)) + 0.5 * np.sum(w**2)
