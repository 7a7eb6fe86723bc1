"""Functions from PyTorch's tutorials and documentation, written for torch.

adcheck runs torch code in float64 (it sets the default dtype before importing this module), so
the module-level parameters below are float64 here; ``torch_float32.py`` has the float32 ones.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)


# --- "Learning PyTorch with Examples": polynomial fit to sin ------------------------------------

POLY_X = torch.linspace(-math.pi, math.pi, 2000)
POLY_Y = torch.sin(POLY_X)


def polynomial_fit_loss(params):
    """The tutorial's loss, sum((a + b x + c x^2 + d x^3 - sin x)^2) over 2000 points, as a
    function of (a, b, c, d).

    https://pytorch.org/tutorials/beginner/pytorch_with_examples.html ("PyTorch: Tensors and autograd")
    """
    a, b, c, d = params[0], params[1], params[2], params[3]
    y_pred = a + b * POLY_X + c * POLY_X**2 + d * POLY_X**3
    return (y_pred - POLY_Y).pow(2).sum()


# --- "Learning PyTorch with Examples": defining new autograd functions ---------------------------

class LegendrePolynomial3(torch.autograd.Function):
    """The tutorial's custom autograd Function P3(x) = (5x^3 - 3x)/2: forward and backward only
    (no jvp, so forward mode cannot run it).

    https://pytorch.org/tutorials/beginner/examples_autograd/polynomial_custom_function.html
    """

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input**3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        (input,) = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input**2 - 1)


def legendre_p3(x):
    """LegendrePolynomial3.apply, elementwise."""
    return LegendrePolynomial3.apply(x)


# --- torch.func tutorial "Jacobians, Hessians, hvp, vhp, and more" -------------------------------

D = 16
PREDICT_WEIGHT = torch.randn(D, D)
PREDICT_BIAS = torch.randn(D)


def predict(x):
    """The tutorial's ``predict(weight, bias, x) = F.linear(x, weight, bias).tanh()``, D = 16,
    as a function of the feature vector x (the tutorial's jacrev example).

    https://pytorch.org/tutorials/intermediate/jacobians_hessians.html
    """
    return F.linear(x, PREDICT_WEIGHT, PREDICT_BIAS).tanh()


# --- nn.Module instances -------------------------------------------------------------------------

model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
"""A module-level nn.Sequential MLP (the "PyTorch: nn" tutorial's pattern), called on a batch.
https://pytorch.org/tutorials/beginner/pytorch_with_examples.html ("PyTorch: nn")"""


CE_TARGETS = torch.tensor([0, 2, 1, 1])


def cross_entropy(logits):
    """F.cross_entropy (log_softmax + nll_loss, mean reduction) on a batch of 4 with 3 classes.

    https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html
    """
    return F.cross_entropy(logits, CE_TARGETS)


SMOOTH_TARGETS = torch.tensor([0.5, -1.0, 2.5, 0.0, 3.0, -0.3])


def smooth_l1(predictions):
    """F.smooth_l1_loss (Huber with beta = 1), reduction='none'.

    https://pytorch.org/docs/stable/generated/torch.nn.functional.smooth_l1_loss.html
    """
    return F.smooth_l1_loss(predictions, SMOOTH_TARGETS, reduction="none")


def softplus_logsumexp(x):
    """F.softplus and torch.logsumexp, two stabilised library formulas, together."""
    return torch.logsumexp(F.softplus(x), dim=0)
