"""200x200 linear solves in numpy, dense and banded (the banded ones through np.linalg.solve on a
matrix built with np.diag, without scipy.linalg.solve_banded).

The banded matrix is the natural cubic spline system (diagonal 4, off-diagonals 1; e.g. Numerical
Recipes 3rd ed., section 3.3, and https://en.wikipedia.org/wiki/Spline_interpolation): diagonally
dominant, so its inverse decays geometrically away from the diagonal, 0.268^|i-j|, down to 1e-16
and below within about 30 entries. Most of the Jacobian is such tiny-but-nonzero entries.
The Thomas algorithm version follows https://en.wikipedia.org/wiki/Tridiagonal_matrix_algorithm,
written with lists so that it runs without in-place writes.
"""

import numpy as np

N = 200
_rs = np.random.RandomState(0)
DENSE = _rs.randn(N, N) / np.sqrt(N) + 2.0 * np.eye(N)
SPLINE = 4.0 * np.eye(N) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1)
PENTA = (6.0 * np.eye(N) - 1.5 * (np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1))
         + 0.5 * (np.diag(np.ones(N - 2), 2) + np.diag(np.ones(N - 2), -2)))
RHS = np.sin(np.linspace(0.0, 3.0, N))


def dense_solve(b):
    """x = A^-1 b for a fixed well-conditioned dense 200x200 A; Jacobian A^-1."""
    return np.linalg.solve(DENSE, b)


def spline_solve(b):
    """x = T^-1 b, T the 200x200 cubic spline matrix; Jacobian T^-1 (mostly tiny entries)."""
    return np.linalg.solve(SPLINE, b)


def pentadiagonal_solve(b):
    """x = P^-1 b for a pentadiagonal (bandwidth 2) 200x200 matrix."""
    return np.linalg.solve(PENTA, b)


def spline_solve_wrt_diagonal(d):
    """x(d) = (diag(4 + d/2) + offdiag)^-1 rhs, as a function of the diagonal's deviation d."""
    A = np.diag(4.0 + 0.5 * d) + np.diag(np.ones(N - 1), 1) + np.diag(np.ones(N - 1), -1)
    return np.linalg.solve(A, RHS)


def thomas_solve(d):
    """The Thomas algorithm on the spline system (a = c = 1, b = 4), right-hand side d, with
    Python lists instead of in-place array writes."""
    n = d.shape[0]
    c_prime = [1.0 / 4.0]
    d_prime = [d[0] / 4.0]
    for i in range(1, n):
        denom = 4.0 - c_prime[i - 1]
        c_prime.append(1.0 / denom)
        d_prime.append((d[i] - d_prime[i - 1]) / denom)
    x = [d_prime[n - 1]]
    for i in range(n - 2, -1, -1):
        x.append(d_prime[i] - c_prime[i] * x[-1])
    return np.stack(x[::-1])
