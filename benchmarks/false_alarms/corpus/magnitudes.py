"""Plain numpy functions at tiny and huge input magnitudes (1e-30 .. 1e30).

Each is one library function or a textbook formula (numpy's documentation for the ufuncs); the
point is the input scale, which the manifest sets: 1e-8 (issue 10's np.exp at [1e-8, 0.5]),
1e-30, 1e30.
"""

import numpy as np


def exp(x):
    """np.exp."""
    return np.exp(x)


def sqrt(x):
    """np.sqrt: derivative 1/(2 sqrt x), 5e14 at 1e-30."""
    return np.sqrt(x)


def log(x):
    """np.log: derivative 1/x."""
    return np.log(x)


def sum_of_squares(x):
    """sum(x^2): 1e60 at 1e30."""
    return np.sum(x**2)


def unit_vector(x):
    """x / ||x||: scale-invariant, so its Jacobian scales like 1/|x|."""
    return x / np.linalg.norm(x)


def sin(x):
    """np.sin."""
    return np.sin(x)


def tanh(x):
    """np.tanh (saturated at 1e30: derivative exactly 0)."""
    return np.tanh(x)
