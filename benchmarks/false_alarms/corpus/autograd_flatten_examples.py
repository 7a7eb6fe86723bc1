"""autograd's examples whose parameters are a list or a dictionary (autograd 1.9.1 sdist,
``examples/neural_net.py`` and ``examples/gmm.py``), as functions of the flat vector that
``autograd.misc.flatten`` makes of them, the way the examples' optimisers see them.

``flatten`` is autograd's own code: JAX cannot run it, so only autograd (and FD) check these.
"""

import autograd.numpy as np
import autograd.numpy.random as npr
import autograd.scipy.stats.multivariate_normal as mvn
from autograd.misc.flatten import flatten
from autograd.scipy.special import logsumexp


# --- examples/neural_net.py ----------------------------------------------------------------------

def init_random_params(scale, layer_sizes, rs=npr.RandomState(0)):
    """Build a list of (weights, biases) tuples, one for each layer in the net."""
    return [(scale * rs.randn(m, n), scale * rs.randn(n)) for m, n in zip(layer_sizes[:-1], layer_sizes[1:])]


def neural_net_predict(params, inputs):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs - logsumexp(outputs, axis=1, keepdims=True)


def l2_norm(params):
    flattened, _ = flatten(params)
    return np.dot(flattened, flattened)


def log_posterior(params, inputs, targets, L2_reg):
    log_prior = -L2_reg * l2_norm(params)
    log_lik = np.sum(neural_net_predict(params, inputs) * targets)
    return log_prior + log_lik


_MLP_RS = npr.RandomState(1)
MLP_INPUTS = _MLP_RS.randn(6, 3)
MLP_TARGETS = np.eye(2)[_MLP_RS.randint(0, 2, size=6)]
_, _unflatten_mlp = flatten(init_random_params(0.1, [3, 4, 2]))


def mlp_log_posterior(flat_params):
    """autograd examples/neural_net.py: an MLP classifier's log posterior (tanh layers,
    logsumexp, an L2 prior through autograd.misc.flatten), layers [3, 4, 2] on 6 fixed points;
    26 parameters, unflattened as the example's optimiser does.

    https://github.com/HIPS/autograd/blob/master/examples/neural_net.py
    """
    return log_posterior(_unflatten_mlp(flat_params), MLP_INPUTS, MLP_TARGETS, 1.0)


# --- examples/gmm.py -----------------------------------------------------------------------------

def log_normalize(x):
    return x - logsumexp(x)


def gmm_log_likelihood(params, data):
    cluster_lls = []
    for log_proportion, mean, cov_sqrt in zip(log_normalize(params["log proportions"]), params["means"],
                                              params["lower triangles"]):
        cov = np.dot(cov_sqrt.T, cov_sqrt)
        cluster_lls.append(log_proportion + mvn.logpdf(data, mean, cov))
    return np.sum(logsumexp(np.vstack(cluster_lls), axis=0))


_GMM_RS = npr.RandomState(0)
GMM_DATA = _GMM_RS.randn(12, 2)
_, _unflatten_gmm = flatten({
    "log proportions": np.zeros(3),
    "means": np.zeros((3, 2)),
    "lower triangles": np.zeros((3, 2, 2)),
})


def gmm_flat_log_likelihood(flat_params):
    """autograd examples/gmm.py: a 3-component Gaussian mixture's log likelihood (mvn.logpdf,
    logsumexp over components) on 12 fixed 2-D points; the parameter dict flattened to 21 numbers.

    https://github.com/HIPS/autograd/blob/master/examples/gmm.py
    """
    return gmm_log_likelihood(_unflatten_gmm(flat_params), GMM_DATA)
