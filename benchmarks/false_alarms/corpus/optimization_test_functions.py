"""scipy.optimize's Rosenbrock functions and the classic optimisation test functions, in numpy.

``rosen``/``rosen_der``/``rosen_hess_prod`` are scipy's code (scipy/optimize/_optimize.py,
https://github.com/scipy/scipy/blob/main/scipy/optimize/_optimize.py), restated here as module
functions of the user's own; ``rosen_der`` keeps scipy's in-place slice writes. The others follow
the definitions in https://en.wikipedia.org/wiki/Test_functions_for_optimization (and Surjanovic &
Bingham's Virtual Library of Simulation Experiments, https://www.sfu.ca/~ssurjano/optimization.html).
"""

import numpy as np


def rosen(x):
    """scipy.optimize.rosen."""
    x = np.asarray(x)
    r = np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0, axis=0)
    return r


def rosen_der(x):
    """scipy.optimize.rosen_der: builds the gradient with in-place slice writes into zeros_like."""
    x = np.asarray(x)
    xm = x[1:-1]
    xm_m1 = x[:-2]
    xm_p1 = x[2:]
    der = np.zeros_like(x)
    der[1:-1] = (200 * (xm - xm_m1**2) - 400 * (xm_p1 - xm**2) * xm - 2 * (1 - xm))
    der[0] = -400 * x[0] * (x[1] - x[0] ** 2) - 2 * (1 - x[0])
    der[-1] = 200 * (x[-1] - x[-2] ** 2)
    return der


def rosen_hess_prod(x, p):
    """scipy.optimize.rosen_hess_prod (in-place slice writes too), as a function of x and p."""
    x = np.atleast_1d(x)
    Hp = np.zeros(len(x), dtype=x.dtype)
    Hp[0] = (1200 * x[0] ** 2 - 400 * x[1] + 2) * p[0] - 400 * x[0] * p[1]
    Hp[1:-1] = (-400 * x[:-2] * p[:-2]
                + (202 + 1200 * x[1:-1] ** 2 - 400 * x[2:]) * p[1:-1]
                - 400 * x[1:-1] * p[2:])
    Hp[-1] = -400 * x[-2] * p[-2] + 200 * p[-1]
    return Hp


def himmelblau(v):
    """Himmelblau's function, (x^2 + y - 11)^2 + (x + y^2 - 7)^2."""
    x, y = v[0], v[1]
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def beale(v):
    """Beale's function."""
    x, y = v[0], v[1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def booth(v):
    """Booth's function."""
    x, y = v[0], v[1]
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def matyas(v):
    """Matyas function (its gradient is tiny near the origin)."""
    x, y = v[0], v[1]
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def three_hump_camel(v):
    """Three-hump camel function."""
    x, y = v[0], v[1]
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def goldstein_price(v):
    """Goldstein-Price function (values around 1e3-1e5 at ordinary points)."""
    x, y = v[0], v[1]
    a = 1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)
    b = 30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
    return a * b


def mccormick(v):
    """McCormick function."""
    x, y = v[0], v[1]
    return np.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1


def styblinski_tang(x):
    """Styblinski-Tang function, n-dimensional."""
    return np.sum(x**4 - 16 * x**2 + 5 * x) / 2


def rastrigin(x, A=10.0):
    """Rastrigin function, n-dimensional."""
    return A * len(x) + np.sum(x**2 - A * np.cos(2 * np.pi * x))


def ackley(v):
    """Ackley function (2-D); smooth away from the origin."""
    x, y = v[0], v[1]
    return (-20 * np.exp(-0.2 * np.sqrt(0.5 * (x**2 + y**2)))
            - np.exp(0.5 * (np.cos(2 * np.pi * x) + np.cos(2 * np.pi * y))) + np.e + 20)
