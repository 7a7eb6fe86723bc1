"""The accumulator pattern: fine when the accumulator is created in the call, not when it is shared."""

import numpy as np


class Accu:
    def __init__(self, a):
        self.a = a

    def __call__(self, arg):
        self.a *= arg  # expect: ADC101
        return self.a


def ac_cumprod(x):
    acc = Accu(1.0)
    return np.array([acc(el) for el in x])


ACC = Accu(1.0)


def shared_cumprod(x):
    return np.array([ACC(el) for el in x])


def loop_cumprod(x):
    acc = 1.0
    out = []
    for el in x:
        acc = acc * el
        out.append(acc)
    return np.array(out)
