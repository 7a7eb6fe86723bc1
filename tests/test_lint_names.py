"""The API name tables against the libraries they describe."""

from adcheck.lint.names import AUTOGRAD_NO_VJP, array_tail, last_part


def test_autograd_no_vjp_list_matches_installed_autograd():
    import autograd.numpy as autograd_numpy
    from autograd.core import primitive_vjps
    from autograd.tracer import notrace_primitives

    nondifferentiable = set().union(*notrace_primitives.values())
    checked = 0
    for name in AUTOGRAD_NO_VJP:
        obj = autograd_numpy
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is None:
            continue  # not in this numpy version
        checked += 1
        assert obj not in primitive_vjps and obj not in nondifferentiable, name
    assert checked > len(AUTOGRAD_NO_VJP) // 2


def test_array_tail_strips_the_longest_array_module():
    assert array_tail("jax.numpy.linalg.norm") == "linalg.norm"
    assert array_tail("torch.nn.functional.relu") == "relu"
    assert array_tail("scipy.special.erf") == "erf"
    assert array_tail("numpy") is None
    assert array_tail("os.getenv") is None
    assert array_tail(None) is None
    assert last_part("linalg.norm") == "norm" and last_part(None) is None
