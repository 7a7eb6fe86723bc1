"""ADC501 for torch.autograd.Function subclasses."""

import torch


class Square(torch.autograd.Function):  # expect: ADC501
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**2

    @staticmethod
    def backward(ctx, g):  # expect: ADC501
        (x,) = ctx.saved_tensors
        return 2 * x * g


class Cube(torch.autograd.Function):  # expect: ADC501
    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, g):  # expect: ADC501
        (x,) = ctx.saved_tensors
        return 3 * x**2 * g

    @staticmethod
    def jvp(ctx, t):  # expect: ADC501
        (x,) = ctx.saved_tensors
        return 3 * x**2 * t


def square_sum(x):
    return Square.apply(x).sum()


def plain(x):
    return (x**2).sum()


class NotAFunction:
    def backward(self, g):  # ok: ADC501
        return g
