"""Checks shared by the layer tests: shape agreement, models batched by vmap, gradients, padding;
the source material's MLP; and a training process killed once it has written its checkpoints."""

import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.test_util import check_grads

import jaxnet as jn
from jaxnet.core import output_shape


def source_mlp(rate=0.2):
    """The source material's MNIST network (the L2 penalty lives in the objective)."""
    return jn.Sequential([
        jn.Dense(512), jn.relu, jn.Dropout(rate),
        jn.Dense(512), jn.BatchNorm(), jn.relu, jn.Dropout(rate),
        jn.Dense(10),
    ])


def random_params(layer, shape, seed=0, scale=0.5):
    """Parameters of the shapes ``layer.init`` gives, every entry random (biases too, so that none
    can hide a mistake), drawn by NumPy so that no initializer compiles."""
    spec = jax.ShapeDtypeStruct(shape, jnp.float32)
    shapes, _ = jax.eval_shape(layer.init, jax.random.key(0), spec)
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), jnp.float32), shapes
    )


def random_normal(shape, seed=1):
    """Standard normal float32 inputs, drawn by NumPy."""
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def assert_shape_agreement(layer, shape, **apply_kwargs):
    """The output shape that init promises (abstractly) is the shape apply returns.

    ``init`` gets only a ``ShapeDtypeStruct``, so this also checks that it reads nothing else.
    Both run compiled: one compilation each instead of one per operation.
    """
    spec = jax.ShapeDtypeStruct(shape, jnp.float32)
    params, state = jax.jit(lambda key: layer.init(key, spec))(jax.random.key(0))
    promised = output_shape(layer, params, state, spec)
    y, new_state = jax.jit(lambda p, s, x: layer.apply(p, s, x, **apply_kwargs))(
        params, state, random_normal(shape)
    )
    assert (y.shape, y.dtype) == (promised.shape, promised.dtype)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    return y


def assert_vmap_over_models_matches_loop(layer, x, models=3):
    """Parameters of several models stacked and vmapped under jit give each model's output."""
    keys = jax.random.split(jax.random.key(0), models)
    stacked, _ = jax.jit(jax.vmap(lambda k: layer.init(k, x)))(keys)
    apply = jax.jit(lambda p: layer.apply(p, {}, x)[0])
    batched = jax.jit(jax.vmap(apply))(stacked)
    for i in range(models):
        params = jax.tree.map(lambda leaf, i=i: leaf[i], stacked)
        np.testing.assert_allclose(batched[i], apply(params), rtol=1e-5, atol=1e-5)


def assert_gradients_match_finite_differences(f, params, x):
    """``f(params, x)``'s derivatives against finite differences, in float64 (tight tolerances).

    ``f`` is compiled once, since the check calls it many times.
    """
    with jax.enable_x64(True):
        params, x = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), (params, x))
        check_grads(jax.jit(f), (params, x), order=1, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


def same_pads(sizes, window, strides):
    """XLA's "SAME": output ceil(size / stride), the extra cell of odd padding at the end."""
    pads = []
    for size, w, s in zip(sizes, window, strides, strict=True):
        total = max((math.ceil(size / s) - 1) * s + w - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def kill_after_checkpoints(script: str, directory: Path, count: int = 2,
                           timeout: float = 180) -> int:
    """Runs ``python -c script`` and kills it with SIGKILL (no chance to clean up) once
    ``directory`` holds ``count`` checkpoints; returns the latest checkpoint's step."""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if directory.exists() and len(jn.checkpoint.Manager(directory).steps()) >= count:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    return jn.checkpoint.Manager(directory).latest_step()
