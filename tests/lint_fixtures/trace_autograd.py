"""ADC201 and ADC204 in autograd code."""

import math

import autograd.numpy as np
import numpy as onp


def to_python(x):
    s = float(np.sum(x))  # expect: ADC201
    n = int(x.shape[0])  # ok: ADC201
    first = x[0].item()  # expect: ADC201
    values = x.tolist()  # expect: ADC201
    m = math.exp(s)  # expect: ADC201
    return s * n * first * m + len(values)


def real_numpy(x):
    return np.sum(onp.sin(x))  # expect: ADC204


def no_vjp(x):
    return np.cumprod(x) + np.nansum(x)  # expect: ADC204 ADC204


def wrapped_functions_are_fine(x):
    y = np.exp(x) * np.sin(x) + np.tanh(x)  # ok: ADC204
    z = np.concatenate([y, np.sqrt(x**2 + 1.0)])
    scale = onp.pi * onp.ones(3)  # ok: ADC204
    return np.sum(z) + np.mean(y) + np.dot(y, x) + np.sum(scale)


def plain_numpy_beside_autograd_code(x):
    # Nothing of autograd reached: numpy code, which adcheck rebinds to autograd.numpy (traced).
    return onp.sum(onp.sin(x) * 2.0)  # ok: ADC204


def plain_helper(x):
    return onp.cos(x)  # expect: ADC204 (reached from autograd code below, where it is the real numpy)


def autograd_code_calling_the_helper(x):
    return np.sum(plain_helper(x))
