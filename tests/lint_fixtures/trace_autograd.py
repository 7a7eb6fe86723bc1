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
