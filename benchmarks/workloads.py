"""Benchmark workloads, written once and built for each array library.

The workloads are plain-numpy top-level functions: ``adcheck run benchmarks/workloads.py:NAME``
loads them, and adcheck rebinds ``numpy`` inside this module to autograd's or JAX's wrapper in its
own workers. ``make(xp)`` rebuilds the same code with ``np`` bound to ``xp`` (``autograd.numpy``,
``jax.numpy``) for the peers, so every tool differentiates the same code.
``make_torch(torch)`` is the same arithmetic written with torch operations for
``torch.autograd.gradcheck``.

Every workload takes one flat float64 vector; ``INPUT_SIZES`` says how long it is.
"""

import types

import numpy as np

# The MLP: 10 inputs -> 20 tanh units -> 5 outputs, mean squared error over a fixed batch of 32.
MLP_IN, MLP_HIDDEN, MLP_OUT, MLP_BATCH = 10, 20, 5, 32
MLP_PARAMETERS = MLP_IN * MLP_HIDDEN + MLP_HIDDEN + MLP_HIDDEN * MLP_OUT + MLP_OUT  # 325

# workload name -> length of its input vector
INPUT_SIZES = {
    "loop_cumprod_100": 100,
    "loop_cumprod_1000": 1000,
    "sin_gauss_1000": 1000,
    "mlp_loss": MLP_PARAMETERS,
}
# The smallest workloads: what ``bench.py --quick`` runs.
QUICK = ("loop_cumprod_100", "mlp_loss")


def loop_cumprod_100(x):
    # The Python loop is the point: each element is a separate traced/taped operation.
    acc = 1.0
    out = []
    for el in x:
        acc = acc * el
        out.append(acc)
    return np.array(out)


def loop_cumprod_1000(x):
    acc = 1.0
    out = []
    for el in x:
        acc = acc * el
        out.append(acc)
    return np.array(out)


def sin_gauss_1000(x):
    return np.sin(x) * np.exp(-x**2)


def mlp_loss(params):
    # Deterministic data without a random generator, so every library builds the same batch.
    inputs = np.sin(0.37 * np.arange(MLP_BATCH * MLP_IN, dtype=np.float64)).reshape(MLP_BATCH, MLP_IN)
    targets = np.cos(0.11 * np.arange(MLP_BATCH * MLP_OUT, dtype=np.float64)).reshape(MLP_BATCH, MLP_OUT)
    i = 0
    w1 = params[i : i + MLP_IN * MLP_HIDDEN].reshape(MLP_IN, MLP_HIDDEN)
    i += MLP_IN * MLP_HIDDEN
    b1 = params[i : i + MLP_HIDDEN]
    i += MLP_HIDDEN
    w2 = params[i : i + MLP_HIDDEN * MLP_OUT].reshape(MLP_HIDDEN, MLP_OUT)
    i += MLP_HIDDEN * MLP_OUT
    b2 = params[i : i + MLP_OUT]
    hidden = np.tanh(np.dot(inputs, w1) + b1)
    residual = np.dot(hidden, w2) + b2 - targets
    return np.mean(residual**2)


def make(xp):
    """Every workload with ``np`` rebound to ``xp`` (numpy, autograd.numpy or jax.numpy).

    The functions above are plain top-level ``def``s (adcheck loads and lints them as they are);
    this rebuilds each one with the same code over globals in which ``np`` is ``xp``.
    """
    namespace = {**globals(), "np": xp}
    return {name: types.FunctionType(globals()[name].__code__, namespace, name) for name in INPUT_SIZES}


def make_torch(torch):
    """The same workloads with torch operations (float64 tensors in, tensors out)."""

    def loop_cumprod(x):
        acc = 1.0
        out = []
        for el in x:
            acc = acc * el
            out.append(acc)
        return torch.stack(out)

    def sin_gauss(x):
        return torch.sin(x) * torch.exp(-x**2)

    def mlp_data():
        inputs = torch.sin(0.37 * torch.arange(MLP_BATCH * MLP_IN, dtype=torch.float64)).reshape(MLP_BATCH, MLP_IN)
        targets = torch.cos(0.11 * torch.arange(MLP_BATCH * MLP_OUT, dtype=torch.float64)).reshape(MLP_BATCH, MLP_OUT)
        return inputs, targets

    def mlp_loss(params):
        inputs, targets = mlp_data()
        i = 0
        w1 = params[i : i + MLP_IN * MLP_HIDDEN].reshape(MLP_IN, MLP_HIDDEN)
        i += MLP_IN * MLP_HIDDEN
        b1 = params[i : i + MLP_HIDDEN]
        i += MLP_HIDDEN
        w2 = params[i : i + MLP_HIDDEN * MLP_OUT].reshape(MLP_HIDDEN, MLP_OUT)
        i += MLP_HIDDEN * MLP_OUT
        b2 = params[i : i + MLP_OUT]
        hidden = torch.tanh(inputs @ w1 + b1)
        residual = hidden @ w2 + b2 - targets
        return torch.mean(residual**2)

    return {
        "loop_cumprod_100": loop_cumprod,
        "loop_cumprod_1000": loop_cumprod,
        "sin_gauss_1000": sin_gauss,
        "mlp_loss": mlp_loss,
    }
