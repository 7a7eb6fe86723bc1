"""ADC501 for autograd: a primitive with defvjp, another with only defjvp."""

import autograd.numpy as np
from autograd.extend import defjvp, defvjp, primitive


@primitive  # expect: ADC501
def my_exp(x):
    return np.exp(x)


defvjp(my_exp, lambda ans, x: lambda g: g * ans)  # expect: ADC501


@primitive  # expect: ADC501
def my_cube(x):
    return x**3


defjvp(my_cube, lambda g, ans, x: 3 * x**2 * g)  # expect: ADC501


def exp_sum(x):
    return np.sum(my_exp(x))


def plain(x):
    return np.sum(np.exp(x))
