"""Cancellation-heavy formulas, each written naively and, where it has one, correctly.

Sources: Goldberg, "What Every Computer Scientist Should Know About Floating-Point Arithmetic"
(ACM Computing Surveys 23(1), 1991: log(1+x), 1 - cos x); Higham, "Accuracy and Stability of
Numerical Algorithms" (2002), ch. 1.14 (expm1) and 1.9 (variance); numpy's docs for log1p/expm1;
https://en.wikipedia.org/wiki/Algorithms_for_calculating_variance ("Naive algorithm").
Every function here is correct code: its derivative is the derivative of what it computes.
"""

import numpy as np


def log1p_naive(x):
    """log(1 + x), losing digits for |x| << 1."""
    return np.log(1 + x)


def log1p_correct(x):
    """np.log1p."""
    return np.log1p(x)


def expm1_naive(x):
    """exp(x) - 1, losing digits for |x| << 1."""
    return np.exp(x) - 1


def expm1_correct(x):
    """np.expm1."""
    return np.expm1(x)


def one_minus_cos_over_x2_naive(x):
    """(1 - cos x) / x^2, which tends to 1/2; cancels catastrophically for small x."""
    return (1 - np.cos(x)) / x**2


def one_minus_cos_over_x2_stable(x):
    """The same through the half-angle identity, 2 sin^2(x/2) / x^2."""
    return 2 * (np.sin(x / 2) / x) ** 2


def variance_naive(x):
    """E[x^2] - E[x]^2: cancels when the mean is large next to the spread."""
    return np.mean(x**2) - np.mean(x) ** 2


def variance_two_pass(x):
    """The two-pass variance, mean((x - mean(x))^2)."""
    return np.mean((x - np.mean(x)) ** 2)


def softplus_naive(x):
    """log(1 + exp(x)), the textbook softplus."""
    return np.log(1 + np.exp(x))
