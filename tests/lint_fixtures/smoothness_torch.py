"""ADC303 for the `.norm()` method of a torch tensor."""

import torch


def distance(x, y):
    return (x - y).norm()  # expect: ADC303


def distance_through_a_name(x, y):
    d = x - y
    return d.norm() + torch.sum(x)  # expect: ADC303


def shifted_norm(x):
    return (x + 1.0).norm()  # ok: ADC303
