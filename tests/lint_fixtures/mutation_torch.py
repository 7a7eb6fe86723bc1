"""ADC104/ADC105 for torch's in-place methods (`x.add_()`), which numpy code does not have."""

import torch


def adds_in_place(x):
    x.add_(1.0)  # expect: ADC104 ADC105
    return x * 2.0


def scales_a_view_in_place(x):
    x[:2].mul_(2.0)  # expect: ADC104 ADC105
    return x


def in_place_on_a_copy(x):
    y = x.clone()
    y.mul_(2.0)  # ok: ADC104 ADC105
    return torch.sum(y)


def writes_into_a_tensor_it_made(x):
    y = torch.zeros_like(x)
    y[0] = x[0] ** 2  # ok: ADC104
    y[1:] = torch.sin(x[1:])  # ok: ADC104
    return y
