"""Functions from autograd's own examples (autograd 1.9.1 sdist, ``examples/``), written for autograd.

Each keeps the example's code. The two examples whose parameters are a list or a dictionary,
rebuilt from a flat vector with ``autograd.misc.flatten``, are in ``autograd_flatten_examples.py``:
that module-level flatten cannot run under JAX and would take every function here with it.
"""

import autograd.numpy as np
import autograd.numpy.random as npr
import autograd.scipy.stats.multivariate_normal as mvn
from autograd.scipy.special import gammaln


# --- examples/logistic_regression.py -------------------------------------------------------------

def sigmoid(x):
    return 0.5 * (np.tanh(x) + 1)


def logistic_predictions(weights, inputs):
    # Outputs probability of a label being true according to logistic model.
    return sigmoid(np.dot(inputs, weights))


inputs = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
targets = np.array([True, True, False, True])


def training_loss(weights):
    """autograd examples/logistic_regression.py: negative log-likelihood of a logistic model.

    https://github.com/HIPS/autograd/blob/master/examples/logistic_regression.py
    """
    preds = logistic_predictions(weights, inputs)
    label_probabilities = preds * targets + (1 - preds) * (1 - targets)
    return -np.sum(np.log(label_probabilities))


# --- examples/rosenbrock.py ----------------------------------------------------------------------

def rosenbrock(x):
    """autograd examples/rosenbrock.py (minimised there with value_and_grad and CG).

    https://github.com/HIPS/autograd/blob/master/examples/rosenbrock.py
    """
    return 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2


# --- examples/tanh.py ----------------------------------------------------------------------------

def tanh(x):
    """autograd examples/tanh.py: tanh through exp, differentiated elementwise there (egrad).

    https://github.com/HIPS/autograd/blob/master/examples/tanh.py
    """
    return (1.0 - np.exp(-2 * x)) / (1.0 + np.exp(-(2 * x)))


# --- examples/gaussian_process.py ----------------------------------------------------------------

def rbf_covariance(kernel_params, x, xp):
    output_scale = np.exp(kernel_params[0])
    lengthscales = np.exp(kernel_params[1:])
    diffs = np.expand_dims(x / lengthscales, 1) - np.expand_dims(xp / lengthscales, 0)
    return output_scale * np.exp(-0.5 * np.sum(diffs**2, axis=2))


def _unpack_kernel_params(params):
    mean = params[0]
    cov_params = params[2:]
    noise_scale = np.exp(params[1]) + 0.0001
    return mean, cov_params, noise_scale


def _build_toy_dataset(D=1, n_data=20, noise_std=0.1):
    rs = npr.RandomState(0)
    inputs = np.concatenate([np.linspace(0, 3, num=n_data // 2), np.linspace(6, 8, num=n_data // 2)])
    targets = (np.cos(inputs) + rs.randn(n_data) * noise_std) / 2.0
    inputs = (inputs - 4.0) / 2.0
    inputs = inputs.reshape((len(inputs), D))
    return inputs, targets


GP_X, GP_Y = _build_toy_dataset(D=1)


def gp_log_marginal_likelihood(params):
    """autograd examples/gaussian_process.py: a GP's log marginal likelihood (mvn.logpdf of a
    kernel matrix) on the example's toy data set, as a function of (mean, log noise, kernel).

    https://github.com/HIPS/autograd/blob/master/examples/gaussian_process.py
    """
    mean, cov_params, noise_scale = _unpack_kernel_params(params)
    cov_y_y = rbf_covariance(cov_params, GP_X, GP_X) + noise_scale * np.eye(len(GP_Y))
    prior_mean = mean * np.ones(len(GP_Y))
    return mvn.logpdf(GP_Y, prior_mean, cov_y_y)


# --- examples/ode_net.py -------------------------------------------------------------------------

ODE_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])


def damped_oscillator(y):
    """autograd examples/ode_net.py ``func(y, t0, A)``: the true dynamics, dy/dt = (y**3) A.

    https://github.com/HIPS/autograd/blob/master/examples/ode_net.py
    """
    return np.dot(y**3, ODE_A)


def nn_predict(inputs, t, params):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.maximum(0, outputs)
    return outputs


def init_nn_params(scale, layer_sizes, rs=npr.RandomState(0)):
    """Build a list of (weights, biases) tuples, one for each layer."""
    return [(rs.randn(insize, outsize) * scale, rs.randn(outsize) * scale)
            for insize, outsize in zip(layer_sizes[:-1], layer_sizes[1:])]


ODE_PARAMS = init_nn_params(0.5, [2, 20, 2])


def neural_ode_dynamics(y):
    """autograd examples/ode_net.py ``nn_predict``: a ReLU net as the right-hand side of a neural
    ODE (the example integrates it with odeint), as a function of the state y.

    https://github.com/HIPS/autograd/blob/master/examples/ode_net.py
    """
    return nn_predict(y, 0.0, ODE_PARAMS)


# --- examples/negative_binomial_maxlike.py -------------------------------------------------------

NEGBIN_DATA = np.array([3.0, 0.0, 7.0, 2.0, 11.0, 4.0, 1.0, 6.0])


def negbin_loglike(r, p, x):
    return gammaln(r + x) - gammaln(r) - gammaln(x + 1) + x * np.log(p) + r * np.log(1 - p)


def negbin_total_loglike(r, p):
    """autograd examples/negative_binomial_maxlike.py: the summed negative binomial log
    likelihood (gammaln) that the example maximises with Newton's method, on fixed counts.

    https://github.com/HIPS/autograd/blob/master/examples/negative_binomial_maxlike.py
    """
    return np.sum(negbin_loglike(r, p, NEGBIN_DATA))
