"""Clean numerical code: no warning or error (info about kinks is allowed)."""

import numpy as np

GRID = np.linspace(0.0, 1.0, 5)
ORDER = 3


class Polynomial:
    def __init__(self, coefficients):
        self.coefficients = coefficients
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        total = 0.0
        for power, c in enumerate(self.coefficients):
            total = total + c * x**power
        return total


def horner(x, coefficients=(1.0, 2.0, 3.0)):
    acc = 0.0
    for c in reversed(coefficients):
        acc = acc * x + c
    return acc


def running_sum(x):
    acc = 0.0
    out = []
    for xi in x:
        acc += xi
        out.append(acc)
    return np.array(out)


def polynomial_value(x):
    p = Polynomial([1.0, -2.0, 0.5])
    return p(x)


def softmax(x):
    z = x - np.max(x)  # expect: ADC301
    e = np.exp(z)
    return e / np.sum(e)


def logsumexp(x):
    m = np.max(x)  # expect: ADC301
    return m + np.log(np.sum(np.exp(x - m)))


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def leaky(x):
    return np.where(x > 0, x, 0.01 * x)


def features(x):
    n = len(x)
    rows = [x * GRID[i] for i in range(n)]
    table = {"sum": np.sum(x), "mean": np.mean(x)}
    stacked = np.stack(rows)
    scaled = stacked * ORDER / n
    return scaled.sum() + table["sum"] * table["mean"]


def smooth_distance(x, y, eps=1e-12):
    return np.sqrt(np.sum((x - y) ** 2) + eps)


def matrix_power(a, k=3):
    result = np.eye(a.shape[0])
    for _ in range(k):
        result = result @ a
    return result


def normalized(x):
    y = x.copy()
    y = y / np.sum(np.abs(y) + 1.0)  # expect: ADC301
    return y
