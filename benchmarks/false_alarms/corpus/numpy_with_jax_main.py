"""A numpy function in a file that imports JAX only under ``if __name__ == "__main__":``.

Issue 10 names the pattern: a script whose demo compares against JAX at the bottom. The function
is numpy code; only running the file as a script touches JAX. Formula: the log-sum-exp trick
(https://en.wikipedia.org/wiki/LogSumExp), as scipy.special.logsumexp computes it.
"""

import numpy as np


def logsumexp(x):
    """max(x) + log(sum(exp(x - max(x))))."""
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


if __name__ == "__main__":
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp as jax_logsumexp

    x = np.linspace(-3.0, 3.0, 7)
    print(logsumexp(x), jax_logsumexp(jnp.asarray(x)))
