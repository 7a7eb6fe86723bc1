"""ADC202 and ADC203 in torch code."""

import torch


def to_numpy(x):
    return x.detach().numpy()  # expect: ADC202 ADC203


def no_grad(x):
    with torch.no_grad():  # expect: ADC203
        y = x * 2.0
    return y + x.data  # expect: ADC203


@torch.no_grad()  # expect: ADC203
def decorated(x):
    return x * 2.0


def differentiable(x):
    y = torch.sin(x) * x
    return torch.sum(y**2) + x.sum()


def frozen_copy(x):
    y = x.clone().requires_grad_(False)  # expect: ADC203
    z = x.clone().requires_grad_(requires_grad=False)  # expect: ADC203
    return x * y * z


def trainable_weights(x):
    w = torch.ones(3).requires_grad_(True)  # ok: ADC203
    v = torch.ones(3).requires_grad_()  # ok: ADC203
    return x * w * v
