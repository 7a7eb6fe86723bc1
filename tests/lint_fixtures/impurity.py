"""ADC401-ADC404."""

import functools
import os
import random
import time
from functools import lru_cache
from os import environ

import jax
import jax.numpy as jnp
import numpy as np

RNG = np.random.default_rng(0)
CONFIG = {"scale": 2.0}
SCALE = 3.0
COUNTER = 0
MEMO = {}


def noisy(x):
    return x + np.random.randn(3) + random.random()  # expect: ADC401 ADC401


def generator_draw(x):
    return x + RNG.normal(size=3)  # expect: ADC401


def seeded_locally(x):
    rng = np.random.default_rng(0)  # ok: ADC401
    return x + rng.normal(size=3)


def jax_random_is_pure(x, key):
    return x + jax.random.normal(key, x.shape)  # ok: ADC401


@functools.lru_cache(maxsize=None)  # expect: ADC402
def cached(n):
    return n * 2


@lru_cache  # expect: ADC402
def cached_bare(n):
    return n * 2


def memo(x, key):
    if key in MEMO:  # expect: ADC402
        return MEMO[key]
    MEMO[key] = value = x * 2.0  # expect: ADC103
    return value


def constant_lookup(x, name):
    if name in ("a", "b"):  # ok: ADC402
        return x
    return x * SCALE


@jax.jit
def jitted(x):
    return x * CONFIG["scale"] + SCALE  # expect: ADC403


def bump():
    global COUNTER
    COUNTER += 1  # expect: ADC102


def reads_counter(x):
    return x * COUNTER  # expect: ADC403


jitted_counter = jax.jit(reads_counter)


def not_jitted(x):
    return x * CONFIG["scale"]  # ok: ADC403


def io(x):
    start = time.time()  # expect: ADC404
    scale = float(os.environ.get("SCALE", "1"))  # expect: ADC404
    with open("weights.txt") as handle:  # expect: ADC404
        handle.read()
    print("elapsed", start)
    return x * scale


@jax.jit
def jitted_reads_constant(x):
    return x * SCALE  # ok: ADC403


def memo_get(x, key):
    hit = MEMO.get(key)  # expect: ADC402
    if hit is not None:
        return hit
    return x * 2.0


def config_get(x):
    return x * CONFIG.get("scale", 1.0)  # ok: ADC402


def environment_reads(x):
    scale = float(os.environ["SCALE"])  # expect: ADC404
    offset = float(environ.get("OFFSET", "0"))  # expect: ADC404
    time.sleep(0.0)  # ok: ADC404
    return x * scale + offset
