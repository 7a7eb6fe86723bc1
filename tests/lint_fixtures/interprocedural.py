"""Calls are followed into functions, classes and methods of the same file."""

import numpy as np

HISTORY = []


class Tracker:
    def __init__(self):
        self.values = []

    def record(self, value):
        self.values.append(value)
        HISTORY.append(value)  # expect: ADC103
        return value


def helper(v):
    return np.random.randn() * v  # expect: ADC401


def fill(out, v):
    out[0] = v  # expect: ADC104 ADC105
    return out


def uses_helper(x):
    return helper(x)


def uses_tracker(x):
    tracker = Tracker()
    return tracker.record(x)


def uses_fill(x):
    buffer = np.zeros(3)
    return fill(buffer, x[0])


def mutates_through_helper(x):
    return fill(x, 1.0)


def pure(x):
    return np.sum(x**2)
