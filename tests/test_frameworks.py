"""The set-up every JAX worker applies (adcheck/frameworks.py), in a fresh interpreter each: it
changes JAX process-wide, which the test session must not inherit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO

SHARED_CONTEXTS = textwrap.dedent('''
    import jax
    import jax.numpy as jnp
    from jax._src.interpreters import mlir

    from adcheck import frameworks

    original = mlir.make_ir_context
    frameworks.MLIR_CONTEXT_USES = 3
    frameworks.configure_jax()

    # Lowerings share a context, and a fresh one follows every MLIR_CONTEXT_USES of them.
    contexts = [mlir.make_ir_context() for _ in range(7)]
    assert contexts[0] is contexts[1] is contexts[2]
    assert contexts[3] is not contexts[2] and contexts[3] is contexts[4] is contexts[5]
    assert contexts[6] is not contexts[5]
    frameworks.configure_jax()  # a second set-up (a warm worker's next task) wraps nothing twice
    assert mlir.make_ir_context.__adcheck__ and mlir.make_ir_context()

    def f(x, k):
        return jnp.sum(jnp.sin(x) * jnp.exp(-k * x ** 2))

    x = jnp.linspace(-1.0, 2.0, 5)
    # Many lowerings in turn (each k is a new program, each eager op too): the same IR as JAX's
    # own contexts give, and the same derivatives.
    shared = [(jax.jit(f, static_argnums=1).lower(x, k).as_text(), jax.grad(f)(x, float(k))) for k in range(8)]
    mlir.make_ir_context = original
    own = [(jax.jit(f, static_argnums=1).lower(x, k).as_text(), jax.grad(f)(x, float(k))) for k in range(8)]
    for (text, grad), (own_text, own_grad) in zip(shared, own):
        assert text == own_text
        assert (grad == own_grad).all()
    print("ok")
''')


def test_jax_lowerings_share_an_mlir_context_renewed_after_a_bound_and_lower_the_same_ir():
    done = subprocess.run([sys.executable, "-c", SHARED_CONTEXTS], capture_output=True, text=True, cwd=REPO,
                          timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
